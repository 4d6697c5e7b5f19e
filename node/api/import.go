package api

import (
	"fmt"
	"io"
	"mime/multipart"

	"github.com/cxnet/cxnet/ingest"
	"github.com/cxnet/cxnet/kpi"
	"github.com/cxnet/cxnet/node/client"
)

// maxMappingBytes bounds a FHIR mapping file.
const maxMappingBytes = 1 << 20

// partSource reads the records of a multipart import body: the optional
// mapping part first, then each file part in turn, streamed.
type partSource struct {
	mr      *multipart.Reader
	format  string
	opt     ingest.Options
	mapping *ingest.Mapping

	cur      ingest.Reader
	part     *multipart.Part
	files    []string
	fhir     []*ingest.FHIRReader
	finished bool
}

func (s *partSource) Next(rec *kpi.Record) error {
	for {
		if s.cur != nil {
			err := s.cur.Next(rec)
			if err != io.EOF {
				return err
			}
			s.part.Close()
			s.cur, s.part = nil, nil
		}
		if s.finished {
			return io.EOF
		}
		if err := s.nextPart(); err != nil {
			return err
		}
	}
}

func (s *partSource) nextPart() error {
	p, err := s.mr.NextPart()
	if err == io.EOF {
		s.finished = true
		if len(s.files) == 0 {
			return inputError{"import: no file given"}
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("import: read request: %w", err)
	}
	switch p.FormName() {
	case client.PartMap:
		b, err := io.ReadAll(io.LimitReader(p, maxMappingBytes+1))
		if err != nil {
			return fmt.Errorf("import: read mapping: %w", err)
		}
		name := p.FileName()
		if len(b) > maxMappingBytes {
			return inputError{fmt.Sprintf("%s: mapping file is larger than %d bytes", name, maxMappingBytes)}
		}
		if s.mapping, err = ingest.ParseMapping(b, name); err != nil {
			return err
		}
		return nil
	case client.PartFile:
		name := p.FileName()
		format, err := fileFormat(s.format, name)
		if err != nil {
			return err
		}
		s.files = append(s.files, name)
		s.part = p
		if format == "csv" {
			s.cur = ingest.NewCSVReader(p, name, s.opt)
		} else {
			fr := ingest.NewFHIRReader(p, name, s.mapping, s.opt)
			s.fhir = append(s.fhir, fr)
			s.cur = fr
		}
		return nil
	default:
		return inputError{fmt.Sprintf("import: unexpected part %q", p.FormName())}
	}
}

// skipped adds up what the FHIR readers skipped, by reason.
func (s *partSource) skipped() map[string]int64 {
	return s.sum((*ingest.FHIRReader).Skipped)
}

// notes adds up what the FHIR readers noticed but imported anyway (a drug
// without a class, a response with no mapped item).
func (s *partSource) notes() map[string]int64 {
	return s.sum((*ingest.FHIRReader).Notes)
}

func (s *partSource) sum(counts func(*ingest.FHIRReader) map[string]int64) map[string]int64 {
	out := map[string]int64{}
	for _, r := range s.fhir {
		for k, v := range counts(r) {
			out[k] += v
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

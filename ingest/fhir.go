package ingest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"

	"github.com/cxnet/cxnet/kpi"
)

// FHIRReader reads FHIR R4 JSON: NDJSON (one resource per line), a Bundle
// of any type (its entries are streamed one by one), or a single resource,
// pretty-printed or not. More generally it reads any sequence of JSON
// objects separated by white space, each a resource or a Bundle.
//
// QuestionnaireResponse items become records through the Mapping;
// MedicationDispense resources become dispense.days_supply records. Other
// resource types fail, or with Options.SkipUnknown are skipped and counted.
type FHIRReader struct {
	file string
	opt  Options
	max  int
	m    *Mapping
	ix   *mapIndex

	src   *trackReader
	dec   *json.Decoder
	state fhirState
	value int64     // top-level values started
	obj   topObject // the top-level object being read
	entry int64     // entries of the current Bundle started

	pending []kpi.Record // records of the last resource not yet returned
	next    int

	skipped map[string]int64
	notes   map[string]int64
	zones   zoneCache
	err     error // sticky
}

type fhirState int

const (
	stStart   fhirState = iota // nothing read yet
	stTop                      // between top-level values
	stObject                   // among the keys of a top-level object
	stEntries                  // among the entries of a Bundle
	stDone
)

// topObject is what is known of the top-level object being read.
type topObject struct {
	start   int64 // stream offset of its '{'
	line    int64
	rtype   string
	hasType bool
	bundle  bool  // its entry list is being or has been streamed
	full    int64 // entries with a resource
	empty   int64 // entries without one
}

// NewFHIRReader returns a reader of FHIR R4 JSON from r. file names the
// source in error messages. m may be nil: then MedicationDispense
// resources have no drug_class and a QuestionnaireResponse is an error
// saying that a mapping is needed. It does no I/O until the first Next.
func NewFHIRReader(r io.Reader, file string, m *Mapping, opt Options) *FHIRReader {
	max := opt.MaxLineBytes
	if max <= 0 {
		max = defaultFHIRMax
	}
	return &FHIRReader{
		file:    file,
		opt:     opt,
		max:     max,
		m:       m,
		ix:      newMapIndex(m),
		src:     &trackReader{r: bufio.NewReaderSize(r, readChunk), baseLine: 1, limit: int64(max)},
		skipped: map[string]int64{},
		notes:   map[string]int64{},
	}
}

// Skipped returns how many resources were skipped, by reason:
// "resourceType Patient", "MedicationDispense status cancelled",
// "QuestionnaireResponse status in-progress", "QuestionnaireResponse for
// another questionnaire", "Bundle entry without resource".
func (r *FHIRReader) Skipped() map[string]int64 { return maps.Clone(r.skipped) }

// Notes returns counts of things worth telling the user about records that
// were read nonetheless: "MedicationDispense drug without class",
// "QuestionnaireResponse with no mapped item answered".
func (r *FHIRReader) Notes() map[string]int64 { return maps.Clone(r.notes) }

// Next reads the next record into rec. It returns io.EOF after the last
// record and an *kpi.InputError for bad input; after an error it keeps returning
// that error.
func (r *FHIRReader) Next(rec *kpi.Record) error {
	for {
		if r.next < len(r.pending) {
			*rec = r.pending[r.next]
			r.pending[r.next] = kpi.Record{}
			r.next++
			return nil
		}
		r.pending, r.next = r.pending[:0], 0
		if r.err != nil {
			return r.err
		}
		if err := r.step(); err != nil {
			r.err = err
		}
	}
}

// step reads one unit of input: a key of a top-level object, a Bundle
// entry, or the start or end of a value. It may queue records in pending.
func (r *FHIRReader) step() error {
	switch r.state {
	case stStart:
		if err := r.begin(); err != nil {
			return err
		}
		r.state = stTop
		return nil
	case stTop:
		return r.stepTop()
	case stObject:
		return r.stepObject()
	case stEntries:
		return r.stepEntry()
	}
	return io.EOF
}

// begin skips a UTF-8 byte order mark and starts the decoder.
func (r *FHIRReader) begin() error {
	b, err := r.src.r.Peek(3)
	if err != nil && err != io.EOF && len(b) < 3 {
		return &kpi.InputError{Pos: kpi.Position{File: r.file}, Msg: "cannot read the file: " + err.Error(), Err: err}
	}
	switch {
	case bytes.HasPrefix(b, []byte("\xef\xbb\xbf")):
		_, _ = r.src.r.Discard(3)
		r.src.baseCol = 3
	case bytes.HasPrefix(b, []byte{0xff, 0xfe}), bytes.HasPrefix(b, []byte{0xfe, 0xff}):
		return &kpi.InputError{Pos: kpi.Position{File: r.file, Line: 1}, Msg: "the file is UTF-16 text", Hint: "save it as UTF-8"}
	}
	r.dec = json.NewDecoder(r.src)
	r.dec.UseNumber()
	return nil
}

func (r *FHIRReader) stepTop() error {
	if !r.dec.More() {
		tok, err := r.dec.Token()
		switch {
		case err == nil:
			return &kpi.InputError{Pos: kpi.Position{File: r.file, Line: r.src.lineAt(r.dec.InputOffset())},
				Msg: "unexpected " + tokenName(tok) + " after the last resource", Hint: "check the JSON syntax"}
		case err != io.EOF:
			return r.streamErr(err)
		}
		r.state = stDone
		return io.EOF
	}
	r.value++
	start := r.dec.InputOffset() // More has skipped white space
	r.src.drop(start)
	line := r.src.baseLine
	tok, err := r.dec.Token()
	if err != nil {
		return r.streamErr(err)
	}
	if tok != json.Delim('{') {
		hint := "each resource must be a JSON object with a resourceType"
		if tok == json.Delim('[') {
			hint = "a JSON list of resources is not read: write NDJSON (one resource per line) or a Bundle"
		}
		return &kpi.InputError{Pos: kpi.Position{File: r.file, Line: line, Record: r.value},
			Msg: "expected a JSON object (a FHIR resource), found " + tokenName(tok), Hint: hint}
	}
	r.obj = topObject{start: start, line: line}
	r.entry = 0
	r.state = stObject
	return nil
}

func (r *FHIRReader) stepObject() error {
	if !r.dec.More() {
		if _, err := r.dec.Token(); err != nil { // the closing '}'
			return r.streamErr(err)
		}
		r.state = stTop
		return r.finishObject(r.dec.InputOffset())
	}
	tok, err := r.dec.Token()
	if err != nil {
		return r.streamErr(err)
	}
	key, _ := tok.(string)
	switch {
	case key == "resourceType":
		var raw json.RawMessage
		if err := r.dec.Decode(&raw); err != nil {
			return r.streamErr(err)
		}
		if err := json.Unmarshal(raw, &r.obj.rtype); err != nil {
			return &kpi.InputError{Pos: r.objPos(), Field: "resourceType", Msg: "must be a string, like \"QuestionnaireResponse\""}
		}
		r.obj.hasType = true
	case key == "entry" && (!r.obj.hasType || r.obj.rtype == "Bundle"):
		tok, err := r.dec.Token()
		if err != nil {
			return r.streamErr(err)
		}
		switch tok {
		case json.Delim('['):
			r.obj.bundle = true
			r.state = stEntries
		case json.Delim('{'):
			return &kpi.InputError{Pos: r.objPos(), Field: "entry", Msg: "is an object", Hint: "a Bundle's entry must be a list of entries"}
		}
	default:
		var v skipValue
		if err := r.dec.Decode(&v); err != nil {
			return r.streamErr(err)
		}
	}
	return nil
}

func (r *FHIRReader) stepEntry() error {
	if !r.dec.More() {
		if _, err := r.dec.Token(); err != nil { // the closing ']'
			return r.streamErr(err)
		}
		r.state = stObject
		return nil
	}
	r.entry++
	// Forget what came before this entry. The decoder may not have read
	// up to the entry's first byte yet, so its line is known only once the
	// entry has been read, from its end and length.
	r.src.drop(r.dec.InputOffset())
	var raw json.RawMessage
	if err := r.dec.Decode(&raw); err != nil {
		return r.streamErr(err)
	}
	end := r.dec.InputOffset()
	pos := kpi.Position{File: r.file, Line: r.src.lineAt(end - int64(len(raw))), Record: r.entry}
	if len(raw) > r.max {
		return r.tooLong(pos)
	}
	field := fmt.Sprintf("entry[%d]", r.entry-1)
	var e struct {
		Resource json.RawMessage `json:"resource"`
	}
	if err := json.Unmarshal(raw, &e); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return &kpi.InputError{Pos: pos, Field: joinField(field, te.Field), Msg: typeMsg(te), Hint: "a Bundle entry is an object with the resource under \"resource\""}
		}
		return &kpi.InputError{Pos: pos, Field: field, Msg: "cannot decode: " + err.Error()}
	}
	if isNull(e.Resource) {
		r.obj.empty++
		return nil
	}
	r.obj.full++
	return r.resource(e.Resource, pos, field+".resource", 0)
}

// finishObject handles a top-level object that ended at stream offset end.
func (r *FHIRReader) finishObject(end int64) error {
	o := r.obj
	pos := r.objPos()
	if o.bundle {
		if o.hasType && o.rtype != "Bundle" {
			if o.full > 0 {
				return &kpi.InputError{Pos: pos, Field: "resourceType", Msg: quote(o.rtype) + " has entries with resources",
					Hint: "only a Bundle holds resources in entry[].resource"}
			}
			return r.unknown(o.rtype, resCtx{pos: pos})
		}
		if o.empty > 0 {
			r.count(r.skipped, "Bundle entry without resource", o.empty)
		}
		return nil
	}
	raw, ok := r.src.slice(o.start, end)
	if !ok || end-o.start > int64(r.max) {
		return r.tooLong(pos)
	}
	return r.resource(raw, pos, "", 0)
}

// objPos is the position of the current top-level object.
func (r *FHIRReader) objPos() kpi.Position {
	return kpi.Position{File: r.file, Line: r.obj.line, Record: r.value}
}

func (r *FHIRReader) tooLong(pos kpi.Position) error {
	return &kpi.InputError{Pos: pos, Msg: fmt.Sprintf("the resource is longer than the limit of %s", sizeText(r.max)),
		Hint: "split the file, e.g. into NDJSON with one resource per line"}
}

// streamErr turns an error from the decoder into an *kpi.InputError. Its line does
// not depend on how much input happened to be read ahead.
func (r *FHIRReader) streamErr(err error) error {
	rec := r.value
	if r.state == stEntries {
		rec = r.entry
	}
	pos := kpi.Position{File: r.file, Line: r.src.baseLine, Record: rec}
	// valueLine is the line where the value being read starts: the first
	// byte after base that is not white space or a separator, looking no
	// further than limit (up to where input has surely been read).
	valueLine := func(limit int64) int64 {
		return r.src.lineAt(min(r.src.valueStart(r.src.base), limit))
	}
	var be *binaryError
	var se *json.SyntaxError
	switch {
	case errors.As(err, &be):
		pos.Line = be.line
		e := &kpi.InputError{Pos: pos, Msg: fmt.Sprintf("binary data (byte 0x%02x at column %d): is this a FHIR JSON file?", be.b, be.col)}
		if be.b == 0x1f {
			e.Hint = "compressed files must be decompressed first"
		}
		return e
	case errors.Is(err, errTooLong):
		pos.Line = valueLine(r.src.base + int64(r.max))
		return r.tooLong(pos)
	case err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF):
		pos.Line = valueLine(math.MaxInt64)
		return &kpi.InputError{Pos: pos, Msg: "the JSON ends in the middle of a resource", Hint: "is the file complete?"}
	case errors.As(err, &se):
		// The decoder's own structural errors are at its input offset;
		// errors inside a value carry an offset that is not absolute, so
		// the value is scanned again to find the offending byte.
		off := r.dec.InputOffset()
		if se.Offset != off {
			off = r.src.syntaxOffset(off)
		}
		start := valueLine(off)
		pos.Line = r.src.lineAt(off)
		msg := "not valid JSON: " + se.Error()
		if start != pos.Line {
			msg += fmt.Sprintf(" (in the value starting on line %d)", start)
		}
		return &kpi.InputError{Pos: pos, Msg: msg,
			Hint: "NDJSON has one complete resource per line; a Bundle or a single resource is one JSON object"}
	}
	return &kpi.InputError{Pos: pos, Msg: "cannot read the file: " + err.Error(), Err: err}
}

// count adds n to m[key], folding rare keys once m is large so that odd
// input cannot grow it without bound.
func (r *FHIRReader) count(m map[string]int64, key string, n int64) {
	if _, ok := m[key]; !ok && (len(m) >= 256 || len(key) > 100) {
		key = "other"
	}
	m[key] += n
}

func tokenName(tok json.Token) string {
	switch v := tok.(type) {
	case json.Delim:
		if v == '[' {
			return "a list"
		}
		return string(v)
	case string:
		return "a string"
	case bool:
		return "true or false"
	case nil:
		return "null"
	}
	return "a number"
}

func isNull(raw json.RawMessage) bool {
	return len(raw) == 0 || string(raw) == "null"
}

func joinField(prefix, name string) string {
	switch {
	case prefix == "":
		return name
	case name == "":
		return prefix
	}
	return prefix + "." + name
}

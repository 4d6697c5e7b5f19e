package ingest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/cxnet/cxnet/kpi"
)

// addSeeds adds the files matching pattern to the fuzz corpus.
func addSeeds(f *testing.F, patterns ...string) {
	for _, pattern := range patterns {
		files, _ := filepath.Glob(pattern)
		for _, name := range files {
			b, err := os.ReadFile(name)
			if err == nil && len(b) < 64<<10 {
				f.Add(b)
			}
		}
	}
}

// outcome reads everything and renders the records and the final error,
// checking the invariants every reader keeps.
func outcome(t *testing.T, r Reader, file string) string {
	var b strings.Builder
	for n := 0; ; n++ {
		if n > 1_000_000 {
			t.Fatal("reader does not end")
		}
		var rec kpi.Record
		err := r.Next(&rec)
		if err == io.EOF {
			if err2 := r.Next(&rec); err2 != io.EOF {
				t.Fatalf("Next after io.EOF = %v", err2)
			}
			return b.String()
		}
		if err != nil {
			var e *kpi.InputError
			if !errors.As(err, &e) {
				t.Fatalf("error %v is %T, not *kpi.InputError", err, err)
			}
			if e.Pos.File != file {
				t.Fatalf("error %v names file %q, want %q", err, e.Pos.File, file)
			}
			if e.Pos.Line <= 0 && e.Err == nil {
				t.Fatalf("error %v has no line", err)
			}
			b.WriteString("error: " + err.Error())
			return b.String()
		}
		if err := rec.Check(); err != nil {
			t.Fatalf("record %+v breaks the record rules: %v", rec, err)
		}
		if rec.Pos.File != file || rec.Pos.Line <= 0 {
			t.Fatalf("record %+v lacks a position", rec)
		}
		fmt.Fprintf(&b, "%s %s %s\n", recString(rec), rec.Time.Format("2006-01-02T15:04:05.999999999Z07:00"), rec.Dims)
	}
}

func FuzzCSVReader(f *testing.F) {
	addSeeds(f, "testdata/*.csv")
	f.Add(benchCSV(20))
	f.Add([]byte(hdr + "r1,s1,nps,1,2026-01-01,\"a\"\"b\nc\"\r\n"))
	f.Add([]byte("\xef\xbb\xbfrecord_id,subject,measure,value,time\r\nr1,s,m,1e3,2026-02-28T23:59:59.5-01:00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, line := range bytes.Split(data, []byte{'\n'}) {
			checkSplit(t, line)
		}
		opt := Options{MaxLineBytes: 256}
		whole := outcome(t, NewCSVReader(bytes.NewReader(data), "fuzz.csv", opt), "fuzz.csv")
		bytewise := outcome(t, NewCSVReader(iotest.OneByteReader(bytes.NewReader(data)), "fuzz.csv", opt), "fuzz.csv")
		if whole != bytewise {
			t.Fatalf("results depend on read sizes:\nwhole:\n%s\none byte at a time:\n%s", whole, bytewise)
		}
	})
}

func FuzzFHIRReader(f *testing.F) {
	addSeeds(f, "testdata/*.json", "testdata/*.ndjson", filepath.Join(sharedData, "fhir_r4_spec_examples", "*Dispense*.json"),
		filepath.Join(sharedData, "fhir_r4_spec_examples", "QuestionnaireResponse-*.json"))
	f.Add([]byte(qrHead + `"item":[{"linkId":"q2","answer":[{"valueCoding":{"code":"x","display":"Yes"}}]}]}`))
	f.Add([]byte(`{"entry":[{"resource":{"resourceType":"Patient"}},{}],"resourceType":"Bundle"}` + "\n" + `{"resourceType":"Bundle","entry":[]}`))
	m := testMapping(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		opt := Options{MaxLineBytes: 4096}
		whole := outcome(t, NewFHIRReader(bytes.NewReader(data), "fuzz.json", m, opt), "fuzz.json")
		bytewise := outcome(t, NewFHIRReader(iotest.OneByteReader(bytes.NewReader(data)), "fuzz.json", m, opt), "fuzz.json")
		if whole != bytewise {
			t.Fatalf("results depend on read sizes:\nwhole:\n%s\none byte at a time:\n%s", whole, bytewise)
		}
		opt.SkipUnknown = true
		outcome(t, NewFHIRReader(bytes.NewReader(data), "fuzz.json", nil, opt), "fuzz.json")
	})
}

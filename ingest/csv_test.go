package ingest

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
	"testing/iotest"
	"time"
	"unsafe"

	"github.com/cxnet/cxnet/kpi"
)

// readAll reads every record, copying Dims (readers may reuse them).
func readAll(r Reader) ([]kpi.Record, error) {
	var out []kpi.Record
	for {
		var rec kpi.Record
		err := r.Next(&rec)
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		rec.Dims = append([]kpi.Dim(nil), rec.Dims...)
		out = append(out, rec)
	}
}

func dims(kv ...string) []kpi.Dim {
	var out []kpi.Dim
	for i := 0; i+1 < len(kv); i += 2 {
		out = append(out, kpi.Dim{Name: kv[i], Value: kv[i+1]})
	}
	return out
}

func mustTime(t *testing.T, s string) time.Time {
	t.Helper()
	tm, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		tm, err = time.Parse(time.DateOnly, s)
	}
	if err != nil {
		t.Fatal(err)
	}
	return tm
}

// sameRecord compares records, times by instant and offset.
func sameRecord(t *testing.T, got, want kpi.Record) {
	t.Helper()
	_, gotOff := got.Time.Zone()
	_, wantOff := want.Time.Zone()
	if !got.Time.Equal(want.Time) || gotOff != wantOff {
		t.Errorf("record %s: time %s, want %s", want.ID, got.Time.Format(time.RFC3339Nano), want.Time.Format(time.RFC3339Nano))
	}
	got.Time, want.Time = time.Time{}, time.Time{}
	if len(got.Dims) == 0 {
		got.Dims = nil
	}
	if len(want.Dims) == 0 {
		want.Dims = nil
	}
	if gs, ws := recString(got), recString(want); gs != ws {
		t.Errorf("record:\n got %s\nwant %s", gs, ws)
	}
}

func recString(r kpi.Record) string {
	var b strings.Builder
	b.WriteString(r.ID + " " + r.Subject + " " + r.Measure + "=" + r.Value.String())
	for _, d := range r.Dims {
		b.WriteString(" " + d.Name + ":" + d.Value)
	}
	b.WriteString(" @" + r.Pos.String())
	if r.Pos.Record > 0 {
		b.WriteString("#" + itoa(r.Pos.Record))
	}
	return b.String()
}

func itoa(n int64) string { return kpi.DecimalFromInt(n).String() }

func TestCSVReader(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []kpi.Record
	}{
		{
			name: "fixture",
			in:   readFile(t, "testdata/visits.csv"),
			want: []kpi.Record{
				{ID: "r1", Subject: "subj-001", Measure: "nps", Value: kpi.MustDecimal("9"), Time: mustTime(t, "2026-03-14"),
					Dims: dims("care_setting", "outpatient", "region", "north", "therapeutic_area", "diabetes"),
					Pos:  kpi.Position{File: "visits.csv", Line: 2, Record: 1}},
				{ID: "r2", Subject: "subj-002", Measure: "nps", Value: kpi.MustDecimal("6.5"), Time: mustTime(t, "2026-03-14T09:30:00Z"),
					Dims: dims("care_setting", "inpatient", "therapeutic_area", "diabetes"),
					Pos:  kpi.Position{File: "visits.csv", Line: 3, Record: 2}},
				{ID: "r3", Subject: "subj-003", Measure: "nps", Value: kpi.MustDecimal("10"), Time: mustTime(t, "2026-03-15T09:30:00.25+01:00"),
					Dims: dims("care_setting", "outpatient", "region", "south", "therapeutic_area", "oncology"),
					Pos:  kpi.Position{File: "visits.csv", Line: 4, Record: 3}},
			},
		},
		{
			name: "BOM, CRLF, quotes with embedded newline keep line numbers",
			in:   readFile(t, "testdata/quoted_crlf.csv"),
			want: []kpi.Record{
				{ID: "q1", Subject: "subj,001", Measure: "nps", Value: kpi.MustDecimal("9"), Time: mustTime(t, "2026-01-02"),
					Dims: dims("region", "north\r\nwest"), Pos: kpi.Position{File: "visits.csv", Line: 2, Record: 1}},
				{ID: "q2", Subject: "subj-002", Measure: "nps", Value: kpi.MustDecimal("7"), Time: mustTime(t, "2026-01-03"),
					Dims: dims("region", `say "hi"`), Pos: kpi.Position{File: "visits.csv", Line: 4, Record: 2}},
				{ID: "q3", Subject: "subj-003", Measure: "nps", Value: kpi.MustDecimal("8"), Time: mustTime(t, "2026-01-04"),
					Dims: dims("region", "south"), Pos: kpi.Position{File: "visits.csv", Line: 6, Record: 3}},
			},
		},
		{
			name: "columns in any order, spaces trimmed, blank lines skipped, no final newline",
			in:   " time , value,measure ,subject,record_id,b,a\n\n2026-05-01T00:00:00-05:30, -1.50 ,nps, s1 ,x1, B ,\n\n\n2026-05-02,1e1,nps,s2,x2,,A",
			want: []kpi.Record{
				{ID: "x1", Subject: "s1", Measure: "nps", Value: kpi.MustDecimal("-1.5"), Time: mustTime(t, "2026-05-01T00:00:00-05:30"),
					Dims: dims("b", "B"), Pos: kpi.Position{File: "visits.csv", Line: 3, Record: 1}},
				{ID: "x2", Subject: "s2", Measure: "nps", Value: kpi.MustDecimal("10"), Time: mustTime(t, "2026-05-02"),
					Dims: dims("a", "A"), Pos: kpi.Position{File: "visits.csv", Line: 6, Record: 2}},
			},
		},
		{
			name: "quoted last field at end of file, quoted empty field",
			in:   "record_id,subject,measure,value,time,d\nr1,s1,nps,1,2026-01-01,\"\"\nr2,s2,nps,2,2026-01-01,\"v\"",
			want: []kpi.Record{
				{ID: "r1", Subject: "s1", Measure: "nps", Value: kpi.MustDecimal("1"), Time: mustTime(t, "2026-01-01"),
					Pos: kpi.Position{File: "visits.csv", Line: 2, Record: 1}},
				{ID: "r2", Subject: "s2", Measure: "nps", Value: kpi.MustDecimal("2"), Time: mustTime(t, "2026-01-01"),
					Dims: dims("d", "v"), Pos: kpi.Position{File: "visits.csv", Line: 3, Record: 2}},
			},
		},
		{
			name: "header only",
			in:   "record_id,subject,measure,value,time\n\n",
		},
		{
			name: "UTF-8 text is fine",
			in:   "record_id,subject,measure,value,time,site\nr1,Zoë,nps,3,2026-01-01,Zürich\n",
			want: []kpi.Record{
				{ID: "r1", Subject: "Zoë", Measure: "nps", Value: kpi.MustDecimal("3"), Time: mustTime(t, "2026-01-01"),
					Dims: dims("site", "Zürich"), Pos: kpi.Position{File: "visits.csv", Line: 2, Record: 1}},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, rd := range readerShapes {
				got, err := readAll(NewCSVReader(rd.wrap(strings.NewReader(tt.in)), "visits.csv", Options{}))
				if err != nil {
					t.Fatalf("%s: %v", rd.name, err)
				}
				if len(got) != len(tt.want) {
					t.Fatalf("%s: %d records, want %d: %v", rd.name, len(got), len(tt.want), got)
				}
				for i := range got {
					sameRecord(t, got[i], tt.want[i])
				}
			}
		})
	}
}

// readerShapes deliver the same input in differently sized reads, to
// exercise buffer refills at every position.
var readerShapes = []struct {
	name string
	wrap func(io.Reader) io.Reader
}{
	{"whole", func(r io.Reader) io.Reader { return r }},
	{"one byte", iotest.OneByteReader},
	{"half", iotest.HalfReader},
	{"data+EOF", iotest.DataErrReader},
}

func readFile(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// wantErr checks that err is an *kpi.InputError at file:line with field, whose text
// contains every part.
func wantErr(t *testing.T, err error, file string, line int64, field string, parts ...string) *kpi.InputError {
	t.Helper()
	var e *kpi.InputError
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not an *kpi.InputError", err, err)
	}
	if e.Pos.File != file || e.Pos.Line != line || e.Field != field {
		t.Errorf("error at %s:%d field %q, want %s:%d field %q\n(%v)", e.Pos.File, e.Pos.Line, e.Field, file, line, field, err)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("error %q does not contain %q", err, p)
		}
	}
	return e
}

const hdr = "record_id,subject,measure,value,time,region\n"

func TestCSVReaderErrors(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		opt   Options
		line  int64
		field string
		parts []string
	}{
		{"non-numeric value", hdr + "r1,s1,nps,9,2026-01-01,n\nr2,SECRET-77,nps,abc,2026-01-01,n\n", Options{}, 3, "value",
			[]string{`visits.csv:3: field value: "abc" is not a number; use a decimal like 7 or 7.5`}},
		{"value out of range", hdr + "r1,s1,nps,12345678901234567890,2026-01-01,n\n", Options{}, 2, "value", []string{"out of range"}},
		{"empty value", hdr + "r1,s1,nps,,2026-01-01,n\n", Options{}, 2, "value", []string{"is empty"}},
		{"impossible date", hdr + "r1,s1,nps,1,2026-02-30,n\n", Options{}, 2, "time",
			[]string{`"2026-02-30" is not a real date: February 2026 has 28 days`, "or a date like 2026-03-14"}},
		{"no such month", hdr + "r1,s1,nps,1,2026-13-01,n\n", Options{}, 2, "time", []string{"no month 13"}},
		{"impossible hour", hdr + "r1,s1,nps,1,2026-01-01T24:00:00Z,n\n", Options{}, 2, "time", []string{"not a real time of day"}},
		{"partial date", hdr + "r1,s1,nps,1,2026-03,n\n", Options{}, 2, "time", []string{"a full date is needed"}},
		{"time without zone", hdr + "r1,s1,nps,1,2026-03-01T10:00:00,n\n", Options{}, 2, "time", []string{"has no time zone"}},
		{"placeholder date", hdr + "r1,s1,nps,1,0001-01-01,n\n", Options{}, 2, "time", []string{"placeholder for a missing date"}},
		{"not a time", hdr + "r1,s1,nps,1,14/03/2026,n\n", Options{}, 2, "time", []string{`"14/03/2026" is not a time`}},
		{"missing required column", "record_id,subject,value,time,region\nr1,s1,1,2026-01-01,n\n", Options{}, 1, "measure",
			[]string{"required column is missing", "record_id,subject,value,time,region"}},
		{"column in wrong case", "Record_ID,subject,measure,value,time\n", Options{}, 1, "record_id", []string{`rename "Record_ID" to record_id`}},
		{"duplicate column", "record_id,subject,measure,value,time,region, region\n", Options{}, 1, "region", []string{"columns 6 and 7"}},
		{"unnamed column", "record_id,subject,measure,value,time,,x\n", Options{}, 1, "", []string{"column 6 of the header has no name"}},
		{"empty file", "", Options{}, 1, "", []string{"the file is empty"}},
		{"blank file", "\n\n\r\n", Options{}, 1, "", []string{"the file is empty"}},
		{"empty subject", hdr + "r1, ,nps,1,2026-01-01,n\n", Options{}, 2, "subject", []string{"field subject: is empty"}},
		{"empty record_id", hdr + ",s1,nps,1,2026-01-01,n\n", Options{}, 2, "record_id", []string{"is empty"}},
		{"empty measure", hdr + "r1,s1,,1,2026-01-01,n\n", Options{}, 2, "measure", []string{"is empty"}},
		{"record_id too long", hdr + strings.Repeat("x", 257) + ",s1,nps,1,2026-01-01,n\n", Options{}, 2, "record_id", []string{"257 bytes long"}},
		{"control character in measure", hdr + "r1,s1,\"np\ts\",1,2026-01-01,n\n", Options{}, 2, "measure", []string{"control character (byte 0x09 at position 3)"}},
		{"too few fields", hdr + "r1,s1,nps,1,2026-01-01\n", Options{}, 2, "", []string{"5 fields but the header has 6"}},
		{"too many fields", hdr + "r1,s1,nps,1,2026-01-01,a,b\n", Options{}, 2, "", []string{"7 fields"}},
		{"binary junk", hdr + "r1,s1,nps,1,2026-01-01,n\nr2,s\x00,nps,1,2026-01-01,n\n", Options{}, 3, "",
			[]string{"visits.csv:3: binary data (byte 0x00 at column 5): is this a CSV file?"}},
		{"invalid UTF-8", hdr + "r1,s1,nps,1,2026-01-01,\xff\xfe\n", Options{}, 2, "", []string{"binary data (byte 0xff at column 24)"}},
		{"binary inside a quoted record", hdr + "r1,s1,nps,1,2026-01-01,\"a\nb\x00\"\n", Options{}, 3, "", []string{"byte 0x00 at column 2"}},
		{"gzip", "\x1f\x8b\x08\x00\x00\x00", Options{}, 1, "", []string{"byte 0x8b at column 2"}},
		{"UTF-16", "\xff\xfer\x00e\x00", Options{}, 1, "", []string{"UTF-16", "save it as UTF-8"}},
		{"over-long line", hdr + "r1,s1,nps,1,2026-01-01," + strings.Repeat("n", 100) + "\n", Options{MaxLineBytes: 64}, 2, "",
			[]string{"line is longer than the limit of 64 bytes"}},
		{"over-long last line", hdr + "r1,s1,nps,1,2026-01-01," + strings.Repeat("n", 100), Options{MaxLineBytes: 64}, 2, "",
			[]string{"line is longer than the limit of 64 bytes"}},
		{"over-long quoted record", hdr + "r1,s1,nps,1,2026-01-01,\"" + strings.Repeat("n\n", 50) + "\"\n", Options{MaxLineBytes: 64}, 2, "",
			[]string{"record is longer than the limit of 64 bytes"}},
		{"CR line endings", strings.ReplaceAll(hdr+"r1,s1,nps,1,2026-01-01,n\n", "\n", "\r"), Options{MaxLineBytes: 64}, 1, "",
			[]string{"CR only"}},
		{"unterminated quote", hdr + "r1,s1,nps,1,2026-01-01,\"north\nr2,s1,nps,1,2026-01-01,n\n", Options{}, 2, "region",
			[]string{"quoted field is not closed", "column 24"}},
		{"bare quote", hdr + "r1,s1,nps,1,2026-01-01,no\"rth\n", Options{}, 2, "region", []string{`" inside a field that is not quoted`}},
		{"text after closing quote", hdr + "r1,\"s1\"x,nps,1,2026-01-01,n\n", Options{}, 2, "subject", []string{`unexpected "x" after a closing quote`}},
		{"error after a multi-line record has the right line", hdr + "r1,s1,nps,1,2026-01-01,\"a\nb\nc\"\nr2,s2,nps,x,2026-01-01,n\n", Options{}, 5, "value",
			[]string{`"x" is not a number`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, rd := range readerShapes {
				_, err := readAll(NewCSVReader(rd.wrap(strings.NewReader(tt.in)), "visits.csv", tt.opt))
				if err == nil {
					t.Fatalf("%s: no error", rd.name)
				}
				wantErr(t, err, "visits.csv", tt.line, tt.field, tt.parts...)
				if strings.Contains(err.Error(), "SECRET") {
					t.Errorf("error repeats a subject: %v", err)
				}
			}
		})
	}
}

func TestCSVReaderStickyError(t *testing.T) {
	r := NewCSVReader(strings.NewReader(hdr+"r1,s1,nps,x,2026-01-01,n\nr2,s2,nps,1,2026-01-01,n\n"), "f.csv", Options{})
	var rec kpi.Record
	err1 := r.Next(&rec)
	err2 := r.Next(&rec)
	if err1 == nil || err1 != err2 {
		t.Fatalf("errors %v then %v, want the same error twice", err1, err2)
	}
}

// endless is an input that never ends, to show long lines are refused
// without buffering them.
type endless struct{ b byte }

func (e endless) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = e.b
	}
	return len(p), nil
}

func TestCSVReaderEndlessLine(t *testing.T) {
	in := io.MultiReader(strings.NewReader(hdr), endless{'x'})
	_, err := readAll(NewCSVReader(in, "big.csv", Options{MaxLineBytes: 4096}))
	wantErr(t, err, "big.csv", 2, "", "longer than the limit of 4 KiB")
	_, err = readAll(NewCSVReader(endless{'y'}, "big.csv", Options{}))
	wantErr(t, err, "big.csv", 1, "", "longer than the limit of 1 MiB")
}

func TestCSVReaderReadError(t *testing.T) {
	boom := errors.New("disk on fire")
	in := io.MultiReader(strings.NewReader(hdr), iotest.ErrReader(boom))
	_, err := readAll(NewCSVReader(in, "f.csv", Options{}))
	e := wantErr(t, err, "f.csv", 2, "", "disk on fire")
	if !errors.Is(e, boom) {
		t.Errorf("error %v does not wrap the read error", err)
	}
}

func TestCSVReaderReusesDims(t *testing.T) {
	in := "record_id,subject,measure,value,time,a,b\nr1,s1,nps,1,2026-01-01,x,y\nr2,s2,nps,2,2026-01-01,x,y\n"
	r := NewCSVReader(strings.NewReader(in), "f.csv", Options{})
	var rec kpi.Record
	if err := r.Next(&rec); err != nil {
		t.Fatal(err)
	}
	first := &rec.Dims[0]
	v := rec.Dims[0].Value
	if err := r.Next(&rec); err != nil {
		t.Fatal(err)
	}
	if &rec.Dims[0] != first {
		t.Error("Dims was reallocated; want its backing array reused")
	}
	if rec.Dims[0].Value != v || !sameString(rec.Dims[0].Value, v) {
		t.Error("a repeated dimension value was not interned")
	}
}

// sameString reports whether a and b share their bytes.
func sameString(a, b string) bool {
	return a == b && unsafe.StringData(a) == unsafe.StringData(b)
}

func TestCSVReaderAllocations(t *testing.T) {
	data := benchCSV(1000)
	var rec kpi.Record
	allocs := testing.AllocsPerRun(5, func() {
		r := NewCSVReader(bytes.NewReader(data), "f.csv", Options{})
		for r.Next(&rec) == nil {
		}
	})
	// record_id and subject are new strings on every row; everything else
	// is reused or interned.
	if perRow := allocs / 1000; perRow > 2.1 {
		t.Errorf("%.2f allocations per row, want at most 2", perRow)
	}
}

func TestParseTime(t *testing.T) {
	tests := []struct {
		in     string
		want   string // RFC 3339 with the written offset; "" for an error
		offset int
	}{
		{"2026-03-14", "2026-03-14T00:00:00Z", 0},
		{"2024-02-29", "2024-02-29T00:00:00Z", 0},
		{"2000-02-29", "2000-02-29T00:00:00Z", 0},
		{"1900-02-29", "", 0},
		{"2026-03-14T09:30:00Z", "2026-03-14T09:30:00Z", 0},
		{"2026-03-14t09:30:00z", "2026-03-14T09:30:00Z", 0},
		{"2026-03-14 09:30:00+01:00", "2026-03-14T09:30:00+01:00", 3600},
		{"2026-03-14T09:30:00.123456789-03:30", "2026-03-14T09:30:00.123456789-03:30", -12600},
		{"2026-03-14T09:30:00.1234567891Z", "2026-03-14T09:30:00.123456789Z", 0},
		{"1969-12-31T23:59:59Z", "1969-12-31T23:59:59Z", 0},
		{"0001-01-01", "", 0},
		{"1899-12-31T23:59:59Z", "", 0},
		{"1900-01-01", "1900-01-01T00:00:00Z", 0},
		{"2026-03-14T09:30Z", "", 0},
		{"2026-03-14T09:30:00.Z", "", 0},
		{"2026-03-14T09:30:00+1:00", "", 0},
		{"2026-03-14T09:30:00+24:00", "", 0},
		{"2026-3-14", "", 0},
		{"2026-03-14x", "", 0},
		{"2026-00-10", "", 0},
		{"2026-04-31", "", 0},
		{"2026-04-00", "", 0},
		{"", "", 0},
		{"2026", "", 0},
	}
	var zones zoneCache
	for _, tt := range tests {
		got, terr := parseTime([]byte(tt.in), &zones)
		if tt.want == "" {
			if terr == nil {
				t.Errorf("parseTime(%q) = %v, want an error", tt.in, got)
			}
			continue
		}
		if terr != nil {
			t.Errorf("parseTime(%q): %s", tt.in, terr.why)
			continue
		}
		if s := got.Format(time.RFC3339Nano); s != tt.want {
			t.Errorf("parseTime(%q) = %s, want %s", tt.in, s, tt.want)
		}
		if _, off := got.Zone(); off != tt.offset {
			t.Errorf("parseTime(%q) offset %d, want %d", tt.in, off, tt.offset)
		}
		ref, err := time.Parse(time.RFC3339Nano, tt.want)
		if err == nil && !ref.Equal(got) {
			t.Errorf("parseTime(%q) = %v, time.Parse says %v", tt.in, got, ref)
		}
	}
}

// naiveSplit is the obvious version of CSVReader.split.
func naiveSplit(line []byte) ([]string, uint8) {
	var seen uint8
	for _, c := range line {
		switch {
		case c == '"':
			seen |= classQuote
		case c == 0 || c >= 0x80:
			seen |= classOdd
		}
	}
	return strings.Split(string(line), ","), seen
}

func checkSplit(t *testing.T, line []byte) {
	t.Helper()
	r := &CSVReader{}
	seen := r.split(line)
	want, wantSeen := naiveSplit(line)
	got := make([]string, len(r.fields))
	for i, f := range r.fields {
		got[i] = string(f)
	}
	if seen&^classComma != wantSeen || strings.Join(got, "\x00") != strings.Join(want, "\x00") {
		t.Fatalf("split(%q) = %q, %b; want %q, %b", line, got, seen&^classComma, want, wantSeen)
	}
}

func TestSplit(t *testing.T) {
	seed := time.Now().UnixNano()
	rng := rand.New(rand.NewPCG(uint64(seed), 0))
	defer func() {
		if t.Failed() {
			t.Logf("seed %d", seed)
		}
	}()
	alphabet := []byte{',', '"', '-', '+', '.', 0, 1, 0x7f, 0x80, 0xff, 'a', '0', ' '}
	for range 20000 {
		line := make([]byte, rng.IntN(40))
		for i := range line {
			line[i] = alphabet[rng.IntN(len(alphabet))]
		}
		checkSplit(t, line)
	}
}

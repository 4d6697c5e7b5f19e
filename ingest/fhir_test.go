package ingest

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/cxnet/cxnet/kpi"
)

// sharedData is the real public data the tests read when it is there.
const sharedData = "/work/shared/data"

func testMapping(t testing.TB) *Mapping {
	t.Helper()
	m, err := ParseMapping([]byte(readFile(t, "testdata/map.yaml")), "map.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func sharedFile(t *testing.T, name string) string {
	t.Helper()
	path := filepath.Join(sharedData, name)
	if _, err := os.Stat(path); err != nil {
		t.Skipf("shared data not available: %v", err)
	}
	return path
}

func readFHIR(t *testing.T, in io.Reader, file string, m *Mapping, opt Options) ([]kpi.Record, *FHIRReader, error) {
	t.Helper()
	r := NewFHIRReader(in, file, m, opt)
	recs, err := readAll(r)
	return recs, r, err
}

func TestFHIRReaderSpecExamples(t *testing.T) {
	m, err := ParseMapping([]byte(`
items:
  - link_id: "3.1"
    measure: smoker
    values: {"No": 0, "Yes": 1}
dim_items:
  sex: "2.1"
dims:
  care_setting: outpatient
drug_classes:
  0169-7501-11: INSULIN
`), "f201.yaml")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		file string
		m    *Mapping
		want []kpi.Record
	}{
		{
			file: "QuestionnaireResponse-f201.json",
			m:    m,
			want: []kpi.Record{{
				ID: "f201/3.1", Subject: "Patient/f201", Measure: "smoker", Value: kpi.MustDecimal("0"),
				Time: mustTime(t, "2013-06-18T00:00:00+01:00"),
				Dims: dims("care_setting", "outpatient", "sex", "Male"),
				Pos:  kpi.Position{File: "QuestionnaireResponse-f201.json", Line: 1, Record: 1},
			}},
		},
		{
			file: "MedicationDispense-meddisp0302.json",
			m:    m,
			want: []kpi.Record{{
				ID: "MedicationDispense/meddisp0302", Subject: "Patient/pat1", Measure: "dispense.days_supply", Value: kpi.MustDecimal("30"),
				Time: mustTime(t, "2015-01-15T16:20:00Z"),
				Dims: dims("care_setting", "outpatient", "drug", "0169-7501-11", "drug_class", "INSULIN"),
				Pos:  kpi.Position{File: "MedicationDispense-meddisp0302.json", Line: 1, Record: 1},
			}},
		},
		{
			file: "MedicationDispense-meddisp0302.json",
			m:    nil,
			want: []kpi.Record{{
				ID: "MedicationDispense/meddisp0302", Subject: "Patient/pat1", Measure: "dispense.days_supply", Value: kpi.MustDecimal("30"),
				Time: mustTime(t, "2015-01-15T16:20:00Z"),
				Dims: dims("drug", "0169-7501-11"),
				Pos:  kpi.Position{File: "MedicationDispense-meddisp0302.json", Line: 1, Record: 1},
			}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			f, err := os.Open(sharedFile(t, "fhir_r4_spec_examples/"+tt.file))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			got, _, err := readFHIR(t, f, tt.file, tt.m, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("%d records, want %d: %v", len(got), len(tt.want), got)
			}
			for i := range got {
				sameRecord(t, got[i], tt.want[i])
			}
		})
	}
}

func TestFHIRReaderMissingDaysSupply(t *testing.T) {
	f, err := os.Open(sharedFile(t, "fhir_r4_spec_examples/MedicationDispense-meddisp008.json"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	_, _, err = readFHIR(t, f, "meddisp008.json", nil, Options{})
	wantErr(t, err, "meddisp008.json", 1, "daysSupply.value", "is missing", "adherence")
}

func TestFHIRReaderSyntheaBundles(t *testing.T) {
	dir := sharedFile(t, "fhir_r4_synthea_smart")
	files, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	if len(files) == 0 {
		t.Skip("no Synthea bundles")
	}
	for _, path := range files {
		name := filepath.Base(path)
		t.Run(name, func(t *testing.T) {
			f, err := os.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			_, _, err = readFHIR(t, f, name, nil, Options{})
			wantErr(t, err, name, 5, "entry[0].resource.resourceType", `"Patient" is not a resource type cxnet reads`, "--skip-unknown")

			if _, err := f.Seek(0, io.SeekStart); err != nil {
				t.Fatal(err)
			}
			recs, r, err := readFHIR(t, f, name, nil, Options{SkipUnknown: true})
			if err != nil || len(recs) != 0 {
				t.Fatalf("with SkipUnknown: %d records, error %v; want none", len(recs), err)
			}
			var skipped int64
			for reason, n := range r.Skipped() {
				if !strings.HasPrefix(reason, "resourceType ") {
					t.Errorf("skipped %d for %q", n, reason)
				}
				skipped += n
			}
			if want := int64(strings.Count(readFile(t, path), `"resource": {`)); skipped != want {
				t.Errorf("skipped %d resources, want %d", skipped, want)
			}
		})
	}
}

// surveyRecords are the records of testdata/survey.ndjson under
// testdata/map.yaml, without positions.
func surveyRecords(t *testing.T) []kpi.Record {
	return []kpi.Record{
		{ID: "qr1/q1", Subject: "Patient/p1", Measure: "nps", Value: kpi.MustDecimal("9"), Time: mustTime(t, "2026-03-14T10:00:00+01:00"),
			Dims: dims("age_band", "45-64", "care_setting", "outpatient")},
		{ID: "qr2/q1", Subject: "Patient/p2", Measure: "nps", Value: kpi.MustDecimal("6"), Time: mustTime(t, "2026-03-15"),
			Dims: dims("care_setting", "outpatient")},
		{ID: "qr2/q2", Subject: "Patient/p2", Measure: "recommend_staff", Value: kpi.MustDecimal("1"), Time: mustTime(t, "2026-03-15"),
			Dims: dims("care_setting", "outpatient")},
		{ID: "MedicationDispense/md1", Subject: "Patient/p1", Measure: "dispense.days_supply", Value: kpi.MustDecimal("30"),
			Time: mustTime(t, "2026-02-01T12:00:00Z"), Dims: dims("care_setting", "outpatient", "drug", "314076", "drug_class", "RASA")},
		{ID: "MedicationDispense/md3", Subject: "Patient/p2", Measure: "dispense.days_supply", Value: kpi.MustDecimal("90"),
			Time: mustTime(t, "2026-02-03"), Dims: dims("care_setting", "outpatient", "drug", "lisinopril", "drug_class", "RASA")},
	}
}

func TestFHIRReaderShapes(t *testing.T) {
	tests := []struct {
		name    string
		file    string
		pos     []kpi.Position // of each record
		skipped map[string]int64
	}{
		{
			name: "NDJSON", file: "testdata/survey.ndjson",
			pos: []kpi.Position{{Line: 1, Record: 1}, {Line: 2, Record: 2}, {Line: 2, Record: 2}, {Line: 6, Record: 5}, {Line: 8, Record: 7}},
			skipped: map[string]int64{
				"QuestionnaireResponse status in-progress":        1,
				"QuestionnaireResponse for another questionnaire": 1,
				"MedicationDispense status cancelled":             1,
			},
		},
		{
			name: "Bundle with entry before resourceType", file: "testdata/survey_bundle.json",
			pos: []kpi.Position{{Line: 3, Record: 1}, {Line: 41, Record: 2}, {Line: 41, Record: 2}, {Line: 123, Record: 5}, {Line: 163, Record: 7}},
			skipped: map[string]int64{
				"QuestionnaireResponse status in-progress":        1,
				"QuestionnaireResponse for another questionnaire": 1,
				"MedicationDispense status cancelled":             1,
				"Bundle entry without resource":                   1,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, rd := range readerShapes {
				got, r, err := readFHIR(t, rd.wrap(strings.NewReader(readFile(t, tt.file))), "f.json", testMapping(t), Options{})
				if err != nil {
					t.Fatalf("%s: %v", rd.name, err)
				}
				want := surveyRecords(t)
				if len(got) != len(want) {
					t.Fatalf("%s: %d records, want %d: %v", rd.name, len(got), len(want), got)
				}
				for i := range got {
					want[i].Pos = tt.pos[i]
					want[i].Pos.File = "f.json"
					sameRecord(t, got[i], want[i])
				}
				if !reflect.DeepEqual(r.Skipped(), tt.skipped) {
					t.Errorf("%s: skipped %v, want %v", rd.name, r.Skipped(), tt.skipped)
				}
				if n := r.Notes(); len(n) != 0 {
					t.Errorf("%s: notes %v, want none", rd.name, n)
				}
			}
		})
	}
}

func TestFHIRReaderSingleResource(t *testing.T) {
	got, _, err := readFHIR(t, strings.NewReader(readFile(t, "testdata/single_qr.json")), "qr.json", testMapping(t), Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := surveyRecords(t)[0]
	want.Pos = kpi.Position{File: "qr.json", Line: 1, Record: 1}
	if len(got) != 1 {
		t.Fatalf("%d records, want 1: %v", len(got), got)
	}
	sameRecord(t, got[0], want)

	// With a byte order mark and leading blank lines.
	got, _, err = readFHIR(t, strings.NewReader("\ufeff\n\n"+readFile(t, "testdata/single_qr.json")), "qr.json", testMapping(t), Options{})
	if err != nil || len(got) != 1 || got[0].Pos.Line != 3 {
		t.Fatalf("with BOM: %v, %v; want one record on line 3", got, err)
	}
}

const qrHead = `{"resourceType":"QuestionnaireResponse","id":"a","status":"completed","questionnaire":"http://example.org/Questionnaire/nps","subject":{"reference":"Patient/SECRET-9"},"authored":"2026-01-01",`

func TestFHIRReaderRecords(t *testing.T) {
	tests := []struct {
		name string
		in   string
		m    string // mapping; "" for testdata/map.yaml
		opt  Options
		want []string // recString of each record
	}{
		{"answer item under an answer", qrHead + `"item":[{"linkId":"g","answer":[{"valueString":"x","item":[{"linkId":"q1","answer":[{"valueInteger":7}]}]}]}]}`, "", Options{},
			[]string{"a/q1 Patient/SECRET-9 nps=7 care_setting:outpatient @f.json:1#1"}},
		{"first answer wins", qrHead + `"item":[{"linkId":"q1","answer":[{"valueInteger":7},{"valueInteger":8}]},{"linkId":"q1","answer":[{"valueInteger":9}]}]}`, "", Options{},
			[]string{"a/q1 Patient/SECRET-9 nps=7 care_setting:outpatient @f.json:1#1"}},
		{"unanswered first occurrence", qrHead + `"item":[{"linkId":"q1"},{"linkId":"q1","answer":[{"valueInteger":9}]}]}`, "", Options{},
			[]string{"a/q1 Patient/SECRET-9 nps=9 care_setting:outpatient @f.json:1#1"}},
		{"numeric code and string, quantity", qrHead + `"item":[{"linkId":"q1","answer":[{"valueCoding":{"code":"10"}}]},{"linkId":"q3","answer":[{"valueString":" 2.5 "}]},{"linkId":"q4","answer":[{"valueQuantity":{"value":1.25}}]}]}`,
			"items: [{link_id: q1, measure: a}, {link_id: q3, measure: b}, {link_id: q4, measure: c}]", Options{},
			[]string{"a/q1 Patient/SECRET-9 a=10 @f.json:1#1", "a/q3 Patient/SECRET-9 b=2.5 @f.json:1#1", "a/q4 Patient/SECRET-9 c=1.25 @f.json:1#1"}},
		{"values: boolean, display, case-insensitive", qrHead + `"item":[{"linkId":"b","answer":[{"valueBoolean":true}]},{"linkId":"c","answer":[{"valueCoding":{"code":"LA33-6","display":"Yes"}}]},{"linkId":"d","answer":[{"valueString":"no "}]}]}`,
			`items:
  - {link_id: b, measure: b, values: {"true": 1, "false": 0}}
  - {link_id: c, measure: c, values: {"Yes": 1}}
  - {link_id: d, measure: d, values: {"No": 0}}`, Options{},
			[]string{"a/b Patient/SECRET-9 b=1 @f.json:1#1", "a/c Patient/SECRET-9 c=1 @f.json:1#1", "a/d Patient/SECRET-9 d=0 @f.json:1#1"}},
		{"dims from items: coding, date, integer", qrHead + `"item":[{"linkId":"q1","answer":[{"valueInteger":3}]},{"linkId":"s","answer":[{"valueCoding":{"display":"F"}}]},{"linkId":"dob","answer":[{"valueDate":"1960-03-13"}]},{"linkId":"n","answer":[{"valueInteger":4}]}]}`,
			"items: [{link_id: q1, measure: nps}]\ndim_items: {sex: s, born: dob, kids: n, absent: zz}", Options{},
			[]string{"a/q1 Patient/SECRET-9 nps=3 born:1960-03-13 kids:4 sex:F @f.json:1#1"}},
		{"contained subject becomes its identifier",
			`{"resourceType":"QuestionnaireResponse","id":"a","status":"completed","contained":[{"resourceType":"Questionnaire","id":"q","code":[{"code":"x"}]},{"resourceType":"Patient","id":"p","identifier":[{"system":"urn:mrn","value":"123"}]}],"subject":{"reference":"#p"},"authored":"2026-01-01","item":[{"linkId":"q1","answer":[{"valueInteger":1}]}]}`,
			"items: [{link_id: q1, measure: nps}]", Options{},
			[]string{"a/q1 urn:mrn|123 nps=1 @f.json:1#1"}},
		{"dispense with contained medication by text, class by display",
			`{"resourceType":"MedicationDispense","id":"d","status":"completed","contained":[{"resourceType":"Medication","id":"m","code":{"text":"Lisinopril 10 mg","coding":[{"display":"LISINOPRIL"}]}}],"medicationReference":{"reference":"#m"},"subject":{"reference":"Patient/1"},"daysSupply":{"value":28},"whenHandedOver":"2026-01-05T08:00:00+02:00"}`,
			"", Options{},
			[]string{"MedicationDispense/d Patient/1 dispense.days_supply=28 care_setting:outpatient drug:Lisinopril 10 mg drug_class:RASA @f.json:1#1"}},
		{"dispense with external reference uses its display",
			`{"resourceType":"MedicationDispense","id":"d","medicationReference":{"reference":"Medication/9","display":"Aspirin"},"subject":{"reference":"Patient/1"},"daysSupply":{"value":10},"whenHandedOver":"2026-01-05"}`,
			"", Options{},
			[]string{"MedicationDispense/d Patient/1 dispense.days_supply=10 care_setting:outpatient drug:Aspirin @f.json:1#1"}},
		{"dispense statuses that did not happen are skipped",
			`{"resourceType":"MedicationDispense","id":"1","status":"entered-in-error"}
{"resourceType":"MedicationDispense","id":"2","status":"declined"}
{"resourceType":"MedicationDispense","id":"3","status":"stopped"}`, "", Options{}, nil},
		{"skip unknown types, nested Bundle",
			`{"resourceType":"Patient","id":"p"}
{"resourceType":"Bundle","type":"batch","entry":[{"resource":{"resourceType":"Bundle","entry":[{"resource":` + qrHead + `"item":[{"linkId":"q1","answer":[{"valueInteger":2}]}]}}]}},{"resource":{"resourceType":"Observation"}}]}`,
			"", Options{SkipUnknown: true},
			[]string{"a/q1 Patient/SECRET-9 nps=2 care_setting:outpatient @f.json:2#1"}},
		{"empty input", "", "", Options{}, nil},
		{"white space only", "\n \n", "", Options{}, nil},
		{"a List is not a Bundle", `{"entry":[{"item":{"reference":"Patient/1"}}],"resourceType":"List"}`, "", Options{SkipUnknown: true}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := testMapping(t)
			if tt.m != "" {
				var err error
				if m, err = ParseMapping([]byte(tt.m), "m.yaml"); err != nil {
					t.Fatal(err)
				}
			}
			for _, rd := range readerShapes {
				got, _, err := readFHIR(t, rd.wrap(strings.NewReader(tt.in)), "f.json", m, tt.opt)
				if err != nil {
					t.Fatalf("%s: %v", rd.name, err)
				}
				var gs []string
				for _, r := range got {
					gs = append(gs, recString(r))
				}
				if !reflect.DeepEqual(gs, tt.want) {
					t.Errorf("%s: records\n%q\nwant\n%q", rd.name, gs, tt.want)
				}
			}
		})
	}
}

func TestFHIRReaderErrors(t *testing.T) {
	md := `{"resourceType":"MedicationDispense","id":"d","status":"completed","medicationCodeableConcept":{"text":"x"},"subject":{"reference":"Patient/SECRET-1"},`
	tests := []struct {
		name  string
		in    string
		nomap bool
		opt   Options
		line  int64
		field string
		parts []string
	}{
		{"unknown resourceType", `{"resourceType":"Patient","id":"SECRET-2"}`, false, Options{}, 1, "resourceType",
			[]string{`"Patient" is not a resource type cxnet reads`, "--skip-unknown"}},
		{"unknown resourceType in a Bundle", "{\"resourceType\":\"Bundle\",\n\"entry\":[\n{\"resource\":" + qrHead + `"item":[]}},` + "\n" + `{"resource":{"resourceType":"Encounter"}}]}`, false, Options{}, 4, "entry[1].resource.resourceType",
			[]string{`"Encounter"`}},
		{"missing resourceType", `{"id":"x"}`, false, Options{}, 1, "resourceType", []string{"is missing"}},
		{"resourceType not a string", `{"resourceType":5}`, false, Options{}, 1, "resourceType", []string{"must be a string"}},
		{"not an object", "[1,2]", false, Options{}, 1, "", []string{"expected a JSON object (a FHIR resource), found a list"}},
		{"entry resource not an object", `{"resourceType":"Bundle","entry":[{"resource":7}]}`, false, Options{}, 1, "entry[0].resource", []string{"is a number, not a JSON object"}},
		{"entry not an object", `{"resourceType":"Bundle","entry":[3]}`, false, Options{}, 1, "entry[0]", []string{"is a number"}},
		{"QuestionnaireResponse without mapping", qrHead + `"item":[]}`, true, Options{}, 1, "resourceType", []string{"--map"}},
		{"value not in values", qrHead + `"item":[{"linkId":"q2","answer":[{"valueString":"Maybe"}]}]}`, false, Options{}, 1, "item[0].answer[0].valueString",
			[]string{`item "q2": the answer "Maybe" is not one of the mapped values ("No", "Yes")`, "map.yaml"}},
		{"string answer to a numeric item", qrHead + `"item":[{"linkId":"q1","answer":[{"valueString":"great"}]}]}`, false, Options{}, 1, "item[0].answer[0].valueString",
			[]string{`item "q1": the answer "great" is not a number`, "values:"}},
		{"partial authored date", strings.Replace(qrHead, `"2026-01-01"`, `"2013-06"`, 1) + `"item":[]}`, false, Options{}, 1, "authored",
			[]string{`"2013-06" is a month, not a date; a full date is needed`}},
		{"missing authored", strings.Replace(qrHead, `"authored":"2026-01-01",`, ``, 1) + `"item":[]}`, false, Options{}, 1, "authored", []string{"is missing"}},
		{"authored not a string", strings.Replace(qrHead, `"2026-01-01"`, `20260101`, 1) + `"item":[]}`, false, Options{}, 1, "authored", []string{"is a number, expected a string"}},
		{"missing subject", strings.Replace(qrHead, `"subject":{"reference":"Patient/SECRET-9"},`, ``, 1) + `"item":[]}`, false, Options{}, 1, "subject.reference", []string{"is missing"}},
		{"empty subject", strings.Replace(qrHead, `"Patient/SECRET-9"`, `" "`, 1) + `"item":[]}`, false, Options{}, 1, "subject.reference", []string{"is missing"}},
		{"contained subject without identifier", strings.Replace(qrHead, `"Patient/SECRET-9"`, `"#SECRET-p"`, 1) + `"contained":[{"resourceType":"Patient","id":"SECRET-p"}],"item":[]}`, false, Options{}, 1, "subject.reference",
			[]string{"without an identifier"}},
		{"missing id", strings.Replace(qrHead, `"id":"a",`, ``, 1) + `"item":[]}`, false, Options{}, 1, "id", []string{"is missing"}},
		{"dispense without daysSupply", md + `"whenHandedOver":"2026-01-01"}`, false, Options{}, 1, "daysSupply.value", []string{"adherence"}},
		{"dispense without whenHandedOver", md + `"daysSupply":{"value":30}}`, false, Options{}, 1, "whenHandedOver", []string{"is missing", "adherence"}},
		{"dispense with partial whenHandedOver", md + `"daysSupply":{"value":30},"whenHandedOver":"2026"}`, false, Options{}, 1, "whenHandedOver", []string{"a full date is needed"}},
		{"dispense in weeks", md + `"daysSupply":{"value":4,"code":"wk"},"whenHandedOver":"2026-01-01"}`, false, Options{}, 1, "daysSupply.code", []string{"not days"}},
		{"dispense with negative supply", md + `"daysSupply":{"value":-4},"whenHandedOver":"2026-01-01"}`, false, Options{}, 1, "daysSupply.value", []string{"negative"}},
		{"dispense without medication", `{"resourceType":"MedicationDispense","id":"d","subject":{"reference":"Patient/1"},"daysSupply":{"value":1},"whenHandedOver":"2026-01-01"}`, false, Options{}, 1,
			"medicationCodeableConcept", []string{"is missing"}},
		{"invalid JSON on an NDJSON line", md + `"daysSupply":{"value":30},"whenHandedOver":"2026-01-01"}` + "\n" + md + `"daysSupply":{"value":30},"whenHandedOver":"2026-01-01"}` + "\n{\"resourceType\": oops}\n", false, Options{}, 3, "",
			[]string{"not valid JSON", "invalid character 'o'"}},
		{"missing comma in a pretty resource", "{\n  \"resourceType\": \"Patient\",\n  \"id\": \"x\"\n  \"active\": true\n}\n", false, Options{}, 4, "",
			[]string{"not valid JSON"}},
		{"bad value deep in a Bundle entry", "{\"resourceType\":\"Bundle\",\"entry\":[\n{\"resource\":{\n\"resourceType\":\"Patient\",\n\"id\": tru\n}}]}", false, Options{}, 4, "",
			[]string{"not valid JSON", "(in the value starting on line 2)"}},
		{"truncated file", "{\"resourceType\":\"Bundle\",\"entry\":[\n{\"resource\":{\"resourceType\":\"Pat", false, Options{}, 2, "",
			[]string{"ends in the middle of a resource"}},
		{"binary junk", "{\"resourceType\":\"Patient\"}\n{\"a\":\"b\x00c\"}\n", false, Options{SkipUnknown: true}, 2, "",
			[]string{"f.json:2: binary data (byte 0x00 at column 8): is this a FHIR JSON file?"}},
		{"invalid UTF-8", "{\"resourceType\":\"Patient\",\"name\":\"\xe9\"}", false, Options{}, 1, "", []string{"binary data (byte 0xe9 at column 35)"}},
		{"gzip", "\x1f\x8b\x08\x00", false, Options{}, 1, "", []string{"byte 0x1f at column 1", "decompressed"}},
		{"UTF-16", "\xff\xfe{\x00", false, Options{}, 1, "", []string{"UTF-16"}},
		{"over-long resource", `{"resourceType":"Patient","text":"` + strings.Repeat("x", 300) + `"}`, false, Options{MaxLineBytes: 100}, 1, "",
			[]string{"longer than the limit of 100 bytes"}},
		{"over-long Bundle entry", "{\"resourceType\":\"Bundle\",\"entry\":[{\"resource\":{\"resourceType\":\"Patient\"}},\n{\"resource\":{\"resourceType\":\"Patient\",\"text\":\"" + strings.Repeat("x", 300) + `"}}]}`,
			false, Options{MaxLineBytes: 100, SkipUnknown: true}, 2, "", []string{"longer than the limit of 100 bytes"}},
		{"trailing garbage", `{"resourceType":"MedicationDispense","status":"cancelled"}` + "\n]", false, Options{}, 2, "", []string{"not valid JSON"}},
		{"Bundle entry is an object", `{"resourceType":"Bundle","entry":{"resource":{}}}`, false, Options{}, 1, "entry", []string{"must be a list"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := testMapping(t)
			if tt.nomap {
				m = nil
			}
			for _, rd := range readerShapes {
				_, _, err := readFHIR(t, rd.wrap(strings.NewReader(tt.in)), "f.json", m, tt.opt)
				if err == nil {
					t.Fatalf("%s: no error", rd.name)
				}
				wantErr(t, err, "f.json", tt.line, tt.field, tt.parts...)
				if strings.Contains(err.Error(), "SECRET") {
					t.Errorf("error repeats a subject: %v", err)
				}
			}
		})
	}
}

func TestFHIRReaderEndlessResource(t *testing.T) {
	in := io.MultiReader(strings.NewReader(`{"resourceType":"Patient","text":"`), endless{'x'})
	_, _, err := readFHIR(t, in, "big.json", nil, Options{MaxLineBytes: 1 << 20})
	wantErr(t, err, "big.json", 1, "", "longer than the limit of 1 MiB")

	in = io.MultiReader(strings.NewReader("{\"resourceType\":\"Bundle\",\"entry\":[\n"), endless{' '})
	_, _, err = readFHIR(t, in, "big.json", nil, Options{MaxLineBytes: 1 << 20})
	var e *kpi.InputError
	if !errors.As(err, &e) || !strings.Contains(err.Error(), "longer than the limit") {
		t.Errorf("endless white space in a Bundle: %v", err)
	}
}

func TestFHIRReaderReadError(t *testing.T) {
	boom := errors.New("disk on fire")
	in := io.MultiReader(strings.NewReader(`{"resourceType":"MedicationDispense","status":"cancelled"}`+"\n"), iotest.ErrReader(boom))
	_, _, err := readFHIR(t, in, "f.json", nil, Options{})
	e := wantErr(t, err, "f.json", 1, "", "disk on fire")
	if !errors.Is(e, boom) {
		t.Errorf("error %v does not wrap the read error", err)
	}
}

// bundleStream is a Bundle of n MedicationDispense entries, generated as
// it is read.
type bundleStream struct {
	n, i int
	buf  []byte
}

func (b *bundleStream) Read(p []byte) (int, error) {
	for len(b.buf) == 0 {
		switch {
		case b.i == 0:
			b.buf = []byte("{\n  \"resourceType\": \"Bundle\",\n  \"type\": \"collection\",\n  \"entry\": [\n")
		case b.i <= b.n:
			sep := ","
			if b.i == b.n {
				sep = ""
			}
			b.buf = fmt.Appendf(nil, `    {"fullUrl": "urn:uuid:%d", "resource": {"resourceType": "MedicationDispense", "id": "md%d", "status": "completed", "medicationCodeableConcept": {"text": "lisinopril"}, "subject": {"reference": "Patient/%d"}, "daysSupply": {"value": 30}, "whenHandedOver": "2026-01-%02dT10:00:00Z"}}%s`+"\n",
				b.i, b.i, b.i%500, 1+b.i%28, sep)
		case b.i == b.n+1:
			b.buf = []byte("  ]\n}\n")
		default:
			return 0, io.EOF
		}
		b.i++
	}
	n := copy(p, b.buf)
	b.buf = b.buf[n:]
	return n, nil
}

func TestFHIRReaderStreamsBundles(t *testing.T) {
	const n = 20_000 // about 5 MB
	r := NewFHIRReader(&bundleStream{n: n}, "big.json", testMapping(t), Options{})
	var rec kpi.Record
	count := 0
	for {
		err := r.Next(&rec)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		count++
		if want := int64(count + 4); rec.Pos.Line != want || rec.Pos.Record != int64(count) {
			t.Fatalf("record %d at %v, want line %d", count, rec.Pos, want)
		}
	}
	if count != n {
		t.Fatalf("%d records, want %d", count, n)
	}
	if c := cap(r.src.buf); c > 4*readChunk {
		t.Errorf("kept a buffer of %d bytes for a stream of small entries", c)
	}
}

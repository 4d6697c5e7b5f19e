package kpi

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestInputErrorText(t *testing.T) {
	tests := []struct {
		name string
		e    InputError
		want string
	}{
		{"csv field with hint", InputError{Pos: Position{File: "visits.csv", Line: 12}, Field: "value", Msg: `"abc" is not a number`, Hint: "use a decimal like 7 or 7.5"},
			`visits.csv:12: field value: "abc" is not a number; use a decimal like 7 or 7.5`},
		{"no field", InputError{Pos: Position{File: "visits.csv", Line: 1}, Msg: "the file is empty"}, "visits.csv:1: the file is empty"},
		{"record, no line", InputError{Pos: Position{File: "b.json", Record: 3}, Field: "entry", Msg: "is an object"}, "b.json: record 3: field entry: is an object"},
		{"contract path", InputError{Pos: Position{File: "nps.yaml", Line: 12}, Field: "group_by.care_setting", Path: true, Msg: `categories must be unique ("inpatient" appears twice)`},
			`nps.yaml:12: group_by.care_setting: categories must be unique ("inpatient" appears twice)`},
		{"contract, no line", InputError{Pos: Position{File: "nps.yaml"}, Path: true, Msg: "the file is empty"}, "nps.yaml: the file is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.e.Error(); got != tt.want {
				t.Errorf("Error() = %q, want %q", got, tt.want)
			}
		})
	}
	inner := errors.New("disk on fire")
	if e := (&InputError{Err: inner}); !errors.Is(e, inner) {
		t.Error("InputError does not unwrap to its read error")
	}
}

func TestRecordCheck(t *testing.T) {
	good := func() Record {
		return Record{ID: "r1", Subject: "s1", Measure: "nps", Value: DecimalFromInt(9),
			Time: time.Date(2026, 3, 14, 0, 0, 0, 0, time.UTC),
			Dims: []Dim{{"care_setting", "outpatient"}, {"sex", "f"}},
			Pos:  Position{File: "in.csv", Line: 7}}
	}
	tests := []struct {
		name  string
		edit  func(*Record)
		field string // "" when the record is good
		msg   string // part of the message
	}{
		{"good", func(*Record) {}, "", ""},
		{"no dims", func(r *Record) { r.Dims = nil }, "", ""},
		{"id of the limit", func(r *Record) { r.ID = strings.Repeat("x", MaxNameBytes) }, "", ""},
		{"unicode id", func(r *Record) { r.ID = "résumé/q1" }, "", ""},
		{"empty id", func(r *Record) { r.ID = "" }, "record_id", "is empty"},
		{"empty subject", func(r *Record) { r.Subject = "" }, "subject", "is empty"},
		{"empty measure", func(r *Record) { r.Measure = "" }, "measure", "is empty"},
		{"no time", func(r *Record) { r.Time = time.Time{} }, "time", "is missing"},
		{"id over the limit", func(r *Record) { r.ID = strings.Repeat("x", MaxNameBytes+1) }, "record_id", "is 257 bytes long; at most 256"},
		{"id with a newline", func(r *Record) { r.ID = "r\n1" }, "record_id", "control character (byte 0x0a at position 2)"},
		{"id with a C1 control", func(r *Record) { r.ID = "r\u00851" }, "record_id", "control character (byte 0xc2"},
		{"measure with NUL", func(r *Record) { r.Measure = "n\x00ps" }, "measure", "control character (byte 0x00"},
		{"measure with DEL", func(r *Record) { r.Measure = "nps\x7f" }, "measure", "control character (byte 0x7f"},
		{"measure over the limit", func(r *Record) { r.Measure = strings.Repeat("m", 300) }, "measure", "is 300 bytes long"},
		{"dim without a name", func(r *Record) { r.Dims[0].Name = "" }, "dims", "dimension 1 has no name"},
		{"dim without a value", func(r *Record) { r.Dims[1].Value = "" }, "dims", "dimension 2 (sex) has an empty value"},
		{"dims out of order", func(r *Record) { r.Dims[0], r.Dims[1] = r.Dims[1], r.Dims[0] }, "dims", "dimension 2 (care_setting) is out of order"},
		{"dim twice", func(r *Record) { r.Dims[1].Name = "care_setting" }, "dims", "is out of order or repeated"},
		{"dim name with a tab", func(r *Record) { r.Dims[0].Name = "care\tsetting" }, "dims", "its name contains a control character"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := good()
			tt.edit(&r)
			err := r.Check()
			if tt.field == "" {
				if err != nil {
					t.Fatalf("Check() = %v, want nil", err)
				}
				return
			}
			var ie *InputError
			if !errors.As(err, &ie) {
				t.Fatalf("Check() = %v (%T), want an *InputError", err, err)
			}
			if ie.Field != tt.field || !strings.Contains(ie.Msg, tt.msg) || ie.Pos != r.Pos {
				t.Errorf("Check() = %+v, want field %q, a message with %q, at %v", ie, tt.field, tt.msg, r.Pos)
			}
			if strings.Contains(err.Error(), r.Subject) && r.Subject != "" {
				t.Errorf("Check() = %q repeats the subject", err)
			}
		})
	}
}

// TestCellJSON pins the JSON of a cell that `results --json` prints and
// the governance state keeps: a suppressed cell has no count, a null
// value, and its reason; a preview cell carries no reason.
func TestCellJSON(t *testing.T) {
	n := int64(1234)
	tests := []struct {
		name string
		cell Cell
		want string
	}{
		{"released", Cell{Group: map[string]string{"care_setting": "outpatient", "period": "2026-Q1"}, Count: &n, Value: 41.7,
			Local: &LocalValue{Count: 310, Value: 38.2}},
			`{"group":{"care_setting":"outpatient","period":"2026-Q1"},"count":1234,"value":41.7,"suppressed":false,"local":{"count":310,"value":38.2}}`},
		{"suppressed", Cell{Group: map[string]string{}, Suppressed: true, Reason: "min_cohort"},
			`{"group":{},"value":null,"suppressed":true,"reason":"min_cohort"}`},
		{"histogram", Cell{Group: nil, Count: &n, Value: []int64{1, 2}}, `{"group":null,"count":1234,"value":[1,2],"suppressed":false}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := json.Marshal(tt.cell)
			if err != nil || string(b) != tt.want {
				t.Errorf("json = %s, %v; want %s", b, err, tt.want)
			}
		})
	}
}

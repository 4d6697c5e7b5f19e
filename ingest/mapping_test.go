package ingest

import (
	"reflect"
	"testing"

	"github.com/cxnet/cxnet/kpi"
)

func TestParseMapping(t *testing.T) {
	m, err := ParseMapping([]byte(readFile(t, "testdata/map.yaml")), "map.yaml")
	if err != nil {
		t.Fatal(err)
	}
	want := &Mapping{
		File:          "map.yaml",
		Questionnaire: "http://example.org/Questionnaire/nps",
		Items: []MappedItem{
			{LinkID: "q1", Measure: "nps"},
			{LinkID: "q2", Measure: "recommend_staff", Values: map[string]kpi.Decimal{"No": kpi.MustDecimal("0"), "Yes": kpi.MustDecimal("1")}},
		},
		DimItems:    []DimItem{{Dim: "age_band", LinkID: "age"}},
		Dims:        []kpi.Dim{{Name: "care_setting", Value: "outpatient"}},
		DrugClasses: map[string]string{"LISINOPRIL": "RASA", "314076": "RASA"},
	}
	if !reflect.DeepEqual(m, want) {
		t.Errorf("ParseMapping:\n got %+v\nwant %+v", m, want)
	}
}

func TestParseMappingValues(t *testing.T) {
	m, err := ParseMapping([]byte(`
items:
  - link_id: 3.10     # unquoted: kept as written
    measure: smoker
    values: {No: 0, "Yes": 1, "true": 2.5, maybe: "-1"}
`), "m.yaml")
	if err != nil {
		t.Fatal(err)
	}
	it := m.Items[0]
	if it.LinkID != "3.10" {
		t.Errorf("link_id %q, want 3.10 as written", it.LinkID)
	}
	want := map[string]kpi.Decimal{"No": kpi.MustDecimal("0"), "Yes": kpi.MustDecimal("1"), "true": kpi.MustDecimal("2.5"), "maybe": kpi.MustDecimal("-1")}
	if !reflect.DeepEqual(it.Values, want) {
		t.Errorf("values %v, want %v", it.Values, want)
	}
}

func TestParseMappingErrors(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		line  int64
		field string
		parts []string
	}{
		{"empty file", "", 1, "", []string{"the mapping is empty"}},
		{"only comments", "# nothing\n\n", 1, "", []string{"the mapping is empty"}},
		{"not a map", "- a\n- b\n", 1, "", []string{"not a list"}},
		{"maps nothing", "questionnaire: x\n", 1, "", []string{"maps nothing"}},
		{"unknown key", "items:\n  - link_id: q1\n    measure: nps\nitem_map: {}\n", 4, "item_map", []string{"map.yaml:4: field item_map: unknown key"}},
		{"unknown item key", "items:\n  - link_id: q1\n    measur: nps\n", 3, "items[0].measur", []string{"unknown key"}},
		{"item without link_id", "items:\n  - link_id: q1\n    measure: nps\n  - measure: other\n", 4, "items[1].link_id", []string{"is missing"}},
		{"item without measure", "items:\n  - link_id: q1\n", 2, "items[0].measure", []string{"is missing"}},
		{"empty measure", "items:\n  - link_id: q1\n    measure: \"\"\n", 3, "items[0].measure", []string{"is empty"}},
		{"measure with control character", "items:\n  - link_id: q1\n    measure: \"a\\tb\"\n", 3, "items[0].measure", []string{"control character"}},
		{"duplicate link_id", "items:\n  - link_id: q1\n    measure: a\n  - link_id: \"q1\"\n    measure: b\n", 4, "items[1].link_id",
			[]string{`"q1" is mapped twice (first on line 2)`}},
		{"non-numeric value", "items:\n  - link_id: q1\n    measure: a\n    values:\n      \"Yes\": 1\n      \"No\": none\n", 6, "items[0].values.No",
			[]string{`"none" is not a number`}},
		{"values not a map", "items:\n  - link_id: q1\n    measure: a\n    values: [1, 2]\n", 4, "items[0].values", []string{"not a list"}},
		{"items not a list", "items:\n  link_id: q1\n", 2, "items", []string{"must be a list"}},
		{"duplicate key", "items: []\ndims: {a: b}\ndims: {c: d}\n", 3, "dims", []string{"appears twice (first on line 2)"}},
		{"empty dim value", "dims:\n  care_setting:\n", 2, "dims.care_setting", []string{"is empty"}},
		{"dim both constant and from an item", "dims: {sex: male}\ndim_items: {sex: \"2.1\"}\n", 2, "dim_items.sex", []string{"also set in dims"}},
		// yaml.v3 reports the line of the enclosing block for parser errors.
		{"YAML syntax error", "items:\n  - link_id: q1\n   measure: [\n", 1, "", []string{"not valid YAML", "did not find expected '-' indicator"}},
		{"tab indentation", "items:\n\t- link_id: q1\n", 2, "", []string{"not valid YAML"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := ParseMapping([]byte(tt.in), "map.yaml")
			if err == nil {
				t.Fatalf("no error; mapping %+v", m)
			}
			wantErr(t, err, "map.yaml", tt.line, tt.field, tt.parts...)
		})
	}
}

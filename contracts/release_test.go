package contracts

import (
	"encoding/json"
	"errors"
	"math/big"
	"os"
	"reflect"
	"testing"
)

func TestRelease(t *testing.T) {
	tests := []struct {
		name     string
		contract string
		comps    []int64
		want     any
	}{
		{"count", "aggregate: count\n", []int64{5}, int64(5)},
		{"sum", "aggregate: sum\nvalue_range: [0, 1000]\nprecision: 2\n", []int64{3, 12345}, 123.45},
		{"sum of nothing", "aggregate: sum\nvalue_range: [0, 1000]\nprecision: 2\n", []int64{0, 0}, 0.0},
		{"mean to six significant digits", "aggregate: mean\nvalue_range: [0, 10]\nprecision: 1\n", []int64{3, 20}, 0.666667},
		{"mean keeps its precision", "aggregate: mean\nvalue_range: [0, 1e9]\nprecision: 2\n", []int64{1, 12345678}, 123456.78},
		{"mean of nothing", "aggregate: mean\nvalue_range: [0, 10]\n", []int64{0, 0}, nil},
		{"mean clamped to the range", "aggregate: mean\nvalue_range: [0, 10]\n", []int64{2, 30}, 10.0},
		{"variance", "aggregate: variance\nvalue_range: [0, 10]\n", []int64{4, 10, 30}, 1.25},
		{"variance scaled by precision", "aggregate: variance\nvalue_range: [0, 10]\nprecision: 1\n", []int64{4, 100, 3000}, 1.25},
		{"variance of one value", "aggregate: variance\nvalue_range: [0, 10]\n", []int64{1, 7, 49}, 0.0},
		{"variance with noise below zero", "aggregate: variance\nvalue_range: [0, 10]\n", []int64{2, 10, 40}, 0.0},
		{"proportion", "aggregate: proportion\nthreshold: 1\n", []int64{3, 1}, 0.333333},
		{"proportion with noise above one", "aggregate: proportion\nthreshold: 1\n", []int64{3, 4}, 1.0},
		{"nps", "aggregate: nps\n", []int64{6, 3, 1}, 33.3333},
		{"nps of nothing", "aggregate: nps\n", []int64{0, 0, 0}, nil},
		{"histogram", "aggregate: histogram\nvalue_range: [0, 10]\nbins: [0, 7, 9, 11]\n", []int64{5, 1, 3, 1}, []int64{1, 3, 1}},
		{"pdc_rate", "aggregate: pdc_rate\nwindow: {from: 2026-01-01, to: 2026-12-31}\n", []int64{4, 3}, 0.75},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := mustParse(t, "id: release-test\nmeasure: m\nparticipants: [aa]\n"+tt.contract)
			cells, err := c.Release(tt.comps)
			if err != nil {
				t.Fatal(err)
			}
			if len(cells) != 1 || cells[0].Count != tt.comps[0] {
				t.Fatalf("cells = %+v", cells)
			}
			if got := cells[0].Value; !reflect.DeepEqual(got, tt.want) {
				t.Errorf("value = %#v, want %#v", got, tt.want)
			}
		})
	}
}

func TestReleaseRejects(t *testing.T) {
	c := mustParse(t, "id: release-test\nmeasure: m\naggregate: nps\ngroup_by: {site: [a, b]}\nparticipants: [aa]\n")
	for _, comps := range [][]int64{nil, {1, 0, 0}, {1, 0, 0, 1, 0, 0, 0}, {1, 0, 0, -1, 0, 0}} {
		if _, err := c.Release(comps); !errors.Is(err, ErrComponents) {
			t.Errorf("Release(%v) error = %v, want ErrComponents", comps, err)
		}
	}
	_, err := c.Release([]int64{1, 0, 0, -1, 0, 0})
	if want := "contracts: release-test: release: invalid components: cell 1 (site=b) has a negative count -1"; err == nil || err.Error() != want {
		t.Errorf("error = %v, want %q", err, want)
	}
}

func TestReleaseJSON(t *testing.T) {
	data, err := os.ReadFile("testdata/nps.yaml")
	if err != nil {
		t.Fatal(err)
	}
	c, err := Parse(data, "nps.yaml")
	if err != nil {
		t.Fatal(err)
	}
	comps := make([]int64, len(c.Cells())*c.Width())
	copy(comps, []int64{3, 2, 1})
	cells, err := c.Release(comps)
	if err != nil {
		t.Fatal(err)
	}
	got, err := json.Marshal(cells[:2])
	if err != nil {
		t.Fatal(err)
	}
	want := `[{"group":{"care_setting":"inpatient","period":"2026-Q1"},"count":3,"value":33.3333},` +
		`{"group":{"care_setting":"inpatient","period":"2026-Q2"},"count":0,"value":null}]`
	if string(got) != want {
		t.Errorf("JSON:\n got %s\nwant %s", got, want)
	}
}

func TestRoundSignificant(t *testing.T) {
	tests := []struct {
		r           *big.Rat
		sig, minDec int
		want        float64
	}{
		{big.NewRat(1, 3), 6, 0, 0.333333},
		{big.NewRat(-2, 3), 6, 0, -0.666667},
		{big.NewRat(2, 3000), 6, 0, 0.000666667},
		{big.NewRat(1234567891, 1000), 6, 0, 1234568},
		{big.NewRat(1234567891, 1000), 6, 2, 1234567.89},
		{big.NewRat(25, 2), 2, 0, 13},
		{big.NewRat(-25, 2), 2, 0, -13},
		{big.NewRat(-1, 3_000_000_000), 1, 0, -0.0000000003},
		{new(big.Rat), 6, 3, 0},
	}
	for _, tt := range tests {
		if got := roundSignificant(tt.r, tt.sig, tt.minDec); got != tt.want {
			t.Errorf("roundSignificant(%v, %d, %d) = %v, want %v", tt.r, tt.sig, tt.minDec, got, tt.want)
		}
	}
}

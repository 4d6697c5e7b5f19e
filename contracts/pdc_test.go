package contracts

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cxnet/cxnet/kpi"
)

// dispense builds a dispense observation: "patient", "2026-01-03", days
// supply, then dims as name=value.
func dispense(t testing.TB, patient byte, date, days string, dims ...string) kpi.Observation {
	t.Helper()
	d, err := time.Parse(time.DateOnly, date)
	if err != nil {
		t.Fatal(err)
	}
	o := kpi.Observation{Measure: "dispense.days_supply", Value: kpi.MustDecimal(days), Day: kpi.DayOf(d), Unix: d.Unix()}
	o.Subject[0] = patient
	for _, kv := range dims {
		name, value, _ := strings.Cut(kv, "=")
		o.Dims = append(o.Dims, kpi.Dim{Name: name, Value: value})
	}
	slices.SortFunc(o.Dims, func(a, b kpi.Dim) int { return strings.Compare(a.Name, b.Name) })
	return o
}

const pdcTen = `id: pdc-test
measure: dispense.days_supply
aggregate: pdc_rate
window: {from: 2026-01-01, to: 2026-01-10}
participants: [aa]
`

func TestPDC(t *testing.T) {
	tests := []struct {
		name     string
		contract string
		fills    []kpi.Observation
		want     []int64 // per cell: patients, adherent
	}{
		{"overlapping fills of one drug shift forward", pdcTen, []kpi.Observation{
			dispense(t, 1, "2026-01-01", "5", "drug=d1", "drug_class=C"),
			dispense(t, 1, "2026-01-03", "5", "drug=d1", "drug_class=C"), // covers 6..10, not 3..7
		}, []int64{1, 1}},
		{"fills on one day chain", pdcTen, []kpi.Observation{
			dispense(t, 1, "2026-01-01", "4", "drug=d1", "drug_class=C"),
			dispense(t, 1, "2026-01-01", "4", "drug=d1", "drug_class=C"),
		}, []int64{1, 1}},
		{"two drugs of one class are unioned, not added", pdcTen, []kpi.Observation{
			dispense(t, 1, "2026-01-01", "4", "drug=d1", "drug_class=C"), // 1..4
			dispense(t, 1, "2026-01-03", "4", "drug=d2", "drug_class=C"), // 3..6: 6 days, not 8
		}, []int64{1, 0}},
		{"two drugs of one class reach 0.8 together", pdcTen, []kpi.Observation{
			dispense(t, 1, "2026-01-01", "5", "drug=d1", "drug_class=C"), // 1..5
			dispense(t, 1, "2026-01-04", "5", "drug=d2", "drug_class=C"), // 4..8
		}, []int64{1, 1}},
		{"first fill mid-window starts the interval", pdcTen, []kpi.Observation{
			dispense(t, 1, "2026-01-06", "5", "drug=d1", "drug_class=C"), // 5 of 5 days
		}, []int64{1, 1}},
		{"fill before the window is ignored", pdcTen, []kpi.Observation{
			dispense(t, 1, "2025-12-25", "30", "drug=d1", "drug_class=C"),
			dispense(t, 1, "2026-01-05", "4", "drug=d1", "drug_class=C"), // 4 of 6 days
		}, []int64{1, 0}},
		{"fill after the window is ignored", pdcTen, []kpi.Observation{
			dispense(t, 1, "2026-01-11", "30", "drug=d1", "drug_class=C"),
		}, []int64{0, 0}},
		{"PDC exactly 0.8 is adherent", pdcTen, []kpi.Observation{
			dispense(t, 1, "2026-01-01", "8", "drug=d1", "drug_class=C"),
		}, []int64{1, 1}},
		{"PDC 0.7 is not", pdcTen, []kpi.Observation{
			dispense(t, 1, "2026-01-01", "7", "drug=d1", "drug_class=C"),
		}, []int64{1, 0}},
		{"days supply rounds half away from zero", pdcTen, []kpi.Observation{
			dispense(t, 1, "2026-01-01", "7.5", "drug=d1", "drug_class=C"),  // 8 days
			dispense(t, 2, "2026-01-01", "7.49", "drug=d1", "drug_class=C"), // 7 days
		}, []int64{2, 1}},
		{"zero or negative supply is no fill", pdcTen, []kpi.Observation{
			dispense(t, 1, "2026-01-01", "0.4", "drug=d1", "drug_class=C"),
			dispense(t, 1, "2026-01-02", "-3", "drug=d1", "drug_class=C"),
			dispense(t, 1, "2026-01-05", "6", "drug=d1", "drug_class=C"), // first fill: 6 of 6 days
		}, []int64{1, 1}},
		{"supply beyond the window's end is clipped", pdcTen, []kpi.Observation{
			dispense(t, 1, "2026-01-09", "1000000", "drug=d1", "drug_class=C"),
		}, []int64{1, 1}},
		{"a gap between fills", pdcTen, []kpi.Observation{
			dispense(t, 1, "2026-01-01", "3", "drug=d1", "drug_class=C"),
			dispense(t, 1, "2026-01-08", "3", "drug=d1", "drug_class=C"), // 6 of 10 days
		}, []int64{1, 0}},
		{"without a class each drug is its own class", pdcTen, []kpi.Observation{
			dispense(t, 1, "2026-01-01", "10", "drug=d1"),
			dispense(t, 1, "2026-01-01", "2", "drug=d2"),
		}, []int64{2, 1}},
		{"without drug and class a fill is skipped", pdcTen, []kpi.Observation{
			dispense(t, 1, "2026-01-01", "10"),
		}, []int64{0, 0}},
		{"patients are separate pairs", pdcTen, []kpi.Observation{
			dispense(t, 1, "2026-01-01", "10", "drug=d1", "drug_class=C"),
			dispense(t, 2, "2026-01-01", "1", "drug=d1", "drug_class=C"),
			dispense(t, 3, "2026-01-05", "6", "drug=d1", "drug_class=C"),
		}, []int64{3, 2}},
		{"value_range clips days supply", pdcTen + "value_range: [0, 5]\n", []kpi.Observation{
			dispense(t, 1, "2026-01-01", "90", "drug=d1", "drug_class=C"), // 5 days
		}, []int64{1, 0}},
		{"each period is its own window", `id: pdc-test
measure: dispense.days_supply
aggregate: pdc_rate
window: {from: 2026-02-01, to: 2026-06-30}
period: quarter
participants: [aa]
`, []kpi.Observation{
			dispense(t, 1, "2026-03-01", "90", "drug=d1", "drug_class=C"), // Q1 ∩ window: Mar 1..31 covered
			dispense(t, 2, "2026-02-01", "30", "drug=d1", "drug_class=C"), // Q1 ∩ window: Feb 1..Mar 31, 30 of 59 days
			dispense(t, 2, "2026-06-20", "5", "drug=d1", "drug_class=C"),  // Q2: Jun 20..30, 5 of 11 days
		}, []int64{2, 1, 1, 0}},
		{"the first fill decides the group", pdcTen + "group_by: {site: [n, s]}\n", []kpi.Observation{
			dispense(t, 1, "2026-01-03", "5", "drug=d1", "drug_class=C", "site=s"),
			dispense(t, 1, "2026-01-01", "2", "drug=d1", "drug_class=C", "site=n"), // first: 1..2, 3..7 = 7 of 10
		}, []int64{1, 0, 0, 0}},
		{"the filter applies per fill", pdcTen + "filter: {drug_class: [C]}\n", []kpi.Observation{
			dispense(t, 1, "2026-01-01", "10", "drug=d1", "drug_class=D"),
			dispense(t, 1, "2026-01-05", "6", "drug=d2", "drug_class=C"),
		}, []int64{1, 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := mustParse(t, tt.contract)
			a := c.NewAccumulator()
			for i := range tt.fills {
				a.Add(&tt.fills[i])
			}
			got, err := a.Components()
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("components = %v, want %v (cells %v)", got, tt.want, c.Cells())
			}
			again, _ := a.Components()
			if !slices.Equal(again, got) {
				t.Errorf("second Components() = %v, first %v", again, got)
			}
		})
	}
}

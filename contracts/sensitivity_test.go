package contracts

import (
	"fmt"
	"strings"
	"testing"

	"pgregory.net/rapid"

	"github.com/cxnet/cxnet/kpi"
)

// sensShape is a contract whose sensitivity is searched for: its fields
// besides id, measure and participants.
type sensShape struct {
	name string
	yaml string
}

// sensWindow is four days over two months: with period: month, two
// periods of two days.
const sensWindow = "window: {from: 2026-01-30, to: 2026-02-02}\n"

// sensShapes returns every aggregate in every layout (one cell; group_by;
// periods; both: 1 to 4 cells), and contracts whose threshold,
// value_range, filter or group_by dimension change, or could change, the
// aggregate's usual sensitivity.
func sensShapes() []sensShape {
	aggregates := []sensShape{
		{"count", "aggregate: count\n"},
		{"sum", "aggregate: sum\nvalue_range: [-2, 3]\n"},
		{"mean", "aggregate: mean\nvalue_range: [-0.25, 0.5]\nprecision: 1\n"}, // M = 5: 0.5 → 5, -0.25 → -3
		{"variance", "aggregate: variance\nvalue_range: [-2, 3]\n"},
		{"proportion", "aggregate: proportion\nthreshold: 1\n"},
		{"nps", "aggregate: nps\n"},
		{"histogram", "aggregate: histogram\nvalue_range: [-2, 3]\nbins: [-2, 0, 1, 4]\n"},
		{"pdc_rate", "aggregate: pdc_rate\n"},
	}
	layouts := []sensShape{
		{"one cell", ""},
		{"group_by", "group_by: {site: [a, b, c]}\n"},
		{"period", sensWindow + "period: month\n"},
		{"group_by and period", "group_by: {site: [a, b]}\n" + sensWindow + "period: month\n"},
	}
	var shapes []sensShape
	for _, a := range aggregates {
		for _, l := range layouts {
			y := a.yaml + l.yaml
			if a.name == "pdc_rate" && !strings.Contains(y, "window:") {
				y += sensWindow
			}
			shapes = append(shapes, sensShape{a.name + ", " + l.name, y})
		}
	}
	pdc := "aggregate: pdc_rate\n" + sensWindow
	return append(shapes, []sensShape{
		{"proportion, threshold above value_range", "aggregate: proportion\nthreshold: 5\nvalue_range: [0, 3]\n"},
		{"nps, value_range of passives only", "aggregate: nps\nvalue_range: [7, 8]\n"},
		{"count, filter excludes every group_by category", "aggregate: count\nfilter: {site: [c]}\ngroup_by: {site: [a, b]}\n"},
		{"sum, filter keeps one group_by category", "aggregate: sum\nvalue_range: [-2, 3]\nfilter: {site: [a, c]}\ngroup_by: {site: [a, b]}\n"},
		{"pdc_rate, group_by drug_class", pdc + "group_by: {drug_class: [C, d1]}\n"},
		{"pdc_rate, group_by drug", pdc + "group_by: {drug: [C, d1, d2]}\n"},
		{"pdc_rate, filter keeps one group_by category", pdc + "filter: {site: [a]}\ngroup_by: {site: [a, b]}\n"},
		{"pdc_rate, group_by, days of supply capped at 1", pdc + "value_range: [0, 1]\ngroup_by: {site: [a, b]}\n"},
		{"pdc_rate, days of supply round to 0", pdc + "value_range: [0, 0.4]\ngroup_by: {site: [a, b]}\n"},
	}...)
}

// sensDomain returns the records the search draws from (patient 1): dates
// inside and outside sensWindow, on both sides of the month boundary;
// values inside, on and outside the value ranges and thresholds of
// sensShapes (dispenses: days of supply that round to 0, 1 and 3); sites
// declared, undeclared and missing; for dispenses, drugs with and without
// a class, and without either; and a record of another measure.
func sensDomain(pdc bool) []kpi.Observation {
	days := []string{"2026-01-29", "2026-01-31", "2026-02-01"}
	values := []string{"-3", "-0.25", "0", "0.44", "1", "4", "6", "7", "9"}
	sites := []string{"a", "b", "c", ""}
	drugs := [][]kpi.Dim{nil}
	if pdc {
		days = []string{"2026-01-29", "2026-01-30", "2026-01-31", "2026-02-01", "2026-02-02"}
		values = []string{"0.4", "1", "3"}
		drugs = [][]kpi.Dim{
			{{Name: PDCDrugDim, Value: "C"}}, // class C, named by the drug
			{{Name: PDCDrugDim, Value: "d1"}, {Name: PDCClassDim, Value: "C"}},
			{{Name: PDCDrugDim, Value: "d2"}, {Name: PDCClassDim, Value: "C"}},
			{{Name: PDCDrugDim, Value: "d1"}}, // class d1
		}
		sites = []string{"a", "b", ""}
	}
	var out []kpi.Observation
	for _, day := range days {
		for _, v := range values {
			for _, drug := range drugs {
				for _, site := range sites {
					dims := append([]kpi.Dim(nil), drug...) // drug < drug_class < site
					if site != "" {
						dims = append(dims, kpi.Dim{Name: "site", Value: site})
					}
					out = append(out, sensRecord("m", day, v, dims))
				}
			}
		}
	}
	out = append(out, sensRecord("other", "2026-01-31", "3", []kpi.Dim{{Name: PDCDrugDim, Value: "C"}, {Name: "site", Value: "a"}}))
	if pdc {
		out = append(out, sensRecord("m", "2026-01-31", "3", []kpi.Dim{{Name: "site", Value: "a"}})) // neither drug nor class
	}
	return out
}

func sensRecord(measure, date, value string, dims []kpi.Dim) kpi.Observation {
	day, ok := parseDate(date)
	if !ok {
		panic("bad date " + date)
	}
	o := kpi.Observation{Measure: measure, Value: kpi.MustDecimal(value), Day: day, Dims: dims}
	o.Subject[0] = 1
	return o
}

// sensComponents returns the components of data. It is called some
// hundred thousand times, so it does not mark itself a helper.
func sensComponents(t rapid.TB, c *Contract, data ...kpi.Observation) []int64 {
	a := c.NewAccumulator()
	for i := range data {
		a.Add(&data[i])
	}
	comp, err := a.Components()
	if err != nil {
		t.Fatalf("components of %s: %v", sensDescribe(data), err)
	}
	return comp
}

func sensDescribe(data []kpi.Observation) string {
	var b strings.Builder
	b.WriteString("[")
	for i, o := range data {
		if i > 0 {
			b.WriteString("; ")
		}
		fmt.Fprintf(&b, "%s patient %d %s value %s", o.Measure, o.Subject[0], formatDay(o.Day), o.Value)
		for _, d := range o.Dims {
			fmt.Fprintf(&b, " %s=%s", d.Name, d.Value)
		}
	}
	b.WriteString("]")
	return b.String()
}

// l1 returns the L1 distance between two component vectors.
func l1(a, b []int64) int64 {
	var d int64
	for i := range a {
		d += max(a[i]-b[i], b[i]-a[i])
	}
	return d
}

// sensSearch keeps the largest change one record made, and checks each
// against the contract's sensitivity.
type sensSearch struct {
	c       *Contract
	want    float64
	found   int64
	witness string
}

// neighbours records the distance between dataset from and from with o
// added (to == comp(from + o)).
func (s *sensSearch) neighbours(t rapid.TB, from []kpi.Observation, o kpi.Observation, compFrom, compTo []int64) {
	d := l1(compFrom, compTo)
	if d <= s.found && float64(d) <= s.want {
		return
	}
	w := fmt.Sprintf("dataset %s, and it with %s: components %v and %v", sensDescribe(from), sensDescribe([]kpi.Observation{o}), compFrom, compTo)
	if float64(d) > s.want {
		t.Fatalf("one record changes the components by %d in L1 norm, above Sensitivity() = %g: %s", d, s.want, w)
	}
	s.found, s.witness = d, w
}

// exhaustive searches every dataset of at most one record of domain and
// its neighbours with a second record of domain added, computing the
// components of each dataset of two records once.
func (s *sensSearch) exhaustive(t *testing.T, domain []kpi.Observation) {
	empty := sensComponents(t, s.c)
	single := make([][]int64, len(domain))
	for i, o := range domain {
		single[i] = sensComponents(t, s.c, o)
		s.neighbours(t, nil, o, empty, single[i])
	}
	for i, a := range domain {
		for j := i; j < len(domain); j++ {
			b := domain[j]
			two := sensComponents(t, s.c, a, b)
			s.neighbours(t, []kpi.Observation{a}, b, single[i], two)
			s.neighbours(t, []kpi.Observation{b}, a, single[j], two)
		}
	}
}

// random checks data against its neighbours with one of its records
// removed, or one of extra added.
func (s *sensSearch) random(t rapid.TB, data, extra []kpi.Observation) {
	comp := sensComponents(t, s.c, data...)
	for i := range data {
		rest := append(append([]kpi.Observation(nil), data[:i]...), data[i+1:]...)
		s.neighbours(t, rest, data[i], sensComponents(t, s.c, rest...), comp)
	}
	for _, o := range extra {
		s.neighbours(t, data, o, comp, sensComponents(t, s.c, append(data[:len(data):len(data)], o)...))
	}
}

// TestSensitivityBruteForce checks Sensitivity against the largest change
// one record makes, found by brute force for every aggregate and layout:
// never below it, and equal to it (the bound is tight).
//
// The search first takes every dataset of at most one record of
// sensDomain with all its neighbours (a second record of the domain
// added). That reaches the bound of every shape: one record alone makes
// the largest change of every aggregate but pdc_rate, and pdc_rate's 4 is
// two fills of one patient's drug class in two cells. rapid then draws
// larger datasets (up to seven records of two patients), where fills
// shift, overlap and cross periods, and checks that no neighbour (one
// record removed, or one of a few drawn records added) is farther; it
// prints the seed (-rapid.seed) of a dataset that is.
func TestSensitivityBruteForce(t *testing.T) {
	for _, sh := range sensShapes() {
		t.Run(sh.name, func(t *testing.T) {
			c := govContract(t, []byte("id: sens\nmeasure: m\n"+sh.yaml+"participants: [hosp-a]\n"))
			s := &sensSearch{c: c, want: c.Sensitivity()}
			domain := sensDomain(c.Aggregate == AggregatePDCRate)
			s.exhaustive(t, domain)
			record := rapid.Custom(func(t *rapid.T) kpi.Observation {
				o := rapid.SampledFrom(domain).Draw(t, "record")
				o.Subject[0] = byte(rapid.IntRange(1, 2).Draw(t, "patient"))
				return o
			})
			rapid.Check(t, func(t *rapid.T) {
				data := rapid.SliceOfN(record, 0, 7).Draw(t, "data")
				extra := rapid.SliceOfN(record, 1, 6).Draw(t, "extra")
				s.random(t, data, extra)
			})
			if s.witness == "" {
				s.witness = "no record changes anything"
			}
			if float64(s.found) != s.want {
				t.Errorf("the largest change found is %d (%s), but Sensitivity() = %g: the bound is not tight", s.found, s.witness, s.want)
			}
			t.Logf("largest change %d: %s", s.found, s.witness)
		})
	}
}

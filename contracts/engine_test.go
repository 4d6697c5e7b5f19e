package contracts

import (
	"errors"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/cxnet/cxnet/kpi"
)

// obs builds an observation of measure "m" on a date with a value and
// dims given as name=value.
func obs(t testing.TB, date, value string, dims ...string) kpi.Observation {
	t.Helper()
	o := dispense(t, 0, date, value, dims...)
	o.Measure = "m"
	return o
}

// accumulate runs observations through a fresh accumulator.
func accumulate(t testing.TB, c *Contract, os ...kpi.Observation) ([]int64, error) {
	t.Helper()
	a := c.NewAccumulator()
	for i := range os {
		a.Add(&os[i])
	}
	return a.Components()
}

func TestAccumulatorSkips(t *testing.T) {
	c := mustParse(t, `id: skip-test
measure: m
aggregate: count
filter: {area: [a, b]}
group_by: {site: [n, s]}
window: {from: 2026-01-01, to: 2026-01-31}
participants: [aa]
`)
	other := obs(t, "2026-01-10", "1", "area=a", "site=n")
	other.Measure = "m2"
	got, err := accumulate(t, c,
		obs(t, "2026-01-01", "1", "area=a", "site=n"), // counted: first day
		obs(t, "2026-01-31", "1", "area=b", "site=s"), // counted: last day
		obs(t, "2026-01-10", "1", "area=a", "site=s", "zz=extra"),
		obs(t, "2025-12-31", "1", "area=a", "site=n"), // before the window
		obs(t, "2026-02-01", "1", "area=a", "site=n"), // after it
		obs(t, "2026-01-10", "1", "area=c", "site=n"), // filtered out
		obs(t, "2026-01-10", "1", "site=n"),           // filter dim missing
		obs(t, "2026-01-10", "1", "area=a"),           // group dim missing
		obs(t, "2026-01-10", "1", "area=a", "site=e"), // undeclared category
		other,
	)
	if err != nil {
		t.Fatal(err)
	}
	if want := []int64{1, 2}; !slices.Equal(got, want) {
		t.Errorf("components = %v, want %v", got, want)
	}
}

func TestAccumulatorValues(t *testing.T) {
	tests := []struct {
		name     string
		contract string
		values   []string
		want     []int64
	}{
		{"sum rounds half away from zero", "aggregate: sum\nvalue_range: [-10, 10]\nprecision: 1\n",
			[]string{"1.45", "-0.05", "0.04"}, []int64{3, 15 - 1 + 0}},
		{"sum rounds at precision 0", "aggregate: sum\nvalue_range: [-10, 10]\n",
			[]string{"2.5", "-2.5", "0.49"}, []int64{3, 0}}, // 3 - 3 + 0,
		{"sum clips before rounding", "aggregate: sum\nvalue_range: [0, 0.4]\n",
			[]string{"0.6", "-1"}, []int64{2, 0}},
		{"huge values are clipped, not overflowed", "aggregate: mean\nvalue_range: [0, 10]\nprecision: 6\n",
			[]string{"123456789012345678", "-9e17"}, []int64{2, 10_000_000}},
		{"variance sums squares of fixed-point values", "aggregate: variance\nvalue_range: [0, 10]\nprecision: 1\n",
			[]string{"1.25", "2", "20"}, []int64{3, 13 + 20 + 100, 169 + 400 + 10000}},
		{"proportion compares the exact value", "aggregate: proportion\nthreshold: 7.45\n",
			[]string{"7.449", "7.45", "7.5", "7.4499999999"}, []int64{4, 2}},
		{"proportion compares the clipped value", "aggregate: proportion\nthreshold: 10\nvalue_range: [0, 10]\n",
			[]string{"12", "9.99"}, []int64{2, 1}},
		{"proportion threshold above the range", "aggregate: proportion\nthreshold: 10.5\nvalue_range: [0, 10]\n",
			[]string{"12"}, []int64{1, 0}},
		{"nps boundaries", "aggregate: nps\n",
			[]string{"9", "8.99", "6", "6.01", "11", "-1", "10", "7"}, []int64{8, 3, 2}},
		{"nps with a narrower range", "aggregate: nps\nvalue_range: [7, 8]\n",
			[]string{"10", "0"}, []int64{2, 0, 0}},
		{"histogram bins", "aggregate: histogram\nvalue_range: [0, 10]\nbins: [0, 7, 9, 11]\n",
			[]string{"0", "6.99", "7", "8.999", "9", "10", "15", "-3"}, []int64{8, 3, 2, 3}},
		{"count ignores values", "aggregate: count\n",
			[]string{"1e17", "-5"}, []int64{2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := mustParse(t, "id: value-test\nmeasure: m\nparticipants: [aa]\n"+tt.contract)
			var os []kpi.Observation
			for _, v := range tt.values {
				os = append(os, obs(t, "2026-01-01", v))
			}
			got, err := accumulate(t, c, os...)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("components = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestAccumulatorOverflow(t *testing.T) {
	tests := []struct {
		name     string
		contract string
		value    string
		n        int
	}{
		{"sum", "aggregate: sum\nvalue_range: [0, 900000000000000000]\n", "9e17", 11},
		{"negative sum", "aggregate: sum\nvalue_range: [-900000000000000000, 0]\n", "-9e17", 11},
		{"sum of squares", "aggregate: variance\nvalue_range: [0, 3000000000]\n", "3e9", 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := mustParse(t, "id: overflow-test\nmeasure: m\nparticipants: [aa]\n"+tt.contract)
			a := c.NewAccumulator()
			o := obs(t, "2026-01-01", tt.value)
			for range tt.n - 1 {
				a.Add(&o)
			}
			if _, err := a.Components(); err != nil {
				t.Fatalf("overflow one value early: %v", err)
			}
			a.Add(&o)
			_, err := a.Components()
			if !errors.Is(err, ErrOverflow) {
				t.Fatalf("Components() error = %v, want ErrOverflow", err)
			}
			if want := "contracts: overflow-test: fixed-point sum overflows"; !strings.HasPrefix(err.Error(), want) {
				t.Errorf("error %q, want it to start with %q", err, want)
			}
		})
	}
}

func TestAccumulatorInvalidContract(t *testing.T) {
	for _, c := range []*Contract{
		{},
		{ID: "x", Measure: "m", Aggregate: AggregateHistogram},
		{ID: "x", Measure: "m", Aggregate: AggregatePDCRate},
		{ID: "x", Measure: "m", Aggregate: AggregateCount, Period: PeriodMonth},
		{ID: "x", Measure: "m", Aggregate: AggregateCount, GroupBy: []GroupDim{{Name: "a"}}},
	} {
		a := c.NewAccumulator()
		o := obs(t, "2026-01-01", "1")
		a.Add(&o)
		if _, err := a.Components(); !errors.Is(err, ErrInvalidContract) {
			t.Errorf("%+v: Components() error = %v, want ErrInvalidContract", c, err)
		}
	}
}

func TestAddDoesNotAllocate(t *testing.T) {
	for _, agg := range []string{
		"aggregate: nps",
		"aggregate: mean\nvalue_range: [0, 10]\nprecision: 2",
		"aggregate: variance\nvalue_range: [0, 10]\nprecision: 2",
		"aggregate: proportion\nthreshold: 7.5\nvalue_range: [0, 10]",
		"aggregate: histogram\nvalue_range: [0, 10]\nbins: [0, 7, 9, 11]",
	} {
		c := mustParse(t, `id: alloc-test
measure: m
filter: {area: [a]}
group_by: {care_setting: [inpatient, outpatient, pharmacy], sex: [f, m]}
window: {from: 2026-01-01, to: 2026-12-31}
period: quarter
participants: [aa]
`+agg+"\n")
		a := c.NewAccumulator()
		os := []kpi.Observation{
			obs(t, "2026-05-03", "7.25", "area=a", "care_setting=outpatient", "sex=m"),
			obs(t, "2026-11-30", "9.5", "area=a", "care_setting=pharmacy", "sex=f"),
			obs(t, "2027-01-01", "1", "area=a", "care_setting=pharmacy", "sex=f"),
		}
		i := 0
		if n := testing.AllocsPerRun(1000, func() { a.Add(&os[i%len(os)]); i++ }); n != 0 {
			t.Errorf("%s: Add allocates %.1f times per observation", agg, n)
		}
	}
}

func TestCells(t *testing.T) {
	tests := []struct {
		name     string
		contract string
		want     []string
	}{
		{"none", "", []string{""}},
		{"dims sorted by name, categories as declared", "group_by:\n  zeta: [z2, z1]\n  alpha: [b, a]\n",
			[]string{"alpha=b,zeta=z2", "alpha=b,zeta=z1", "alpha=a,zeta=z2", "alpha=a,zeta=z1"}},
		{"months", "window: {from: 2025-11-15, to: 2026-02-01}\nperiod: month\n",
			[]string{"period=2025-11", "period=2025-12", "period=2026-01", "period=2026-02"}},
		{"calendar quarters", "window: {from: 2026-02-01, to: 2026-07-01}\nperiod: quarter\n",
			[]string{"period=2026-Q1", "period=2026-Q2", "period=2026-Q3"}},
		{"years", "window: {from: 2025-12-31, to: 2026-01-01}\nperiod: year\n",
			[]string{"period=2025", "period=2026"}},
		{"period sorts among dims", "group_by: {care_setting: [in, out], sex: [f]}\nwindow: {from: 2026-01-01, to: 2026-06-30}\nperiod: quarter\n",
			[]string{
				"care_setting=in,period=2026-Q1,sex=f", "care_setting=in,period=2026-Q2,sex=f",
				"care_setting=out,period=2026-Q1,sex=f", "care_setting=out,period=2026-Q2,sex=f",
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := mustParse(t, "id: cells-test\nmeasure: m\naggregate: count\nparticipants: [aa]\n"+tt.contract)
			var got []string
			for _, g := range c.Cells() {
				got = append(got, g.String())
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("cells = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestCellsMatchAccumulator(t *testing.T) {
	c := mustParse(t, `id: layout-test
measure: m
aggregate: count
group_by: {site: [n, s, e], sex: [f, m]}
window: {from: 2026-01-01, to: 2026-12-31}
period: month
participants: [aa]
`)
	cells := c.Cells()
	for i, g := range cells {
		m := g.Map()
		date := strings.TrimPrefix(m["period"], "") + "-15"
		got, err := accumulate(t, c, obs(t, date, "1", "site="+m["site"], "sex="+m["sex"]))
		if err != nil {
			t.Fatal(err)
		}
		counts := c.CellCounts(got)
		for j, n := range counts {
			if want := int64(0); j == i {
				want = 1
				if n != want {
					t.Fatalf("observation of cell %d (%s) landed elsewhere: %v", i, g, counts)
				}
			} else if n != want {
				t.Fatalf("observation of cell %d (%s) landed in cell %d", i, g, j)
			}
		}
	}
	if c.CellCounts(make([]int64, 3)) != nil {
		t.Error("CellCounts of the wrong length is not nil")
	}
}

func TestCmpDecimal(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		mant := rapid.OneOf(
			rapid.Int64Range(-1000, 1000),
			rapid.Int64(),
			rapid.SampledFrom([]int64{0, 1, -1, math.MaxInt64, math.MinInt64, 999999999999999999, -999999999999999999}),
		)
		a := kpi.Decimal{Mantissa: mant.Draw(t, "a"), Scale: uint8(rapid.IntRange(0, 18).Draw(t, "sa"))}
		b := kpi.Decimal{Mantissa: mant.Draw(t, "b"), Scale: uint8(rapid.IntRange(0, 18).Draw(t, "sb"))}
		if got, want := cmpDecimal(a, b), a.Cmp(b); got != want {
			t.Fatalf("cmpDecimal(%v, %v) = %d, want %d", a, b, got, want)
		}
	})
}

func TestCalendar(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		day := rapid.Int32Range(kpi.DayOfDate(0, 1, 1), kpi.DayOfDate(9999, 12, 31)-2000).Draw(t, "day") // years a contract can name
		tm := kpi.DayTime(day)
		y, m, d := kpi.DateOfDay(day)
		if y != tm.Year() || m != int(tm.Month()) || d != tm.Day() {
			t.Fatalf("kpi.DateOfDay(%d) = %d-%d-%d, want %s", day, y, m, d, tm.Format(time.DateOnly))
		}
		if got := kpi.DayOfDate(y, m, d); got != day {
			t.Fatalf("kpi.DayOfDate(%d, %d, %d) = %d, want %d", y, m, d, got, day)
		}
		p := rapid.SampledFrom([]Period{PeriodMonth, PeriodQuarter, PeriodYear}).Draw(t, "period")
		to := day + rapid.Int32Range(0, 2000).Draw(t, "length")
		spans := periodSpans(p, day, to)
		if spans[0].from != day || spans[len(spans)-1].to != to {
			t.Fatalf("spans %v do not cover %d..%d", spans, day, to)
		}
		for i, s := range spans {
			if s.from > s.to || (i > 0 && s.from != spans[i-1].to+1) {
				t.Fatalf("spans %v are not contiguous", spans)
			}
			if ref, _ := refPeriod(p, s.from); ref != s.label {
				t.Fatalf("span label %q, want %q", s.label, ref)
			}
			if _, end := refPeriod(p, s.from); s.to != min(end, to) {
				t.Fatalf("span %v ends at %d, want %d", s, s.to, min(end, to))
			}
		}
	})
}

// BenchmarkAccumulate adds 1M observations (nps, group_by with three
// categories, quarter periods) per op.
func BenchmarkAccumulate(b *testing.B) {
	c := mustParse(b, `id: bench-nps
measure: nps
aggregate: nps
precision: 1
filter: {therapeutic_area: [diabetes]}
group_by: {care_setting: [inpatient, outpatient, pharmacy]}
window: {from: 2026-01-01, to: 2026-12-31}
period: quarter
participants: [aa]
`)
	const n = 1_000_000
	settings := []string{"inpatient", "outpatient", "pharmacy", "home"}
	dims := make([][]kpi.Dim, len(settings))
	for i, s := range settings {
		dims[i] = []kpi.Dim{{Name: "age", Value: "40-49"}, {Name: "care_setting", Value: s}, {Name: "sex", Value: "f"}, {Name: "therapeutic_area", Value: "diabetes"}}
	}
	values := []kpi.Decimal{kpi.MustDecimal("10"), kpi.MustDecimal("9"), kpi.MustDecimal("7.5"), kpi.MustDecimal("3")}
	start := kpi.DayOf(time.Date(2025, 12, 1, 0, 0, 0, 0, time.UTC))
	os := make([]kpi.Observation, n)
	x := uint64(1)
	for i := range os {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		os[i] = kpi.Observation{Measure: "nps", Value: values[x%4], Day: start + int32(x>>8%420), Dims: dims[x>>20%4]}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		a := c.NewAccumulator()
		for i := range os {
			a.Add(&os[i])
		}
		if _, err := a.Components(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/obs")
}

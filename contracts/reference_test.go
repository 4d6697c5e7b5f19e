package contracts

import (
	"fmt"
	"math"
	"math/big"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/cxnet/cxnet/kpi"
)

// This file checks Accumulator + Release against a straightforward
// reference implementation: big.Rat arithmetic over plain observations,
// periods labelled with the time package, PDC by expanding day sets.
// Observations are spread over up to three organisations whose components
// are summed slot-wise, as the encrypted round will.

var refDay0 = kpi.DayOf(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC))

// refSpec is what the generator drew, for the reference to use.
type refSpec struct {
	yaml      string
	agg       Aggregate
	precision int
	lo, hi    *big.Rat // nil: no value range
	threshold *big.Rat
	bins      []*big.Rat
	filter    map[string][]string
	groupBy   map[string][]string
	windowed  bool
	from, to  int32
	period    Period
	special   []string // decimals worth hitting exactly
}

func drawDecimal(t *rapid.T, label string, minMant, maxMant int, scale int) (string, *big.Rat) {
	m := rapid.IntRange(minMant, maxMant).Draw(t, label)
	d := kpi.Decimal{Mantissa: int64(m), Scale: uint8(scale)}
	return d.String(), d.Rat()
}

func genSpec(t *rapid.T, agg Aggregate) *refSpec {
	s := &refSpec{agg: agg, precision: rapid.IntRange(0, 3).Draw(t, "precision")}
	var b strings.Builder
	fmt.Fprintf(&b, "id: ref-%s\nmeasure: m\naggregate: %s\nparticipants: [aa, bb, cc]\nprecision: %d\n",
		strings.ReplaceAll(string(agg), "_", "-"), agg, s.precision)

	needRange := agg == AggregateSum || agg == AggregateMean || agg == AggregateVariance || agg == AggregateHistogram
	optRange := agg == AggregateProportion || agg == AggregateNPS || agg == AggregatePDCRate
	scale := rapid.IntRange(0, 2).Draw(t, "range_scale")
	if needRange || (optRange && rapid.Bool().Draw(t, "has_range")) {
		loM := rapid.IntRange(-300, 300).Draw(t, "lo")
		wM := rapid.IntRange(1, 600).Draw(t, "width")
		if agg == AggregatePDCRate {
			loM, wM, scale = rapid.IntRange(-5, 10).Draw(t, "lo_days"), rapid.IntRange(1, 60).Draw(t, "width_days"), 0
		}
		lo := kpi.Decimal{Mantissa: int64(loM), Scale: uint8(scale)}
		hi := kpi.Decimal{Mantissa: int64(loM + wM), Scale: uint8(scale)}
		fmt.Fprintf(&b, "value_range: [%s, %s]\n", lo, hi)
		s.lo, s.hi = lo.Rat(), hi.Rat()
		s.special = append(s.special, lo.String(), hi.String())
	} else if agg == AggregateNPS {
		s.lo, s.hi = big.NewRat(0, 1), big.NewRat(10, 1)
	}
	if agg == AggregateNPS {
		s.special = append(s.special, "9", "6", "8.99", "6.01", "0", "10")
	}
	if agg == AggregateProportion {
		// Around the value range, inside and outside it.
		ts := rapid.IntRange(0, 3).Draw(t, "threshold_scale")
		minT, maxT := -2000, 2000
		if s.lo != nil {
			f := new(big.Rat).SetInt64(int64(math.Pow10(ts)))
			lo, _ := new(big.Rat).Mul(s.lo, f).Float64()
			hi, _ := new(big.Rat).Mul(s.hi, f).Float64()
			minT, maxT = int(math.Floor(lo-(hi-lo)/2)), int(math.Ceil(hi+(hi-lo)/2))
		}
		str, r := drawDecimal(t, "threshold", minT, maxT, ts)
		fmt.Fprintf(&b, "threshold: %s\n", str)
		s.threshold = r
		s.special = append(s.special, str)
	}
	if agg == AggregateHistogram {
		// Edges on a finer grid than the range so that some fall inside.
		fine := kpi.Decimal{Scale: uint8(scale + 1)}
		loF := new(big.Rat).Mul(s.lo, big.NewRat(int64(math.Pow10(scale+1)), 1)).Num().Int64()
		hiF := new(big.Rat).Mul(s.hi, big.NewRat(int64(math.Pow10(scale+1)), 1)).Num().Int64()
		first := loF - int64(rapid.IntRange(0, 20).Draw(t, "below"))
		last := hiF + int64(rapid.IntRange(1, 20).Draw(t, "above"))
		inner := rapid.SliceOfNDistinct(rapid.Int64Range(first+1, last-1), 0, 5, func(x int64) int64 { return x }).Draw(t, "inner")
		edges := append([]int64{first, last}, inner...)
		slices.Sort(edges)
		var strs []string
		for _, e := range edges {
			fine.Mantissa = e
			d, _ := kpi.ParseDecimal(fine.String())
			strs = append(strs, d.String())
			s.bins = append(s.bins, d.Rat())
			s.special = append(s.special, d.String())
		}
		fmt.Fprintf(&b, "bins: [%s]\n", strings.Join(strs, ", "))
	}

	s.groupBy = map[string][]string{}
	dimOrder := rapid.Permutation([]string{"site", "sex"}).Draw(t, "dim_order")
	var groupLines []string
	for _, dim := range dimOrder {
		if !rapid.Bool().Draw(t, "group_"+dim) {
			continue
		}
		cats := map[string][]string{"site": {"n", "s", "e"}, "sex": {"f", "m"}}[dim]
		cats = rapid.Permutation(cats).Draw(t, "cats_"+dim)
		cats = cats[:rapid.IntRange(1, len(cats)).Draw(t, "ncats_"+dim)]
		s.groupBy[dim] = cats
		groupLines = append(groupLines, fmt.Sprintf("  %s: [%s]\n", dim, strings.Join(cats, ", ")))
	}
	if len(groupLines) > 0 {
		b.WriteString("group_by:\n" + strings.Join(groupLines, ""))
	}
	s.filter = map[string][]string{}
	if rapid.Bool().Draw(t, "filter_area") {
		s.filter["area"] = rapid.SampledFrom([][]string{{"a"}, {"a", "b"}}).Draw(t, "area")
	}
	if rapid.Bool().Draw(t, "filter_site") {
		s.filter["site"] = rapid.SampledFrom([][]string{{"n"}, {"n", "e", "z"}}).Draw(t, "filter_site_values")
	}
	if len(s.filter) > 0 {
		b.WriteString("filter:\n")
		for _, dim := range sortedKeys(s.filter) {
			fmt.Fprintf(&b, "  %s: [%s]\n", dim, strings.Join(s.filter[dim], ", "))
		}
	}

	s.period = rapid.SampledFrom(periods).Draw(t, "period")
	s.windowed = s.period != PeriodNone || agg == AggregatePDCRate || rapid.Bool().Draw(t, "windowed")
	if s.windowed {
		s.from = refDay0 + int32(rapid.IntRange(0, 400).Draw(t, "from"))
		s.to = s.from + int32(rapid.IntRange(0, 500).Draw(t, "length"))
		fmt.Fprintf(&b, "window: {from: %s, to: %s}\nperiod: %s\n",
			kpi.DayTime(s.from).Format(time.DateOnly), kpi.DayTime(s.to).Format(time.DateOnly), s.period)
	}
	s.yaml = b.String()
	return s
}

// genObservations draws observations and the organisation (0..orgs-1)
// holding each. Pseudonyms are node-local, so subjects of different
// organisations never coincide.
func genObservations(t *rapid.T, s *refSpec, orgs int) ([]kpi.Observation, []int) {
	n := rapid.IntRange(0, 250).Draw(t, "n")
	lo, hi := -5.0, 15.0
	if s.lo != nil {
		lo, _ = s.lo.Float64()
		hi, _ = s.hi.Float64()
	}
	w := hi - lo
	from, to := refDay0, refDay0+900
	if s.windowed {
		from, to = s.from-40, s.to+40
	}
	obs := make([]kpi.Observation, n)
	owner := make([]int, n)
	for i := range obs {
		o := &obs[i]
		owner[i] = rapid.IntRange(0, orgs-1).Draw(t, "org")
		o.Subject[1] = byte(owner[i])
		o.Measure = "m"
		if rapid.IntRange(0, 9).Draw(t, "other_measure") == 0 {
			o.Measure = "other"
		}
		o.Subject[0] = byte(rapid.IntRange(0, 5).Draw(t, "subject"))
		o.Day = from + int32(rapid.IntRange(0, int(to-from)).Draw(t, "day"))
		o.Unix = int64(o.Day) * 86400
		add := func(name string, values ...string) {
			if v := rapid.SampledFrom(values).Draw(t, name); v != "" {
				o.Dims = append(o.Dims, kpi.Dim{Name: name, Value: v})
			}
		}
		add("area", "a", "a", "b", "c", "")
		add("site", "n", "s", "e", "z", "")
		add("sex", "f", "m", "x", "")
		if s.agg == AggregatePDCRate {
			add("drug", "d1", "d2", "d3", "")
			add("drug_class", "C1", "C1", "C2", "")
		}
		slices.SortFunc(o.Dims, func(a, b kpi.Dim) int { return strings.Compare(a.Name, b.Name) })

		var text string
		switch {
		case s.agg == AggregatePDCRate:
			text = kpi.Decimal{Mantissa: int64(rapid.IntRange(-20, 700).Draw(t, "days")), Scale: uint8(rapid.IntRange(0, 1).Draw(t, "days_scale"))}.String()
		case len(s.special) > 0 && rapid.IntRange(0, 4).Draw(t, "pick_special") == 0:
			text = rapid.SampledFrom(s.special).Draw(t, "special")
		default:
			sc := rapid.IntRange(0, 4).Draw(t, "value_scale")
			p := math.Pow10(sc)
			m := rapid.Int64Range(int64(math.Floor((lo-w/2)*p)), int64(math.Ceil((hi+w/2)*p))).Draw(t, "value")
			text = kpi.Decimal{Mantissa: m, Scale: uint8(sc)}.String()
		}
		o.Value = kpi.MustDecimal(text)
	}
	return obs, owner
}

// refGroup is a cell as the reference sees it.
type refGroup struct {
	key   string // "dim=value,..." sorted by dim, period included
	order []int  // category indices over group_by dims sorted by name
}

func refPeriod(p Period, day int32) (label string, end int32) {
	t := kpi.DayTime(day)
	var next time.Time
	switch p {
	case PeriodMonth:
		label = t.Format("2006-01")
		next = time.Date(t.Year(), t.Month()+1, 1, 0, 0, 0, 0, time.UTC)
	case PeriodQuarter:
		q := (int(t.Month()) - 1) / 3
		label = fmt.Sprintf("%04d-Q%d", t.Year(), q+1)
		next = time.Date(t.Year(), time.Month(q*3+4), 1, 0, 0, 0, 0, time.UTC)
	case PeriodYear:
		label = fmt.Sprintf("%04d", t.Year())
		next = time.Date(t.Year()+1, 1, 1, 0, 0, 0, 0, time.UTC)
	default:
		return "", math.MaxInt32
	}
	return label, kpi.DayOf(next) - 1
}

// refLocate applies measure, window, filter and group_by to an
// observation; ok is false when it is skipped.
func refLocate(s *refSpec, o *kpi.Observation) (g refGroup, ok bool) {
	if o.Measure != "m" || (s.windowed && (o.Day < s.from || o.Day > s.to)) {
		return g, false
	}
	for dim, allowed := range s.filter {
		v, has := o.Dim(dim)
		if !has || !slices.Contains(allowed, v) {
			return g, false
		}
	}
	var parts []string
	for _, dim := range sortedKeys(s.groupBy) {
		v, has := o.Dim(dim)
		i := slices.Index(s.groupBy[dim], v)
		if !has || i < 0 {
			return g, false
		}
		parts = append(parts, dim+"="+v)
		g.order = append(g.order, i)
	}
	if s.period != PeriodNone {
		label, _ := refPeriod(s.period, o.Day)
		parts = append(parts, "period="+label)
	}
	sort.Strings(parts)
	g.key = strings.Join(parts, ",")
	return g, true
}

func refClip(s *refSpec, v *big.Rat) *big.Rat {
	if s.lo != nil {
		if v.Cmp(s.lo) < 0 {
			return s.lo
		}
		if v.Cmp(s.hi) > 0 {
			return s.hi
		}
	}
	return v
}

// refFixed rounds v × 10^p half away from zero.
func refFixed(v *big.Rat, p int) *big.Int {
	num := new(big.Int).Mul(new(big.Int).Abs(v.Num()), new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(p)), nil))
	q, r := new(big.Int).QuoRem(num, v.Denom(), new(big.Int))
	if new(big.Int).Mul(r, big.NewInt(2)).Cmp(v.Denom()) >= 0 {
		q.Add(q, big.NewInt(1))
	}
	if v.Sign() < 0 {
		q.Neg(q)
	}
	return q
}

// refCell is the reference result of one cell.
type refCell struct {
	n     int64
	value any // float64, int64, []int64 or nil
}

func reference(s *refSpec, obs []kpi.Observation) map[string]refCell {
	if s.agg == AggregatePDCRate {
		return referencePDC(s, obs)
	}
	vals := map[string][]*big.Rat{}
	for i := range obs {
		g, ok := refLocate(s, &obs[i])
		if ok {
			vals[g.key] = append(vals[g.key], refClip(s, obs[i].Value.Rat()))
		}
	}
	out := map[string]refCell{}
	for key, vs := range vals {
		n := int64(len(vs))
		c := refCell{n: n}
		scale := new(big.Rat).SetInt(new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(s.precision)), nil))
		fixed := func() []*big.Rat {
			var xs []*big.Rat
			for _, v := range vs {
				xs = append(xs, new(big.Rat).SetInt(refFixed(v, s.precision)))
			}
			return xs
		}
		switch s.agg {
		case AggregateCount:
			c.value = n
		case AggregateSum, AggregateMean:
			sum := new(big.Rat)
			for _, x := range fixed() {
				sum.Add(sum, x)
			}
			sum.Quo(sum, scale)
			if s.agg == AggregateMean {
				sum.Quo(sum, big.NewRat(n, 1))
			}
			c.value, _ = sum.Float64()
		case AggregateVariance:
			xs := fixed()
			mean := new(big.Rat)
			for _, x := range xs {
				mean.Add(mean, x)
			}
			mean.Quo(mean, big.NewRat(n, 1))
			ss := new(big.Rat)
			for _, x := range xs {
				d := new(big.Rat).Sub(x, mean)
				ss.Add(ss, d.Mul(d, d))
			}
			ss.Quo(ss, big.NewRat(n, 1))
			ss.Quo(ss, new(big.Rat).Mul(scale, scale))
			c.value, _ = ss.Float64()
		case AggregateProportion:
			k := 0
			for _, v := range vs {
				if v.Cmp(s.threshold) >= 0 {
					k++
				}
			}
			c.value = float64(k) / float64(n)
		case AggregateNPS:
			net := 0
			for _, v := range vs {
				if v.Cmp(big.NewRat(9, 1)) >= 0 {
					net++
				}
				if v.Cmp(big.NewRat(6, 1)) <= 0 {
					net--
				}
			}
			c.value = float64(net) / float64(n) * 100
		case AggregateHistogram:
			counts := make([]int64, len(s.bins)-1)
			for _, v := range vs {
				for i := range counts {
					if v.Cmp(s.bins[i]) >= 0 && v.Cmp(s.bins[i+1]) < 0 {
						counts[i]++
					}
				}
			}
			c.value = counts
		}
		out[key] = c
	}
	return out
}

func referencePDC(s *refSpec, obs []kpi.Observation) map[string]refCell {
	type fill struct {
		day  int32
		days int64
		drug string
	}
	type pair struct {
		first int32
		end   int32
		group refGroup
		fills []fill
	}
	pairs := map[string]*pair{}
	var keys []string
	for i := range obs {
		o := &obs[i]
		g, ok := refLocate(s, o)
		if !ok {
			continue
		}
		drug, hasDrug := o.Dim("drug")
		class, hasClass := o.Dim("drug_class")
		if !hasClass {
			if !hasDrug {
				continue
			}
			class = drug
		}
		days := refFixed(refClip(s, o.Value.Rat()), 0).Int64()
		if days <= 0 {
			continue
		}
		label, end := refPeriod(s.period, o.Day)
		end = min(end, s.to)
		key := fmt.Sprintf("%x/%s/%s", o.Subject, class, label)
		p, ok := pairs[key]
		if !ok {
			p = &pair{first: o.Day, end: end, group: g}
			pairs[key] = p
			keys = append(keys, key)
		}
		if o.Day < p.first || (o.Day == p.first && slices.Compare(g.order, p.group.order) < 0) {
			p.first, p.group = o.Day, g
		}
		p.fills = append(p.fills, fill{o.Day, days, drug})
	}
	out := map[string]refCell{}
	adherent := map[string]int64{}
	for _, key := range keys {
		p := pairs[key]
		covered := map[int32]bool{}
		byDrug := map[string][]fill{}
		for _, f := range p.fills {
			byDrug[f.drug] = append(byDrug[f.drug], f)
		}
		for _, fs := range byDrug {
			sort.Slice(fs, func(i, j int) bool { return fs[i].day < fs[j].day })
			cursor := int64(math.MinInt64)
			for _, f := range fs {
				start := max(int64(f.day), cursor)
				for d := start; d < start+f.days && d <= int64(p.end); d++ {
					if d >= int64(p.first) {
						covered[int32(d)] = true
					}
				}
				cursor = start + f.days
			}
		}
		c := out[p.group.key]
		c.n++
		out[p.group.key] = c
		if 5*len(covered) >= 4*int(p.end-p.first+1) {
			adherent[p.group.key]++
		}
	}
	for key, c := range out {
		c.value = float64(adherent[key]) / float64(c.n)
		out[key] = c
	}
	return out
}

func groupKey(g map[string]string) string {
	var parts []string
	for k, v := range g {
		parts = append(parts, k+"="+v)
	}
	sort.Strings(parts)
	return strings.Join(parts, ",")
}

func TestAccumulatorMatchesReference(t *testing.T) {
	for _, agg := range aggregates {
		t.Run(string(agg), func(t *testing.T) {
			rapid.Check(t, func(t *rapid.T) {
				s := genSpec(t, agg)
				c, err := Parse([]byte(s.yaml), "ref.yaml")
				if err != nil {
					t.Fatalf("generated contract does not parse:\n%s\n%v", s.yaml, err)
				}
				orgs := rapid.IntRange(1, 3).Draw(t, "orgs")
				obs, owner := genObservations(t, s, orgs)
				accs := make([]*Accumulator, orgs)
				for i := range accs {
					accs[i] = c.NewAccumulator()
				}
				for i := range obs {
					accs[owner[i]].Add(&obs[i])
				}
				total := make([]int64, len(c.Cells())*c.Width())
				for _, a := range accs {
					comps, err := a.Components()
					if err != nil {
						t.Fatal(err)
					}
					for i, x := range comps {
						total[i] += x
					}
				}
				cells, err := c.Release(total)
				if err != nil {
					t.Fatal(err)
				}

				want := reference(s, obs)
				seen := map[string]bool{}
				for _, cell := range cells {
					key := groupKey(cell.Group)
					seen[key] = true
					ref := want[key]
					if cell.Count != ref.n {
						t.Fatalf("cell %s: count %d, want %d\n%s", key, cell.Count, ref.n, s.yaml)
					}
					if !sameValue(cell.Value, ref.value, agg, ref.n) {
						t.Fatalf("cell %s: value %v, want %v\n%s", key, cell.Value, ref.value, s.yaml)
					}
				}
				for key := range want {
					if !seen[key] {
						t.Fatalf("reference cell %s is not among the contract's cells\n%s", key, s.yaml)
					}
				}
			})
		})
	}
}

func sameValue(got, want any, agg Aggregate, n int64) bool {
	switch agg {
	case AggregateCount:
		return got == n
	case AggregateHistogram:
		g, _ := got.([]int64)
		w, _ := want.([]int64)
		if w == nil {
			w = make([]int64, len(g))
		}
		return slices.Equal(g, w)
	case AggregateSum:
		w, _ := want.(float64) // nil for an empty cell: sum 0
		g, ok := got.(float64)
		return ok && g == w
	}
	if n == 0 {
		return got == nil
	}
	g, ok := got.(float64)
	w := want.(float64)
	return ok && math.Abs(g-w) <= 1e-5*math.Max(1, math.Abs(w))
}

package contracts

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"slices"
	"strings"

	"github.com/cxnet/cxnet/kpi"
)

// ErrOverflow is returned by Accumulator.Components when a fixed-point sum
// does not fit 64-bit integers.
var ErrOverflow = errors.New("fixed-point sum overflows 64-bit integers; narrow value_range or lower precision")

// ErrInvalidContract is returned for a contract that did not come from
// Parse and is not consistent enough to compute on.
var ErrInvalidContract = errors.New("contract is not valid; build it with Parse")

// Accumulator computes one node's components of a contract from its
// observations. It is not safe for concurrent use; run one per goroutine
// and add their components.
type Accumulator struct {
	id      kpi.ContractID
	measure string
	agg     Aggregate
	width   int
	comp    []int64
	err     error // sticky: the first error, reported by Components

	windowed bool
	from, to int32

	need []dimSlot // filter and group_by dimensions, sorted by name

	periodStarts []int32 // first day of every period but the first
	periodStride int     // 0 without periods

	clip      bool
	lo, hi    bound
	precision int
	threshold bound
	bins      []bound
	promoter  bound // nps: v >= 9
	detractor bound // nps: v <= 6

	pdc *pdcState
}

// dimSlot is one dimension an observation must carry.
type dimSlot struct {
	name   string
	filter *catSet // allowed values; nil when not filtered
	group  *catSet // group_by category -> offset in cells; nil when not grouped
}

// catSet maps a few strings to ints: a linear scan for up to
// smallCatSet of them (faster than hashing), a map beyond.
type catSet struct {
	keys  []string
	vals  []int
	large map[string]int
}

const smallCatSet = 8

func newCatSet(keys []string, val func(i int) int) *catSet {
	s := &catSet{}
	if len(keys) > smallCatSet {
		s.large = make(map[string]int, len(keys))
	}
	for i, k := range keys {
		if s.large != nil {
			s.large[k] = val(i)
		} else {
			s.keys = append(s.keys, k)
			s.vals = append(s.vals, val(i))
		}
	}
	return s
}

func (s *catSet) find(k string) (int, bool) {
	if s.large != nil {
		v, ok := s.large[k]
		return v, ok
	}
	for i, key := range s.keys {
		if key == k {
			return s.vals[i], true
		}
	}
	return 0, false
}

// NewAccumulator returns an empty accumulator for the contract.
func (c *Contract) NewAccumulator() *Accumulator {
	l := c.layout()
	a := &Accumulator{
		id:        c.ID,
		measure:   c.Measure,
		agg:       c.Aggregate,
		width:     c.Width(),
		precision: c.Precision,
		promoter:  newBound(kpi.DecimalFromInt(9)),
		detractor: newBound(kpi.DecimalFromInt(6)),
	}
	if !c.computable(l) {
		a.err = fmt.Errorf("contracts: %s: %w", c.ID, ErrInvalidContract)
		return a
	}
	a.comp = make([]int64, l.cells*a.width)
	if c.Window != nil {
		a.windowed, a.from, a.to = true, c.Window.FromDay, c.Window.ToDay
	}
	if c.ValueRange != nil {
		a.clip, a.lo, a.hi = true, newBound(c.ValueRange.Lo), newBound(c.ValueRange.Hi)
	}
	if c.Threshold != nil {
		a.threshold = newBound(*c.Threshold)
	}
	for _, b := range c.Bins {
		a.bins = append(a.bins, newBound(b))
	}
	if l.spans != nil {
		a.periodStride = l.periodStride
		for _, sp := range l.spans[1:] {
			a.periodStarts = append(a.periodStarts, sp.from)
		}
	}

	slots := map[string]*dimSlot{}
	slot := func(name string) *dimSlot {
		if s, ok := slots[name]; ok {
			return s
		}
		s := &dimSlot{name: name}
		slots[name] = s
		return s
	}
	for name, values := range c.Filter {
		slot(name).filter = newCatSet(values, func(int) int { return 0 })
	}
	for _, d := range l.dims {
		if d.name == PeriodDim && l.spans != nil {
			continue
		}
		slot(d.name).group = newCatSet(d.values, func(i int) int { return i * d.stride })
	}
	for _, s := range slots {
		a.need = append(a.need, *s)
	}
	slices.SortFunc(a.need, func(x, y dimSlot) int { return strings.Compare(x.name, y.name) })

	if c.Aggregate == AggregatePDCRate {
		spans := l.spans
		if spans == nil {
			spans = []span{{from: c.Window.FromDay, to: c.Window.ToDay}}
		}
		a.pdc = &pdcState{spans: spans, periodStride: l.periodStride, cells: l.cells, index: map[pairKey]int{}, names: map[string]string{}}
	}
	return a
}

// computable reports whether the contract is consistent enough for the
// accumulator not to index out of range. Contracts from Parse always are.
func (c *Contract) computable(l layout) bool {
	if l.cells == 0 || !slices.Contains(aggregates, c.Aggregate) {
		return false
	}
	if c.Period != PeriodNone && (c.Window == nil || !slices.Contains(periods, c.Period)) {
		return false
	}
	switch c.Aggregate {
	case AggregateHistogram:
		return len(c.Bins) >= 2 && c.ValueRange != nil &&
			cmpDecimal(c.Bins[0], c.ValueRange.Lo) <= 0 && cmpDecimal(c.Bins[len(c.Bins)-1], c.ValueRange.Hi) > 0
	case AggregateProportion:
		return c.Threshold != nil
	case AggregatePDCRate:
		return c.Window != nil
	}
	return true
}

// Add accumulates one observation. Observations of another measure,
// outside the window, failing the filter or lacking a declared category
// of every group_by dimension are skipped. o.Dims must be sorted by name,
// as kpi.Observation promises.
func (a *Accumulator) Add(o *kpi.Observation) {
	if a.err != nil || o.Measure != a.measure {
		return
	}
	if a.windowed && (o.Day < a.from || o.Day > a.to) {
		return
	}
	cell := 0
	dims := o.Dims
	j := 0
	for k := range a.need {
		s := &a.need[k]
		// Both lists are sorted by name, so the search goes on from the
		// last match. Equality alone is tested: it is cheaper than
		// ordering, and a missing dim only costs a scan of the rest.
		for j < len(dims) && dims[j].Name != s.name {
			j++
		}
		if j == len(dims) {
			return
		}
		v := dims[j].Value
		if s.filter != nil {
			if _, ok := s.filter.find(v); !ok {
				return
			}
		}
		if s.group != nil {
			i, ok := s.group.find(v)
			if !ok {
				return
			}
			cell += i
		}
	}
	p := 0
	if a.periodStride > 0 {
		p = a.periodIndex(o.Day)
	}
	if a.pdc != nil {
		a.pdc.add(o, cell, p, a)
		return
	}
	cell += p * a.periodStride
	c := a.comp[cell*a.width : (cell+1)*a.width]
	c[0]++
	switch a.agg {
	case AggregateSum, AggregateMean:
		x := a.fixed(o.Value)
		c[1] = a.addChecked(c[1], x)
	case AggregateVariance:
		x := a.fixed(o.Value)
		c[1] = a.addChecked(c[1], x)
		hi, lo := bits.Mul64(magnitude(x), magnitude(x))
		if hi != 0 || lo > math.MaxInt64 {
			a.fail()
			return
		}
		c[2] = a.addChecked(c[2], int64(lo))
	case AggregateProportion:
		if a.threshold.cmp(a.clipped(o.Value)) >= 0 {
			c[1]++
		}
	case AggregateNPS:
		v := a.clipped(o.Value)
		if a.promoter.cmp(v) >= 0 {
			c[1]++
		} else if a.detractor.cmp(v) <= 0 {
			c[2]++
		}
	case AggregateHistogram:
		c[1+a.bin(a.clipped(o.Value))]++
	}
}

// Components returns the accumulated components, cell-major:
// len(Cells())×Width() integers, cell i at [i*Width(), (i+1)*Width()).
// Components of several organisations add slot-wise.
func (a *Accumulator) Components() ([]int64, error) {
	if a.err != nil {
		return nil, a.err
	}
	if a.pdc != nil {
		return a.pdc.components(), nil
	}
	return slices.Clone(a.comp), nil
}

// periodIndex returns the period of a day inside the window.
func (a *Accumulator) periodIndex(day int32) int {
	i, j := 0, len(a.periodStarts)
	for i < j {
		m := int(uint(i+j) >> 1)
		if a.periodStarts[m] <= day {
			i = m + 1
		} else {
			j = m
		}
	}
	return i
}

func (a *Accumulator) fail() {
	if a.err == nil {
		a.err = fmt.Errorf("contracts: %s: %w", a.id, ErrOverflow)
	}
}

// clipped returns v clipped to the value range, if there is one.
func (a *Accumulator) clipped(v kpi.Decimal) kpi.Decimal {
	if a.clip {
		if a.lo.cmp(v) < 0 {
			return a.lo.d
		}
		if a.hi.cmp(v) > 0 {
			return a.hi.d
		}
	}
	return v
}

// fixed returns round(clip(v) × 10^precision).
func (a *Accumulator) fixed(v kpi.Decimal) int64 {
	x, ok := a.clipped(v).Fixed(a.precision)
	if !ok {
		a.fail()
	}
	return x
}

func (a *Accumulator) addChecked(s, x int64) int64 {
	r := s + x
	if (x > 0 && r < s) || (x < 0 && r > s) {
		a.fail()
	}
	return r
}

// bin returns i with bins[i] <= v < bins[i+1]; v is clipped, and the bins
// cover the value range.
func (a *Accumulator) bin(v kpi.Decimal) int {
	i, j := 0, len(a.bins)-1
	for j-i > 1 {
		m := int(uint(i+j) >> 1)
		if a.bins[m].cmp(v) >= 0 {
			i = m
		} else {
			j = m
		}
	}
	return i
}

var pow10 = [...]uint64{
	1, 10, 100, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10,
	1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19,
}

// bound is a decimal that observations are compared with, kept at every
// scale it can be written at so that most comparisons are one integer
// comparison.
type bound struct {
	d     kpi.Decimal
	at    [kpi.MaxScale + 1]int64 // d × 10^s, for scales s where ok
	valid [kpi.MaxScale + 1]bool
}

func newBound(d kpi.Decimal) bound {
	b := bound{d: d}
	for s := int(d.Scale); s <= kpi.MaxScale; s++ {
		m, ok := d.Fixed(s)
		if !ok {
			break
		}
		b.at[s], b.valid[s] = m, true
	}
	return b
}

// cmp compares v with the bound: -1 when v < b, 0 when equal, +1 when v > b.
func (b *bound) cmp(v kpi.Decimal) int {
	if int(v.Scale) < len(b.at) && b.valid[v.Scale] {
		return cmp.Compare(v.Mantissa, b.at[v.Scale])
	}
	return cmpDecimal(v, b.d)
}

// cmpDecimal compares two decimals exactly without allocating (unlike
// kpi.Decimal.Cmp for different scales): -1, 0 or +1.
func cmpDecimal(a, b kpi.Decimal) int {
	if a.Scale == b.Scale {
		return cmp.Compare(a.Mantissa, b.Mantissa)
	}
	return cmpScaled(a, b)
}

// cmpScaled compares decimals of different scales in 128 bits.
func cmpScaled(a, b kpi.Decimal) int {
	sa, sb := sign(a.Mantissa), sign(b.Mantissa)
	if sa != sb || sa == 0 {
		return cmp.Compare(sa, sb)
	}
	ma, mb := magnitude(a.Mantissa), magnitude(b.Mantissa)
	var ah, al, bh, bl uint64
	if a.Scale < b.Scale {
		d := int(b.Scale - a.Scale)
		if d >= len(pow10) {
			return a.Cmp(b)
		}
		ah, al = bits.Mul64(ma, pow10[d])
		bl = mb
	} else {
		d := int(a.Scale - b.Scale)
		if d >= len(pow10) {
			return a.Cmp(b)
		}
		bh, bl = bits.Mul64(mb, pow10[d])
		al = ma
	}
	r := cmp.Compare(ah, bh)
	if r == 0 {
		r = cmp.Compare(al, bl)
	}
	return r * sa
}

func sign(x int64) int {
	switch {
	case x < 0:
		return -1
	case x > 0:
		return 1
	}
	return 0
}

// magnitude returns |x|, also for math.MinInt64.
func magnitude(x int64) uint64 {
	if x < 0 {
		return uint64(-(x + 1)) + 1
	}
	return uint64(x)
}

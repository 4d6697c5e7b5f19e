package contracts

import (
	"cmp"
	"slices"
	"strings"

	"github.com/cxnet/cxnet/kpi"
)

// Proportion of days covered (pdc_rate).
//
// Observations are dispenses: Value is the days of supply, Day the fill
// date, dims "drug" and "drug_class". The unit is a (patient pseudonym,
// drug class) pair within one window: the contract window, or each period
// of it. The class is the drug_class dim, or the drug when no class is set;
// fills with neither are skipped, as are fills whose days of supply round
// (half away from zero, after clipping to value_range if the contract has
// one) to 0 or less.
//
// Per pair and window, only fills inside the window count. The PDC
// interval runs from the pair's first fill in the window to the window's
// end, inclusive. Each drug's fills, in date order, cover their days from
// max(fill date, end of the drug's previous coverage): overlapping supply
// shifts forward. The covered days of the class's drugs are unioned and
// clipped to the interval; the pair is adherent when covered/interval >=
// 0.8, compared exactly as 5×covered >= 4×interval.
//
// The pair's group_by categories are those of its first fill in the
// window (of the first cell, when fills on that day disagree); the filter
// applies to every fill.

// PDCDrugDim and PDCClassDim are the dimensions pdc_rate reads.
const (
	PDCDrugDim  = "drug"
	PDCClassDim = "drug_class"
)

type pdcState struct {
	spans        []span // the windows: one per period, or the contract window
	periodStride int
	cells        int
	index        map[pairKey]int // -> pairs
	pairs        []pdcPair
	names        map[string]string // drugs and classes, kept as own copies
	ivs          []interval        // scratch for components
}

type pairKey struct {
	subject kpi.Pseudonym
	class   string
	period  int32
}

type pdcPair struct {
	period int32
	first  int32 // first fill date in the window
	group  int   // group_by cell offset of the first fill
	fills  []pdcFill
}

type pdcFill struct {
	day, days int32
	drug      string
}

// interval is a half-open range of day numbers [from, to).
type interval struct{ from, to int64 }

func (s *pdcState) add(o *kpi.Observation, group, period int, a *Accumulator) {
	var drug, class string
	var hasDrug, hasClass bool
	for _, d := range o.Dims {
		switch d.Name {
		case PDCDrugDim:
			drug, hasDrug = d.Value, true
		case PDCClassDim:
			class, hasClass = d.Value, true
		}
	}
	if !hasClass {
		if !hasDrug {
			return
		}
		class = drug
	}
	days, ok := a.clipped(o.Value).Fixed(0)
	if !ok || days <= 0 {
		return
	}
	// Supply beyond the window's end covers nothing that counts; capping
	// keeps day arithmetic in int32.
	end := s.spans[period].to
	days = min(days, int64(end)-int64(o.Day)+1)

	key := pairKey{subject: o.Subject, class: class, period: int32(period)}
	i, ok := s.index[key]
	if !ok {
		key.class = s.intern(class)
		i = len(s.pairs)
		s.index[key] = i
		s.pairs = append(s.pairs, pdcPair{period: int32(period), first: o.Day, group: group})
	}
	pr := &s.pairs[i]
	if o.Day < pr.first || (o.Day == pr.first && group < pr.group) {
		pr.first, pr.group = o.Day, group
	}
	pr.fills = append(pr.fills, pdcFill{day: o.Day, days: int32(days), drug: s.intern(drug)})
}

// intern returns a copy of v owned by the accumulator, the same for equal
// strings: the caller may reuse the memory of an observation's dims.
func (s *pdcState) intern(v string) string {
	if n, ok := s.names[v]; ok {
		return n
	}
	n := strings.Clone(v)
	s.names[n] = n
	return n
}

func (s *pdcState) components() []int64 {
	comp := make([]int64, s.cells*2)
	for i := range s.pairs {
		pr := &s.pairs[i]
		end := s.spans[pr.period].to
		covered := s.covered(pr.fills, pr.first, end)
		days := int64(end) - int64(pr.first) + 1
		cell := pr.group + int(pr.period)*s.periodStride
		comp[cell*2]++
		if 5*covered >= 4*days {
			comp[cell*2+1]++
		}
	}
	return comp
}

// covered returns the number of days in [first, end] covered by the fills.
func (s *pdcState) covered(fills []pdcFill, first, end int32) int64 {
	slices.SortFunc(fills, func(a, b pdcFill) int {
		return cmp.Or(strings.Compare(a.drug, b.drug), cmp.Compare(a.day, b.day), cmp.Compare(a.days, b.days))
	})
	ivs := s.ivs[:0]
	var cursor int64
	for i, f := range fills {
		if i == 0 || f.drug != fills[i-1].drug {
			cursor = int64(f.day)
		}
		from := max(int64(f.day), cursor)
		to := from + int64(f.days)
		cursor = to
		from, to = max(from, int64(first)), min(to, int64(end)+1)
		if from < to {
			ivs = append(ivs, interval{from, to})
		}
	}
	s.ivs = ivs
	slices.SortFunc(ivs, func(a, b interval) int { return cmp.Compare(a.from, b.from) })
	var covered int64
	var reach int64 // end of the union so far
	for i, iv := range ivs {
		if i == 0 || iv.from > reach {
			covered += iv.to - iv.from
			reach = iv.to
		} else if iv.to > reach {
			covered += iv.to - reach
			reach = iv.to
		}
	}
	return covered
}

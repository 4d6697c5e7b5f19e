package contracts

import (
	"errors"
	"fmt"
	"math"
	"math/big"
	"slices"
	"strconv"

	"github.com/cxnet/cxnet/kpi"
)

// ErrComponents is returned by Release for components that cannot be
// released: the wrong number of them, or a negative count.
var ErrComponents = errors.New("invalid components")

// SignificantDigits is how many significant digits released ratios
// (mean, variance, proportion, nps, pdc_rate) keep. A mean or variance
// also keeps at least the contract's precision in decimals.
const SignificantDigits = 6

// Cell is one computed cell, before any suppression: its group, its
// record count (patients for pdc_rate) and the aggregate's value. A
// release publishes it as a kpi.Cell (ReleaseOpened), a preview shows it
// as one.
type Cell struct {
	Group map[string]string `json:"group"`
	Count int64             `json:"count"`
	// Value is int64 for count, []int64 (counts per bin) for histogram,
	// float64 for the others, and nil for a mean, variance, proportion,
	// nps or pdc_rate over no records.
	Value any `json:"value"`
}

// Release turns components, usually summed over organisations, into the
// released value of every cell, in Cells() order. It does not suppress
// small cells: that is the privacy layer's job (see CellCounts).
//
// Values are computed exactly and rounded half away from zero, so every
// node releases the same numbers: sums to the contract's precision, ratios
// to SignificantDigits. Ratios are clamped to what the aggregate can take
// (a mean to value_range rounded to the precision, a variance to >= 0, a share to [0, 1], nps to
// [-100, 100]), which only matters for components with noise added.
func (c *Contract) Release(components []int64) ([]Cell, error) {
	groups := c.Cells()
	w := c.Width()
	if len(components) != len(groups)*w {
		return nil, fmt.Errorf("contracts: %s: release: %w: got %d components, want %d (%d cells × %d)",
			c.ID, ErrComponents, len(components), len(groups)*w, len(groups), w)
	}
	cells := make([]Cell, len(groups))
	for i, g := range groups {
		comp := components[i*w : (i+1)*w]
		if comp[0] < 0 {
			return nil, fmt.Errorf("contracts: %s: release: %w: cell %d (%s) has a negative count %d",
				c.ID, ErrComponents, i, g, comp[0])
		}
		cells[i] = Cell{Group: g.Map(), Count: comp[0], Value: c.value(comp)}
	}
	return cells, nil
}

// value computes the aggregate of one cell's components.
func (c *Contract) value(comp []int64) any {
	n := comp[0]
	p := c.Precision
	switch c.Aggregate {
	case AggregateCount:
		return n
	case AggregateHistogram:
		return append([]int64(nil), comp[1:]...)
	case AggregateSum:
		return ratFloat(new(big.Rat).SetFrac(big.NewInt(comp[1]), pow10Int(p)), p)
	}
	if n == 0 {
		return nil
	}
	bn := big.NewInt(n)
	var r *big.Rat
	minDecimals := 0
	switch c.Aggregate {
	case AggregateMean:
		r = new(big.Rat).SetFrac(big.NewInt(comp[1]), new(big.Int).Mul(bn, pow10Int(p)))
		if c.ValueRange != nil { // to the range of the rounded fixed-point values
			lo, okLo := c.ValueRange.Lo.Fixed(p)
			hi, okHi := c.ValueRange.Hi.Fixed(p)
			if okLo && okHi {
				r = clampRat(r, new(big.Rat).SetFrac(big.NewInt(lo), pow10Int(p)), new(big.Rat).SetFrac(big.NewInt(hi), pow10Int(p)))
			}
		}
		minDecimals = p
	case AggregateVariance:
		// (n·Q − S²) / (n² · 10^2p), exactly.
		s := big.NewInt(comp[1])
		num := new(big.Int).Mul(bn, big.NewInt(comp[2]))
		num.Sub(num, new(big.Int).Mul(s, s))
		den := new(big.Int).Mul(bn, bn)
		den.Mul(den, pow10Int(2*p))
		r = new(big.Rat).SetFrac(num, den)
		if r.Sign() < 0 {
			r.SetInt64(0)
		}
		minDecimals = p
	case AggregateProportion, AggregatePDCRate:
		r = clampRat(big.NewRat(comp[1], n), new(big.Rat), big.NewRat(1, 1))
	case AggregateNPS:
		net := new(big.Int).Sub(big.NewInt(comp[1]), big.NewInt(comp[2]))
		r = new(big.Rat).SetFrac(net.Mul(net, big.NewInt(100)), bn)
		r = clampRat(r, big.NewRat(-100, 1), big.NewRat(100, 1))
	default:
		return nil
	}
	return roundSignificant(r, SignificantDigits, minDecimals)
}

func pow10Int(p int) *big.Int {
	return new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(p)), nil)
}

func clampRat(r, lo, hi *big.Rat) *big.Rat {
	if r.Cmp(lo) < 0 {
		return lo
	}
	if r.Cmp(hi) > 0 {
		return hi
	}
	return r
}

// roundSignificant rounds r half away from zero to sig significant digits,
// but to no fewer than minDecimals decimals, and returns the nearest
// float64 of the rounded decimal.
func roundSignificant(r *big.Rat, sig, minDecimals int) float64 {
	decimals := minDecimals
	if r.Sign() != 0 {
		a := new(big.Rat).Abs(r)
		if ip := new(big.Int).Quo(a.Num(), a.Denom()); ip.Sign() > 0 {
			decimals = max(decimals, sig-len(ip.String()))
		} else {
			// |r| < 1: count the zeros after the point.
			zeros := 0
			ten := big.NewRat(10, 1)
			one := big.NewRat(1, 1)
			for a.Mul(a, ten); a.Cmp(one) < 0 && zeros < 30; a.Mul(a, ten) {
				zeros++
			}
			decimals = max(decimals, zeros+sig)
		}
	}
	return ratFloat(r, decimals)
}

// ratFloat rounds r half away from zero to the given decimals and returns
// the nearest float64.
func ratFloat(r *big.Rat, decimals int) float64 {
	f, _ := strconv.ParseFloat(r.FloatString(decimals), 64)
	if f == 0 {
		return 0 // not -0
	}
	return f
}

// Sensitivity is the record-level L1 sensitivity Δ of the contract's
// components: the most that adding or removing one input record (one row
// of the canonical CSV; for pdc_rate one dispense) can change the whole
// component vector — every component of every cell — in L1 norm. Δ/ε is
// the scale of the discrete Laplace noise added to every component, which
// makes a release ε-differentially private at the record level. Δ is
// exact: never below what one record can do, and reached by some dataset
// (TestSensitivityBruteForce finds it by brute force for every aggregate).
//
// Except for pdc_rate a record counts in at most one cell (its group_by
// categories and the period of its date), so Δ is what it does to that
// cell's components:
//   - count: 1.
//   - sum, mean: 1 + M (count and value), where M = max(|lo|, |hi|) ·
//     10^precision, rounded as values are, is the largest fixed-point
//     magnitude of a value clipped to value_range.
//   - variance: 1 + M + M² (count, value, square).
//   - histogram: 2 (count and one bin).
//   - proportion: 2 (count and the share at or above the threshold), or 1
//     when value_range caps every value below the threshold.
//   - nps: 2 (count, and promoters or detractors), or 1 when value_range
//     holds no value <= 6 and none >= 9.
//
// pdc_rate counts (patient, drug class, period) pairs, one in a cell's
// count and, when its PDC reaches 0.8, one in its adherent count. A
// dispense belongs to one pair: its patient's, its class's, and that of
// the period of its date (a fill counts only in its own period). Adding or
// removing it can create or delete the pair, or move its first fill date
// and with it the interval, the covered days and whether it reaches 0.8;
// and since the first fill's group_by categories are the pair's, it can
// move the pair to another cell. The pair adds at most 1 + 1 to one cell
// before and to one cell after, so Δ = 4 when a pair can change cell. It
// is reached: two one-day fills of a pair on the last day of the window
// (or of a period), in two categories, make it adherent in the lower of
// the two cells (fills of one day: the lowest cell decides); without the
// fill of that cell it is adherent in the other. Δ = 2 (a pair appears or
// goes, adherent) when no pair can change cell: no group_by, or only
// group_by drug_class (every fill of a pair has the pair's class) or
// dimensions the filter narrows to one category. Periods never move a
// pair: the period is part of the pair.
//
// Δ is 0 when no record can count: the filter excludes every category of
// a group_by dimension, or, for pdc_rate, value_range rounds every days of
// supply to 0 or less. Such a contract's cells never change.
func (c *Contract) Sensitivity() float64 {
	moves := false // a pdc_rate pair can change cell
	for _, g := range c.GroupBy {
		n := len(g.Categories)
		if allowed, ok := c.Filter[g.Name]; ok {
			n = 0
			for _, cat := range g.Categories {
				if slices.Contains(allowed, cat) {
					n++
				}
			}
		}
		if n == 0 {
			return 0
		}
		moves = moves || (n > 1 && g.Name != PDCClassDim)
	}
	r := c.ValueRange
	switch c.Aggregate {
	case AggregateSum, AggregateMean, AggregateVariance:
		m := -float64(math.MinInt64) // not from Parse: any int64 may be summed
		if r != nil {
			lo, okLo := r.Lo.Fixed(c.Precision)
			hi, okHi := r.Hi.Fixed(c.Precision)
			if okLo && okHi {
				m = math.Max(math.Abs(float64(lo)), math.Abs(float64(hi)))
			}
		}
		if c.Aggregate == AggregateVariance {
			return 1 + m + m*m
		}
		return 1 + m
	case AggregateHistogram:
		return 2
	case AggregateProportion:
		if r != nil && c.Threshold != nil && cmpDecimal(r.Hi, *c.Threshold) < 0 {
			return 1
		}
		return 2
	case AggregateNPS:
		if r != nil && cmpDecimal(r.Lo, kpi.DecimalFromInt(6)) > 0 && cmpDecimal(r.Hi, kpi.DecimalFromInt(9)) < 0 {
			return 1
		}
		return 2
	case AggregatePDCRate:
		if r != nil {
			if days, ok := r.Hi.Fixed(0); ok && days <= 0 {
				return 0
			}
		}
		if moves {
			return 4
		}
		return 2
	}
	return 1
}

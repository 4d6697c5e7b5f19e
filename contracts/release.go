package contracts

import (
	"errors"
	"fmt"
	"math"
	"math/big"
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

// Cell is one released cell: its group, its record count (patients for
// pdc_rate) and the aggregate's value.
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

// Sensitivity is how much one record can change one cell's components, in
// L1 norm: the scale (divided by epsilon) of the Laplace noise that makes
// a release of the cell epsilon-differentially private. A record counts in
// one cell; its fixed-point value is at most M = max(|lo|, |hi|)·10^precision
// in magnitude (value_range is required for the aggregates that sum
// values).
func (c *Contract) Sensitivity() float64 {
	m := 0.0
	if c.ValueRange != nil {
		for _, d := range []kpi.Decimal{c.ValueRange.Lo, c.ValueRange.Hi} {
			if v, ok := d.Fixed(c.Precision); ok {
				m = math.Max(m, math.Abs(float64(v)))
			}
		}
	}
	switch c.Aggregate {
	case AggregateSum, AggregateMean:
		return 1 + m
	case AggregateVariance:
		return 1 + m + m*m
	case AggregateProportion, AggregateNPS, AggregateHistogram, AggregatePDCRate:
		return 2 // the count, and one other component
	}
	return 1
}

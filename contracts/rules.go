package contracts

// Rules that tie fields of a contract together, applied after every field
// has been read on its own.

import (
	"fmt"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// crossCheck applies the rules that tie fields together. It skips a rule
// when a field it depends on already had an error.
func (p *parser) crossCheck(c *Contract, root *yaml.Node, fs map[string]entry) {
	line := func(name string) int {
		if e, ok := fs[name]; ok {
			return e.line()
		}
		return root.Line
	}
	agg := c.Aggregate
	if agg != "" {
		aggLine := line("aggregate")
		_, hasRange := fs["value_range"]
		switch agg {
		case AggregateSum, AggregateMean, AggregateVariance, AggregateHistogram:
			if !hasRange {
				p.errorf(aggLine, "value_range", "is required for aggregate %s: values are clipped to it; add value_range: [lo, hi]", agg)
			}
		case AggregateCount:
			if hasRange {
				p.errorf(line("value_range"), "value_range", "has no effect on aggregate count; remove it")
			}
		case AggregateNPS:
			if !hasRange {
				r := defaultNPSRange
				c.ValueRange = &r
			}
		}
		_, hasThreshold := fs["threshold"]
		switch {
		case agg == AggregateProportion && !hasThreshold:
			p.errorf(aggLine, "threshold", "is required for aggregate proportion: the share of values >= threshold is released; add threshold: N")
		}
		_, hasBins := fs["bins"]
		switch {
		case agg == AggregateHistogram && !hasBins:
			p.errorf(aggLine, "bins", "is required for aggregate histogram; add the bin edges, e.g. bins: [0, 7, 9, 11]")
		// threshold and bins on other aggregates are accepted (the
		// example of INTERFACE.md lists every field): they are part of the
		// agreed text and its hash, and have no effect on the cells.
		case agg == AggregateHistogram && c.ValueRange != nil && len(c.Bins) >= 2:
			first, last := c.Bins[0], c.Bins[len(c.Bins)-1]
			if first.Cmp(c.ValueRange.Lo) > 0 || last.Cmp(c.ValueRange.Hi) <= 0 {
				p.errorf(line("bins"), "bins", "must cover value_range [%s, %s] so that every clipped value falls in a bin: the first edge must be <= %s and the last above %s (got %s and %s)",
					c.ValueRange.Lo, c.ValueRange.Hi, c.ValueRange.Lo, c.ValueRange.Hi, first, last)
			}
		}
		if agg == AggregatePDCRate && c.Window == nil && !p.bad["window"] {
			p.errorf(aggLine, "window", "is required for aggregate pdc_rate: adherence runs to the end of the window; add window: {from: YYYY-MM-DD, to: YYYY-MM-DD}")
		}
		p.checkFixedPoint(c, line)
	}

	if c.Period != PeriodNone && c.Window == nil && !p.bad["window"] {
		p.errorf(line("period"), "period", "%s needs a window to split into periods; add window: {from: YYYY-MM-DD, to: YYYY-MM-DD} or use period: none", c.Period)
	}
	if !p.bad["group_by"] && !p.bad["period"] && !p.bad["window"] {
		p.checkCells(c, line)
	}

	if n := len(c.Participants); n > 0 {
		if c.Approvals.Rule == ApprovalsNumber && (c.Approvals.N < 1 || c.Approvals.N > n) {
			p.errorf(line("approvals"), "approvals", "must be all, majority or a number from 1 to %d (the number of participants) (got %d)", n, c.Approvals.N)
		}
		if _, ok := fs["min_participants"]; ok && !p.bad["min_participants"] {
			if c.MinParticipants < 1 || c.MinParticipants > n {
				p.errorf(line("min_participants"), "min_participants", "must be from 1 to %d (the number of participants) (got %d)", n, c.MinParticipants)
			}
		} else if !ok {
			c.MinParticipants = n
		}
	}
}

// checkFixedPoint makes sure clipped values fit 64-bit fixed point, and
// their squares too for variance, so that only sums can overflow.
func (p *parser) checkFixedPoint(c *Contract, line func(string) int) {
	if c.ValueRange == nil || p.bad["precision"] || p.bad["value_range"] {
		return
	}
	switch c.Aggregate {
	case AggregateSum, AggregateMean, AggregateVariance:
	default:
		return
	}
	lo, okLo := c.ValueRange.Lo.Fixed(c.Precision)
	hi, okHi := c.ValueRange.Hi.Fixed(c.Precision)
	const maxSquareRoot = 3037000499 // floor(sqrt(MaxInt64))
	switch {
	case !okLo || !okHi:
		p.errorf(line("value_range"), "value_range", "bounds times 10^precision must fit 64-bit integers; narrow value_range or lower precision")
	case c.Aggregate == AggregateVariance && (lo < -maxSquareRoot || lo > maxSquareRoot || hi < -maxSquareRoot || hi > maxSquareRoot):
		p.errorf(line("value_range"), "value_range", "too wide for variance at precision %d: squared fixed-point values must fit 64-bit integers (|bound| × 10^precision <= %d); narrow value_range or lower precision", c.Precision, maxSquareRoot)
	}
}

// checkCells limits the number of cells: group_by categories × periods.
func (p *parser) checkCells(c *Contract, line func(string) int) {
	const saturate = 1 << 40
	total := 1
	var factors []string
	for _, g := range c.GroupBy {
		total = min(total*len(g.Categories), saturate)
		factors = append(factors, strconv.Itoa(len(g.Categories)))
	}
	where, path := line("group_by"), "group_by"
	if c.Period != PeriodNone && c.Window != nil {
		n := periodCount(c.Period, c.Window.FromDay, c.Window.ToDay)
		total = min(total*n, saturate)
		factors = append(factors, fmt.Sprintf("%d periods", n))
		where, path = line("period"), "period"
	}
	if total > MaxCells {
		p.errorf(where, path, "the contract has %d cells (%s); at most %d are allowed: use fewer categories, a coarser period or a shorter window",
			total, strings.Join(factors, " × "), MaxCells)
	}
}

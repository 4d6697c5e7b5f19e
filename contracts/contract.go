// Package contracts holds KPI contracts: the YAML schema and its
// validation, the canonical form and hash every node agrees on, and the
// local KPI engine that turns a node's observations into integer components
// that add up across organisations, plus the function that turns the summed
// components into released values.
//
// It also holds the consortium's governance: the signed log entries
// (entry.go), the replicated State and its pure, deterministic Apply
// (governance*.go), and FSM, the thin adapter to hashicorp/raft (fsm.go).
//
// It imports only the standard library, gopkg.in/yaml.v3,
// github.com/hashicorp/raft and github.com/cxnet/cxnet/kpi. It must not
// import store, protocol, privacy, ingest, node or cli: those depend on it,
// never the other way round.
package contracts

import (
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cxnet/cxnet/kpi"
)

// Aggregate names what a contract computes per cell.
type Aggregate string

// The aggregates a contract may name.
const (
	AggregateCount      Aggregate = "count"      // number of records
	AggregateSum        Aggregate = "sum"        // sum of clipped values
	AggregateMean       Aggregate = "mean"       // mean of clipped values
	AggregateVariance   Aggregate = "variance"   // population variance of clipped values
	AggregateProportion Aggregate = "proportion" // share of values >= threshold
	AggregateNPS        Aggregate = "nps"        // net promoter score
	AggregateHistogram  Aggregate = "histogram"  // counts per bin
	AggregatePDCRate    Aggregate = "pdc_rate"   // share of patient–drug-class pairs with PDC >= 0.8; values are days of supply
)

var aggregates = []Aggregate{
	AggregateCount, AggregateSum, AggregateMean, AggregateVariance,
	AggregateProportion, AggregateNPS, AggregateHistogram, AggregatePDCRate,
}

// Period splits a contract window into calendar periods.
type Period string

// The periods a contract may name.
const (
	PeriodNone    Period = "none"
	PeriodMonth   Period = "month"   // labelled "2026-01"
	PeriodQuarter Period = "quarter" // calendar quarters, labelled "2026-Q1"
	PeriodYear    Period = "year"    // labelled "2026"
)

var periods = []Period{PeriodNone, PeriodMonth, PeriodQuarter, PeriodYear}

// PeriodDim is the name of the group key that carries a cell's period.
// It is reserved: group_by may not use it.
const PeriodDim = "period"

// Limits on a contract.
const (
	MaxContractSize = 1 << 20 // bytes of YAML
	MaxGroupDims    = 8       // group_by dimensions
	MaxCells        = 20000   // cells, periods included
	MaxPrecision    = 6       // decimals kept in fixed point
	MaxTitleLen     = 200     // characters
	MaxNameLen      = 128     // bytes of a measure, dimension name or category
)

// Contract is a validated KPI contract. Get one from Parse, which fills the
// defaults; treat it as read-only afterwards.
type Contract struct {
	ID        kpi.ContractID
	Version   int
	Title     string
	Measure   string
	Aggregate Aggregate

	// ValueRange clips values before anything is computed on them. It is
	// nil when the contract has none (count, proportion and pdc_rate may
	// omit it); for nps it defaults to [0, 10].
	ValueRange *Range
	Threshold  *kpi.Decimal  // proportion only
	Bins       []kpi.Decimal // histogram edges, strictly increasing
	Precision  int           // decimals kept in fixed point, 0..6

	Filter  map[string][]string // dimension -> allowed values (a set)
	GroupBy []GroupDim          // in the order written; cells sort them by name

	Window *Window // nil: all time
	Period Period

	Participants    []kpi.OrgID // as written (a set: the canonical form sorts it)
	Approvals       Approvals
	MinParticipants int
	Privacy         Privacy
	Readers         []kpi.OrgID // empty: every member may read
	// Schedule is how often the participants' nodes run a round by
	// themselves (0: only when someone runs `round run`); see
	// NextRoundAt.
	Schedule time.Duration
}

// Range is a closed interval [Lo, Hi] with Lo < Hi.
type Range struct {
	Lo, Hi kpi.Decimal
}

// GroupDim is one group_by dimension and its declared categories. The
// category order defines the cell layout.
type GroupDim struct {
	Name       string
	Categories []string
}

// Window is an inclusive range of calendar dates.
type Window struct {
	From, To       string // "YYYY-MM-DD"
	FromDay, ToDay int32  // the same dates as days since 1970-01-01 (kpi.DayOf)
}

// Contains reports whether day (days since the epoch) is inside the window.
func (w *Window) Contains(day int32) bool { return day >= w.FromDay && day <= w.ToDay }

// Approvals is the approvals rule of a contract: all participants, a
// majority of them, or a fixed number.
type Approvals struct {
	Rule ApprovalRule
	N    int // for ApprovalsNumber
}

// ApprovalRule says how Approvals counts.
type ApprovalRule string

// The approvals rules.
const (
	ApprovalsAll      ApprovalRule = "all"
	ApprovalsMajority ApprovalRule = "majority"
	ApprovalsNumber   ApprovalRule = "number"
)

// String renders the rule as written in a contract: "all", "majority" or
// the number.
func (a Approvals) String() string {
	if a.Rule == ApprovalsNumber {
		return strconv.Itoa(a.N)
	}
	return string(a.Rule)
}

// Needed returns how many of n participants must approve.
func (a Approvals) Needed(n int) int {
	switch a.Rule {
	case ApprovalsMajority:
		return n/2 + 1
	case ApprovalsNumber:
		return a.N
	default:
		return n
	}
}

// Privacy holds a contract's disclosure settings.
type Privacy struct {
	MinCohort int         // cells with fewer records network-wide are suppressed
	Epsilon   kpi.Decimal // 0: exact release
	Budget    kpi.Decimal // total epsilon over all releases
}

// ApprovalsNeeded returns how many participants must approve the contract.
func (c *Contract) ApprovalsNeeded() int { return c.Approvals.Needed(len(c.Participants)) }

// Group identifies a cell: its group_by categories and its period, sorted
// by dimension name.
type Group []kpi.Dim

// Map returns the group as a map, the shape used in JSON output.
func (g Group) Map() map[string]string {
	m := make(map[string]string, len(g))
	for _, d := range g {
		m[d.Name] = d.Value
	}
	return m
}

// String renders the group as "care_setting=inpatient,period=2026-Q1".
func (g Group) String() string {
	var b strings.Builder
	for i, d := range g {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(d.Name)
		b.WriteByte('=')
		b.WriteString(d.Value)
	}
	return b.String()
}

// Width returns the number of integer components per cell. Component 0 is
// always the count of records (of patient–drug-class pairs for pdc_rate).
// The others are:
//
//	count       -
//	sum, mean   S = Σ round(clip(v) × 10^precision)
//	variance    S, Q = Σ round(clip(v) × 10^precision)²
//	proportion  k = #(clip(v) >= threshold)
//	nps         promoters #(v >= 9), detractors #(v <= 6)
//	histogram   one count per bin [bins[i], bins[i+1])
//	pdc_rate    adherent pairs #(PDC >= 0.8)
func (c *Contract) Width() int {
	switch c.Aggregate {
	case AggregateSum, AggregateMean, AggregateProportion, AggregatePDCRate:
		return 2
	case AggregateVariance, AggregateNPS:
		return 3
	case AggregateHistogram:
		if len(c.Bins) >= 2 {
			return len(c.Bins)
		}
	}
	return 1
}

// Cells returns the cell layout: the cross product of the group_by
// categories and the periods of the window, over the dimensions sorted by
// name ("period" included), the first dimension varying slowest and
// categories in their declared order. Without group_by and periods there is
// one cell with an empty group.
func (c *Contract) Cells() []Group {
	l := c.layout()
	cells := make([]Group, l.cells)
	for i := range cells {
		g := make(Group, len(l.dims))
		for j, d := range l.dims {
			g[j] = kpi.Dim{Name: d.name, Value: d.values[(i/d.stride)%len(d.values)]}
		}
		cells[i] = g
	}
	return cells
}

// CellCounts returns component 0, the record count, of every cell. It
// returns nil when len(components) is not len(Cells())×Width().
func (c *Contract) CellCounts(components []int64) []int64 {
	w := c.Width()
	n := c.layout().cells
	if len(components) != n*w {
		return nil
	}
	counts := make([]int64, n)
	for i := range counts {
		counts[i] = components[i*w]
	}
	return counts
}

// layout is the cell layout of a contract.
type layout struct {
	dims  []layoutDim // sorted by name
	cells int
	spans []span // periods of the window; nil for period none
	// periodStride is the stride of the period dimension (0 without one).
	periodStride int
}

type layoutDim struct {
	name   string
	values []string
	stride int
}

func (c *Contract) layout() layout {
	var l layout
	for _, g := range c.GroupBy {
		l.dims = append(l.dims, layoutDim{name: g.Name, values: g.Categories})
	}
	if c.Period != PeriodNone && c.Period != "" && c.Window != nil {
		l.spans = periodSpans(c.Period, c.Window.FromDay, c.Window.ToDay)
		labels := make([]string, len(l.spans))
		for i, s := range l.spans {
			labels[i] = s.label
		}
		l.dims = append(l.dims, layoutDim{name: PeriodDim, values: labels})
	}
	slices.SortFunc(l.dims, func(a, b layoutDim) int { return strings.Compare(a.name, b.name) })
	l.cells = 1
	for i := len(l.dims) - 1; i >= 0; i-- {
		l.dims[i].stride = l.cells
		if len(l.dims[i].values) == 0 { // only for contracts not from Parse
			l.cells = 0
			break
		}
		l.cells *= len(l.dims[i].values)
		if l.cells > MaxCells {
			l.cells = 0 // only for contracts not from Parse
			break
		}
	}
	for _, d := range l.dims {
		if d.name == PeriodDim && l.spans != nil {
			l.periodStride = d.stride
		}
	}
	return l
}

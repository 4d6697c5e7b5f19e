package ui

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/cxnet/cxnet/kpi"
	"github.com/cxnet/cxnet/node/client"
)

// reasonText explains a suppression reason to the reader of a page.
func reasonText(reason string, minCohort int) string {
	switch reason {
	case "min_cohort":
		return fmt.Sprintf("fewer than %d records network-wide (the contract's floor)", minCohort)
	case "differencing":
		return fmt.Sprintf("its count moved by fewer than %d records since the previous release, which would reveal the records added in between", minCohort)
	case "":
		return "suppressed"
	}
	return reason
}

// cellRow is one cell of a result as the table shows it.
type cellRow struct {
	Key        string   // group as "care_setting=inpatient period=2026-Q1", for tests and links
	Dims       []string // the group's values, in the table's dimension order
	Label      string   // the values joined, for charts
	Count      string   // network count; "" when suppressed
	Value      string   // network value; "" when suppressed
	Suppressed bool
	Reason     string // min_cohort, differencing …
	ReasonText string
	HasOwn     bool
	OwnCount   string
	OwnValue   string
}

// dimsOf is the dimensions of a result's cells, sorted, "period" last (it
// is the x axis over time).
func dimsOf(cells []kpi.Cell) []string {
	if len(cells) == 0 {
		return nil
	}
	var dims []string
	hasPeriod := false
	for k := range cells[0].Group {
		if k == "period" {
			hasPeriod = true
			continue
		}
		dims = append(dims, k)
	}
	slices.Sort(dims)
	if hasPeriod {
		dims = append(dims, "period")
	}
	return dims
}

// groupKey renders a group as "care_setting=inpatient period=2026-Q1"
// (sorted), as `cxnet results` does.
func groupKey(g map[string]string) string {
	if len(g) == 0 {
		return "(all)"
	}
	keys := make([]string, 0, len(g))
	for k := range g {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + g[k]
	}
	return strings.Join(parts, " ")
}

// label joins a group's values in dims' order: "inpatient · 2026-Q1".
func label(g map[string]string, dims []string) string {
	if len(dims) == 0 {
		return "all records"
	}
	vals := make([]string, len(dims))
	for i, d := range dims {
		vals[i] = g[d]
	}
	return strings.Join(vals, " · ")
}

func cellRows(res *client.Results, dims []string) []cellRow {
	rows := make([]cellRow, len(res.Cells))
	for i, c := range res.Cells {
		r := cellRow{Key: groupKey(c.Group), Label: label(c.Group, dims), Suppressed: c.Suppressed, Reason: c.Reason}
		for _, d := range dims {
			r.Dims = append(r.Dims, c.Group[d])
		}
		if c.Suppressed {
			r.ReasonText = reasonText(c.Reason, res.Privacy.MinCohort)
		} else {
			r.Count, r.Value = countString(c.Count), valueString(c.Value)
		}
		if c.Local != nil {
			r.HasOwn, r.OwnCount, r.OwnValue = true, strconv.FormatInt(c.Local.Count, 10), valueString(c.Local.Value)
		}
		rows[i] = r
	}
	return rows
}

func countString(n *int64) string {
	if n == nil {
		return ""
	}
	return strconv.FormatInt(*n, 10)
}

// valueString renders a value at full precision, as `results --csv`
// does: numbers as the shortest decimal that reads back the same, a
// histogram's counts in brackets.
func valueString(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = valueString(e)
		}
		return "[" + strings.Join(parts, " ") + "]"
	}
	return fmt.Sprint(v)
}

// number is a value a chart can draw; nil for a gap (suppressed, or not a
// single number).
func number(v any) *float64 {
	if x, ok := v.(float64); ok {
		return &x
	}
	return nil
}

// chart is what static/ui.js draws with Chart.js; the page's table
// beside it holds the same numbers.
type chart struct {
	Type   string   `json:"type"` // bar | line
	Title  string   `json:"title"`
	XLabel string   `json:"x_label"`
	YLabel string   `json:"y_label"`
	Labels []string `json:"labels"`
	Series []series `json:"series"`
}

type series struct {
	Label string     `json:"label"`
	Role  string     `json:"role"`  // network | own: drawn solid or outlined/dashed
	Group int        `json:"group"` // colour and point style index
	Data  []*float64 `json:"data"`  // null: a gap, never a zero
}

// cellsChart is the latest release: the network's value per cell with
// this organisation's own value beside it. A suppressed cell is a gap in
// the network's bars, and its label says why.
func cellsChart(res *client.Results, rows []cellRow, org string) *chart {
	ch := &chart{Type: "bar", Title: "Network value per cell, and " + org + "'s own", XLabel: "cell", YLabel: res.Aggregate}
	net := series{Label: fmt.Sprintf("network (%d organisations)", len(res.Participants)), Role: "network", Group: 0}
	own := series{Label: org + " (own value)", Role: "own", Group: 1}
	numeric := false
	for i, c := range res.Cells {
		l := rows[i].Label
		if c.Suppressed {
			l += " — suppressed: " + orDefault(c.Reason, "suppressed")
		}
		ch.Labels = append(ch.Labels, l)
		var nv, ov *float64
		if !c.Suppressed {
			nv = number(c.Value)
		}
		if c.Local != nil {
			ov = number(c.Local.Value)
		}
		numeric = numeric || nv != nil || ov != nil
		net.Data = append(net.Data, nv)
		own.Data = append(own.Data, ov)
	}
	if !numeric {
		return nil // histograms: the table holds the bins
	}
	ch.Series = []series{net, own}
	return ch
}

// periodsChart is the latest release over its periods: one line per cell
// group (the other dimensions), the network's solid and the own dashed.
// nil when the contract has no period, or a single one.
func periodsChart(res *client.Results, dims []string, org string) *chart {
	var periods []string
	var groups []string
	byGroup := map[string]map[string]kpi.Cell{}
	for _, c := range res.Cells {
		p, ok := c.Group["period"]
		if !ok {
			return nil
		}
		if !slices.Contains(periods, p) {
			periods = append(periods, p)
		}
		g := label(c.Group, dims[:len(dims)-1])
		if byGroup[g] == nil {
			groups = append(groups, g)
			byGroup[g] = map[string]kpi.Cell{}
		}
		byGroup[g][p] = c
	}
	if len(periods) < 2 {
		return nil
	}
	slices.Sort(periods)
	ch := &chart{Type: "line", Title: "Over periods: network (solid) and " + org + " (dashed)", XLabel: "period", YLabel: res.Aggregate, Labels: periods}
	numeric := false
	for i, g := range groups {
		net := series{Label: g + " — network", Role: "network", Group: i}
		own := series{Label: g + " — " + org, Role: "own", Group: i}
		for _, p := range periods {
			c, ok := byGroup[g][p]
			var nv, ov *float64
			if ok && !c.Suppressed {
				nv = number(c.Value)
			}
			if ok && c.Local != nil {
				ov = number(c.Local.Value)
			}
			numeric = numeric || nv != nil
			net.Data = append(net.Data, nv)
			own.Data = append(own.Data, ov)
		}
		ch.Series = append(ch.Series, net, own)
	}
	if !numeric {
		return nil
	}
	return ch
}

// roundsTable is the network's value per cell over released rounds.
type roundsTable struct {
	Cells  []string // cell labels, the columns
	Rounds []roundsRow
	Chart  *chart
}

type roundsRow struct {
	Round      string
	ReleasedAt string
	Values     []roundValue
}

type roundValue struct {
	Value      string
	Suppressed bool
	Reason     string
}

// overRounds lays out released results (oldest first) by cell: the
// network's value only, since a node's own value is computed from its
// data as it is now, not as it was at each round.
func overRounds(results []*client.Results, dims []string) *roundsTable {
	if len(results) < 2 {
		return nil
	}
	t := &roundsTable{}
	col := map[string]int{}
	for _, res := range results {
		for _, c := range res.Cells {
			k := groupKey(c.Group)
			if _, ok := col[k]; !ok {
				col[k] = len(t.Cells)
				t.Cells = append(t.Cells, label(c.Group, dims))
			}
		}
	}
	ch := &chart{Type: "line", Title: "Network value per cell over released rounds", XLabel: "round", YLabel: results[0].Aggregate}
	ser := make([]series, len(t.Cells))
	for i, l := range t.Cells {
		ser[i] = series{Label: l, Role: "network", Group: i, Data: make([]*float64, len(results))}
	}
	numeric := false
	for ri, res := range results {
		row := roundsRow{Round: string(res.Round), ReleasedAt: res.ReleasedAt, Values: make([]roundValue, len(t.Cells))}
		for _, c := range res.Cells {
			i := col[groupKey(c.Group)]
			if c.Suppressed {
				row.Values[i] = roundValue{Suppressed: true, Reason: orDefault(c.Reason, "suppressed")}
				continue
			}
			row.Values[i] = roundValue{Value: valueString(c.Value)}
			ser[i].Data[ri] = number(c.Value)
			numeric = numeric || ser[i].Data[ri] != nil
		}
		t.Rounds = append(t.Rounds, row)
		ch.Labels = append(ch.Labels, string(res.Round))
	}
	if numeric {
		ch.Series = ser
		t.Chart = ch
	}
	return t
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

package journey

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// Cell is one cell of a pooled computation.
type Cell struct {
	Group map[string]string
	Count int64   // records; for pdc_rate, (patient, drug class) pairs
	Value float64 // the contract's aggregate; 0 when Count is 0
}

// Key is a group as text, "care_setting=home period=2025-Q1", for
// matching a released cell with its pooled one.
func Key(group map[string]string) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(group)) {
		parts = append(parts, k+"="+group[k])
	}
	return strings.Join(parts, " ")
}

// Pooled computes contract c over the observations of the given
// organisations put together — what a single database holding all their
// records would answer, which cxnet never builds. Over all of c's
// participants it is what the network releases; over one organisation, its
// own value. Cells come in contract order: each category, then each
// quarter. Patients are told apart per organisation, as cxnet's per-node
// pseudonyms do: a patient who filled at two pharmacies is a patient of
// each.
func (d *Dataset) Pooled(c Contract, orgs ...string) []Cell {
	type acc struct{ n, hits, detract, sum int64 }
	periods := []string{""}
	if c.Quarterly {
		periods = []string{fmt.Sprintf("%d-Q1", Year), fmt.Sprintf("%d-Q2", Year), fmt.Sprintf("%d-Q3", Year), fmt.Sprintf("%d-Q4", Year)}
	}
	index := func(cat, period string) int {
		ci, pi := slices.Index(c.Categories, cat), slices.Index(periods, period)
		if ci < 0 || pi < 0 {
			return -1
		}
		return ci*len(periods) + pi
	}
	accs := make([]acc, len(c.Categories)*len(periods))
	type pairKey struct{ org, subject, class string }
	pairs := map[pairKey][]obs{}
	for _, o := range d.obs {
		if o.measure != c.Measure || !slices.Contains(orgs, o.org) || o.date.Year() != Year {
			continue
		}
		if c.Aggregate == "pdc_rate" {
			k := pairKey{o.org, o.subject, o.dims["drug_class"]}
			pairs[k] = append(pairs[k], o)
			continue
		}
		period := ""
		if c.Quarterly {
			period = fmt.Sprintf("%d-Q%d", Year, (int(o.date.Month())+2)/3)
		}
		i := index(o.dims[c.Dim], period)
		if i < 0 {
			continue
		}
		v := o.value
		if c.Range != [2]int64{} {
			v = min(max(v, c.Range[0]), c.Range[1])
		}
		a := &accs[i]
		a.n++
		a.sum += v
		switch c.Aggregate {
		case "nps":
			a.hits += btoi64(v >= 9)
			a.detract += btoi64(v <= 6)
		case "proportion":
			a.hits += btoi64(v >= c.Threshold)
		}
	}
	end := time.Date(Year, 12, 31, 0, 0, 0, 0, time.UTC)
	for k, fills := range pairs {
		i := index(k.class, "")
		if i < 0 {
			continue
		}
		accs[i].n++
		accs[i].hits += btoi64(adherentPair(fills, end))
	}

	cells := make([]Cell, 0, len(accs))
	for ci, cat := range c.Categories {
		for pi, period := range periods {
			a := accs[ci*len(periods)+pi]
			cell := Cell{Group: map[string]string{c.Dim: cat}, Count: a.n}
			if period != "" {
				cell.Group["period"] = period
			}
			if a.n > 0 {
				n := float64(a.n)
				switch c.Aggregate {
				case "nps":
					cell.Value = float64(a.hits-a.detract) / n * 100
				case "proportion", "pdc_rate":
					cell.Value = float64(a.hits) / n
				case "mean":
					cell.Value = float64(a.sum) / n
				}
			}
			cells = append(cells, cell)
		}
	}
	return cells
}

// adherentPair says whether one patient's fills of one drug class cover
// at least 80% of the days from the first fill to end (inclusive): fills
// of a drug that overlap shift forward, and covered days are unioned
// across the drugs of the class — the proportion of days covered as
// docs/reference.md defines it, computed here day by day.
func adherentPair(fills []obs, end time.Time) bool {
	fills = slices.Clone(fills)
	slices.SortFunc(fills, func(a, b obs) int {
		if c := strings.Compare(a.drug, b.drug); c != 0 {
			return c
		}
		if c := a.date.Compare(b.date); c != 0 {
			return c
		}
		return int(a.value - b.value)
	})
	first := fills[0].date
	for _, f := range fills {
		if f.date.Before(first) {
			first = f.date
		}
	}
	days := int(end.Sub(first).Hours()/24) + 1
	covered := make([]bool, days)
	var cursor time.Time
	for i, f := range fills {
		if i == 0 || f.drug != fills[i-1].drug || cursor.Before(f.date) {
			cursor = f.date
		}
		for range f.value {
			if d := int(cursor.Sub(first).Hours() / 24); d >= 0 && d < days {
				covered[d] = true
			}
			cursor = cursor.AddDate(0, 0, 1)
		}
	}
	n := 0
	for _, c := range covered {
		n += btoi(c)
	}
	return 5*n >= 4*days
}

func btoi64(b bool) int64 { return int64(btoi(b)) }

package sim

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"time"
)

// Kinds of organisation a simulated consortium mixes, in the order they
// are dealt: of every ten organisations four are hospitals, three
// pharmacies, two pharma patient-support programmes and one a payer.
var kindCycle = []string{"hospital", "pharmacy", "hospital", "pharma", "pharmacy", "hospital", "payer", "pharmacy", "hospital", "pharma"}

// kindLean is how each kind's respondents answer "how likely are you to
// recommend …" (0–10): weights of detractors (0–6), passives (7–8) and
// promoters (9–10). Hospitals' inpatients are the most critical, support
// programmes' patients the most pleased, payers' members in between.
var kindLean = map[string][3]float64{
	"hospital": {0.30, 0.35, 0.35},
	"pharmacy": {0.20, 0.35, 0.45},
	"pharma":   {0.10, 0.30, 0.60},
	"payer":    {0.35, 0.35, 0.30},
}

// Org is one simulated organisation and its records.
type Org struct {
	ID, Kind string
	records  []record
}

type record struct {
	cell  int
	value int64
}

// Data is every simulated organisation's NPS answers: Records each, spread
// over Cells cells (the categories of one dimension, "cell"), with a
// per-kind lean and a per-organisation preference for some cells. The same
// seed gives the same data.
type Data struct {
	Orgs  []Org
	Cells int
}

// Generate deals n organisations, each with records answers over cells
// cells, from seed.
func Generate(n, records, cells int, seed uint64) (*Data, error) {
	switch {
	case n < 3:
		return nil, fmt.Errorf("sim: %d organisations: a round needs at least 3", n)
	case records < 1:
		return nil, fmt.Errorf("sim: %d records per organisation: need at least 1", records)
	case cells < 1:
		return nil, fmt.Errorf("sim: %d cells: need at least 1", cells)
	}
	d := &Data{Cells: cells}
	for i := range n {
		kind := kindCycle[i%len(kindCycle)]
		o := Org{ID: fmt.Sprintf("%s-%02d", short(kind), i), Kind: kind}
		rng := rand.New(rand.NewPCG(seed, uint64(i)))
		lean := kindLean[kind]
		// Each organisation sees some cells more than others: a third
		// of its answers fall in a block of cells of its own.
		block := rng.IntN(cells)
		for range records {
			cell := rng.IntN(cells)
			if rng.IntN(3) == 0 {
				cell = (block + rng.IntN(max(1, cells/8))) % cells
			}
			var v int64
			switch u := rng.Float64(); {
			case u < lean[0]:
				v = int64(rng.IntN(7))
			case u < lean[0]+lean[1]:
				v = 7 + int64(rng.IntN(2))
			default:
				v = 9 + int64(rng.IntN(2))
			}
			o.records = append(o.records, record{cell: cell, value: v})
		}
		d.Orgs = append(d.Orgs, o)
	}
	return d, nil
}

func short(kind string) string {
	switch kind {
	case "hospital":
		return "hosp"
	case "pharmacy":
		return "pharm"
	}
	return kind
}

// IDs returns the organisations' ids, in order.
func (d *Data) IDs() []string {
	out := make([]string, len(d.Orgs))
	for i, o := range d.Orgs {
		out[i] = o.ID
	}
	return out
}

// Kind returns org's kind ("" when unknown).
func (d *Data) Kind(org string) string {
	for _, o := range d.Orgs {
		if o.ID == org {
			return o.Kind
		}
	}
	return ""
}

// category names cell i of the "cell" dimension.
func category(i int) string { return fmt.Sprintf("k%05d", i) }

// CSV is org's records as canonical CSV, what `cxnet data import` reads.
func (d *Data) CSV(org string) string {
	var b strings.Builder
	b.WriteString("record_id,subject,measure,value,time,cell\n")
	day := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, o := range d.Orgs {
		if o.ID != org {
			continue
		}
		for i, r := range o.records {
			t := day.AddDate(0, 0, i%365)
			fmt.Fprintf(&b, "%s-%d,s%d,nps,%d,%s,%s\n", o.ID, i, i, r.value, t.Format("2006-01-02"), category(r.cell))
		}
	}
	return b.String()
}

// ContractYAML is an NPS contract over every organisation, one cell per
// category of "cell" (none, a single cell, when Cells is 1), whose rounds
// may release over minParticipants of them.
func (d *Data) ContractYAML(id, approvals string, minParticipants int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "id: %s\nmeasure: nps\naggregate: nps\n", id)
	if d.Cells > 1 {
		cats := make([]string, d.Cells)
		for i := range cats {
			cats[i] = category(i)
		}
		fmt.Fprintf(&b, "group_by:\n  cell: [%s]\n", strings.Join(cats, ", "))
	}
	fmt.Fprintf(&b, "participants: [%s]\napprovals: %s\nmin_participants: %d\nprivacy: {min_cohort: %d}\n",
		strings.Join(d.IDs(), ", "), approvals, minParticipants, MinCohort)
	return b.String()
}

// MinCohort is the simulated contracts' cohort floor.
const MinCohort = 11

// Cell is one cell of the pooled computation.
type Cell struct {
	Group string // "cell=k00012", "" for the single cell
	Count int64
	NPS   float64
	Orgs  int // organisations with records in the cell
}

// Pooled computes the contract's cells over the given organisations'
// records put together: what one database holding them all would answer,
// which cxnet never builds.
func (d *Data) Pooled(orgs ...string) map[string]Cell {
	type acc struct {
		n, pro, det int64
		orgs        map[string]bool
	}
	accs := make([]acc, d.Cells)
	for _, o := range d.Orgs {
		if !slices.Contains(orgs, o.ID) {
			continue
		}
		for _, r := range o.records {
			a := &accs[r.cell]
			a.n++
			if r.value >= 9 {
				a.pro++
			} else if r.value <= 6 {
				a.det++
			}
			if a.orgs == nil {
				a.orgs = map[string]bool{}
			}
			a.orgs[o.ID] = true
		}
	}
	out := make(map[string]Cell, d.Cells)
	for i, a := range accs {
		g := ""
		if d.Cells > 1 {
			g = "cell=" + category(i)
		}
		c := Cell{Group: g, Count: a.n, Orgs: len(a.orgs)}
		if a.n > 0 {
			c.NPS = float64(a.pro-a.det) / float64(a.n) * 100
		}
		out[g] = c
	}
	return out
}

// sameValue says whether a released NPS equals the pooled one: the
// release rounds it to four decimals.
func sameValue(released, pooled float64) bool { return math.Abs(released-pooled) <= 0.5e-4+1e-9 }

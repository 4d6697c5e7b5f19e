package cli

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strings"
	"time"

	"github.com/cxnet/cxnet/kpi"
	"github.com/cxnet/cxnet/node/client"
	"github.com/cxnet/cxnet/simulations/journey"
)

// rounds runs one encrypted round per contract and reads each release on
// the node the story reads it on.
func (d *demo) rounds(ctx context.Context) error {
	d.step("6. one encrypted round per KPI: each participant encrypts its cells and commits them in the log before any ciphertext\n"+
		"   leaves it; %d members decrypt the sum of exactly those inputs; only cells over the floor are unpadded", d.decrypt)
	for _, c := range d.data.Contracts() {
		t0 := time.Now()
		res, err := d.member(c.RunBy).cl.RunRound(ctx, c.ID)
		if err != nil {
			return fmt.Errorf("%s runs a round of %s: %w", c.RunBy, c.ID, err)
		}
		k := releasedKPI{c: c, run: res, seconds: time.Since(t0).Seconds()}
		d.printf("  %-21s run by %s, released in %.1f s: inputs of %s, decrypted by %s\n", c.ID, c.RunBy, k.seconds,
			strings.Join(res.Participants, ", "), strings.Join(res.Decryptors, ", "))
		if len(c.Readers) > 0 {
			if len(res.SealedTo) == 0 || len(res.Cells) > 0 {
				d.mismatch = append(d.mismatch, fmt.Sprintf("%s: the round's reply on %s carries %d cells (sealed to %v); a contract with readers releases to them only",
					c.ID, c.RunBy, len(res.Cells), res.SealedTo))
			}
			d.printf("  %-21s sealed to %s: %s's node got no cells\n", "", strings.Join(res.SealedTo, ", "), c.RunBy)
			for _, org := range c.Participants {
				_, err := d.member(org).cl.Results(ctx, c.ID, res.Round)
				var ae *client.Error
				if !errors.As(err, &ae) || ae.Status != http.StatusForbidden {
					d.mismatch = append(d.mismatch, fmt.Sprintf("%s: `results` on participant %s answered %v, want 403", c.ID, org, err))
				}
			}
			d.printf("  %-21s `cxnet results %s` on %s: refused (403), as on every participant\n", "", c.ID, c.Participants[0])
		}
		if k.read, err = d.member(c.ReadOn).cl.Results(ctx, c.ID, res.Round); err != nil {
			return fmt.Errorf("%s reads %s: %w", c.ReadOn, c.ID, err)
		}
		for _, r := range c.Readers {
			if r == c.ReadOn {
				continue
			}
			other, err := d.member(r).cl.Results(ctx, c.ID, res.Round)
			if err != nil {
				return fmt.Errorf("%s reads %s: %w", r, c.ID, err)
			}
			if !sameCells(other.Cells, k.read.Cells) {
				d.mismatch = append(d.mismatch, fmt.Sprintf("%s: %s and %s open different cells", c.ID, r, c.ReadOn))
			}
			d.printf("  %-21s %s, a reader too, opens the same %d cells on its node\n", "", r, len(other.Cells))
		}
		k.beside = map[string]kpi.Cell{}
		if c.Beside == c.ReadOn {
			for _, cell := range k.read.Cells {
				if cell.Local != nil {
					k.beside[journey.Key(cell.Group)] = kpi.Cell{Count: &cell.Local.Count, Value: cell.Local.Value}
				}
			}
		} else {
			p, err := d.member(c.Beside).cl.Preview(ctx, client.PreviewRequest{ID: c.ID})
			if err != nil {
				return fmt.Errorf("%s previews %s: %w", c.Beside, c.ID, err)
			}
			for _, cell := range p.Cells {
				k.beside[journey.Key(cell.Group)] = cell
			}
		}
		d.released = append(d.released, k)
	}
	return nil
}

// report prints each release as a table beside one organisation's own
// value, and checks every cell against the pooled computation.
func (d *demo) report(ctx context.Context) {
	d.step("7. the released KPIs, each beside one organisation's own value (computed on its node, never sent); the last column\n" +
		"   checks each against the same KPI over all the data pooled, which only this demo can see")
	for _, k := range d.released {
		c := k.c
		network := d.data.Pooled(c, c.Participants...)
		own := d.data.Pooled(c, c.Beside)
		pooled, ownPooled := map[string]journey.Cell{}, map[string]journey.Cell{}
		for i, cell := range network {
			pooled[journey.Key(cell.Group)], ownPooled[journey.Key(cell.Group)] = cell, own[i]
		}
		d.printf("\n  %s — %s\n", c.ID, c.Title)
		where := "read on " + c.ReadOn + ", beside its own value"
		if c.Beside != c.ReadOn {
			where = fmt.Sprintf("read on %s (a reader: it holds no dispenses), beside %s's own value from `contract preview` on its node", c.ReadOn, c.Beside)
		}
		d.printf("  round %s, %s\n", k.read.Round, where)
		period := ""
		if c.Quarterly {
			period = "period"
		}
		d.printf("  %-13s %-8s %-24s %-24s %s\n", strings.ReplaceAll(c.Dim, "_", " "), period, "network", c.Beside+" (own)", "pooled check")
		for _, cell := range k.read.Cells {
			key := journey.Key(cell.Group)
			want, ok := pooled[key]
			if !ok {
				d.mismatch = append(d.mismatch, fmt.Sprintf("%s: released cell %s is not one of the contract's", c.ID, key))
				continue
			}
			net, check := d.checkNetwork(c, key, cell, want)
			mine := d.checkOwn(c, key, k.beside[key], ownPooled[key])
			d.printf("  %-13s %-8s %-24s %-24s %s\n", cell.Group[c.Dim], cell.Group["period"], net, mine, check)
		}
		if len(k.read.Cells) != len(network) {
			d.mismatch = append(d.mismatch, fmt.Sprintf("%s: %d cells released, the contract has %d", c.ID, len(k.read.Cells), len(network)))
		}
	}
	d.printf("\n  %s\n", strings.Join([]string{
		"nps: % promoters (9-10) − % detractors (0-6); communication: share of answers \"always\"; adherence: share of",
		"(patient, drug class) pairs with ≥ 80% of days covered from the first fill to Dec 31; waits in minutes.",
	}, "\n  "))
}

// checkNetwork renders a released cell and checks it against the pooled
// cell: the same count and value (released values carry 6 significant
// digits), or suppressed exactly when the pooled count is under the floor.
func (d *demo) checkNetwork(c journey.Contract, key string, cell kpi.Cell, want journey.Cell) (shown, check string) {
	if cell.Suppressed {
		shown = "suppressed (" + cell.Reason + ")"
		if cell.Reason != "min_cohort" || want.Count >= journey.MinCohort {
			d.mismatch = append(d.mismatch, fmt.Sprintf("%s %s: suppressed (%s), but the pooled cell has %d records, floor %d", c.ID, key, cell.Reason, want.Count, journey.MinCohort))
			return shown, "DIFFERS: pooled " + render(c, want.Count, want.Value)
		}
		return shown, fmt.Sprintf("ok: %d pooled < floor %d", want.Count, journey.MinCohort)
	}
	v, ok := cell.Value.(float64)
	if cell.Count == nil || !ok {
		d.mismatch = append(d.mismatch, fmt.Sprintf("%s %s: released without a count or value (%v, %v)", c.ID, key, cell.Count, cell.Value))
		return "?", "DIFFERS"
	}
	shown = render(c, *cell.Count, v)
	if *cell.Count != want.Count || !close6(v, want.Value) || want.Count < journey.MinCohort {
		d.mismatch = append(d.mismatch, fmt.Sprintf("%s %s: released %d, %v; pooled %d, %v", c.ID, key, *cell.Count, v, want.Count, want.Value))
		return shown, "DIFFERS: pooled " + render(c, want.Count, want.Value)
	}
	return shown, "ok"
}

// checkOwn renders an organisation's own cell and checks it against its
// data alone.
func (d *demo) checkOwn(c journey.Contract, key string, cell kpi.Cell, want journey.Cell) string {
	var n int64
	if cell.Count != nil {
		n = *cell.Count
	}
	if n == 0 {
		if want.Count != 0 {
			d.mismatch = append(d.mismatch, fmt.Sprintf("%s %s: %s's own cell is empty, its data holds %d records", c.ID, key, c.Beside, want.Count))
		}
		return "-"
	}
	v, ok := cell.Value.(float64)
	if !ok || n != want.Count || !close6(v, want.Value) {
		d.mismatch = append(d.mismatch, fmt.Sprintf("%s %s: %s's own cell %d, %v; its data %d, %v", c.ID, key, c.Beside, n, cell.Value, want.Count, want.Value))
		return render(c, n, v) + " DIFFERS"
	}
	return render(c, n, v)
}

// sameCells says whether two readers opened the same cells.
func sameCells(a, b []kpi.Cell) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if journey.Key(a[i].Group) != journey.Key(b[i].Group) || a[i].Suppressed != b[i].Suppressed ||
			countOf(a[i].Count) != countOf(b[i].Count) || fmt.Sprint(a[i].Value) != fmt.Sprint(b[i].Value) {
			return false
		}
	}
	return true
}

// countOf is a released count, -1 when there is none.
func countOf(n *int64) int64 {
	if n == nil {
		return -1
	}
	return *n
}

// close6 says whether a released value is the exact one rounded to 6
// significant digits.
func close6(released, exact float64) bool {
	return math.Abs(released-exact) <= 5e-6*math.Abs(exact)+1e-12
}

// render shows a cell's value the way a person reads the aggregate.
func render(c journey.Contract, n int64, v float64) string {
	unit := "answers"
	switch c.Aggregate {
	case "nps":
		return fmt.Sprintf("%+6.1f  %6d %s", v, n, unit)
	case "pdc_rate":
		unit = "patients"
		fallthrough
	case "proportion":
		return fmt.Sprintf("%5.1f%%  %6d %s", 100*v, n, unit)
	default:
		return fmt.Sprintf("%4.0f min %5d %s", v, n, unit)
	}
}

// checkCMS has each hospital preview, over its own CMS records, the
// completed surveys per state, and checks that the two add up to CMS's
// published figures.
func (d *demo) checkCMS(ctx context.Context) error {
	hospitals := []string{journey.NorthGeneral.ID, journey.SouthValley.ID}
	d.step("8. the hospitals' CMS records against CMS's published figures: each hospital previews completed surveys per state over\n" +
		"   its own facilities (`cxnet contract preview`, nothing sent); added up here, they must be CMS's numbers")
	yaml, states, err := journey.CMSPreview()
	if err != nil {
		return err
	}
	published, err := journey.CMSCompleted()
	if err != nil {
		return err
	}
	counts := map[string]map[string]int64{}
	shares := map[string]map[string]float64{}
	for _, h := range hospitals {
		p, err := d.member(h).cl.Preview(ctx, client.PreviewRequest{File: "cms-rating-by-state.yaml", YAML: yaml})
		if err != nil {
			return fmt.Errorf("%s previews its CMS records: %w", h, err)
		}
		counts[h], shares[h] = map[string]int64{}, map[string]float64{}
		for _, cell := range p.Cells {
			if cell.Count != nil {
				counts[h][cell.Group["state"]] = *cell.Count
			}
			if v, ok := cell.Value.(float64); ok {
				shares[h][cell.Group["state"]] = v
			}
		}
	}
	for _, s := range states {
		if counts[hospitals[0]][s]+counts[hospitals[1]][s] == published[s] {
			d.cmsStates++
		} else {
			d.mismatch = append(d.mismatch, fmt.Sprintf("CMS %s: %s %d + %s %d completed surveys, CMS published %d",
				s, hospitals[0], counts[hospitals[0]][s], hospitals[1], counts[hospitals[1]][s], published[s]))
		}
	}
	d.printf("  %-5s %14s %26s %26s\n", "state", "CMS completed", hospitals[0]+" (rated 9-10)", hospitals[1]+" (rated 9-10)")
	for _, s := range []string{"CA", "NY", "TX", "FL", "OH"} {
		d.printf("  %-5s %14s %17s (%4.1f%%) %17s (%4.1f%%)\n", s, thousands(published[s]),
			thousands(counts[hospitals[0]][s]), 100*shares[hospitals[0]][s], thousands(counts[hospitals[1]][s]), 100*shares[hospitals[1]][s])
	}
	d.printf("  in %d of %d states the two hospitals' surveys add up to CMS's published number of completed surveys\n", d.cmsStates, len(states))
	return nil
}

// summary says what was computed and what never left a node.
func (d *demo) summary() {
	d.step("summary")
	cells, suppressed := 0, 0
	var open, sealed []string
	for _, k := range d.released {
		for _, c := range k.read.Cells {
			if c.Suppressed {
				suppressed++
			} else {
				cells++
			}
		}
		if len(k.c.Readers) > 0 {
			sealed = append(sealed, fmt.Sprintf("%s to %s only", k.c.ID, strings.Join(k.c.Readers, ", ")))
		} else {
			open = append(open, k.c.ID)
		}
	}
	verdict := "every released cell and every own value equals the pooled computation"
	if len(d.mismatch) > 0 {
		verdict = fmt.Sprintf("%d DIFFER from the pooled computation", len(d.mismatch))
	}
	d.printf("  computed:           %d KPIs over the data of %d organisations: %d cells released, %d suppressed under the floor of %d;\n"+
		"                      %s\n", len(d.released), len(d.members), cells, suppressed, journey.MinCohort, verdict)
	if d.data.CMS {
		d.printf("                      the hospitals' CMS records match CMS's published completed surveys in %d states\n", d.cmsStates)
	}
	d.printf("  released:           %s to every member; %s\n", strings.Join(open, ", "), strings.Join(sealed, "; "))
	d.printf("  never left a node:  %s records (survey answers, dispenses%s), every patient identifier (pseudonymised\n"+
		"                      on import), each organisation's own cells\n", thousands(d.records), map[bool]string{true: ", CMS surveys"}[d.data.CMS])
	d.printf("  crossed the network: signed governance entries, key shares (committed first), signed digests of the inputs,\n" +
		"                      BGV ciphertexts and their sums, signed fingerprints, signed decryption shares and\n" +
		"                      the pads of the cells over the floor\n")
	d.printf("  whole demo:         %.1f s\n", time.Since(d.start).Seconds())
}

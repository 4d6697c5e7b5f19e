package node_test

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/cxnet/cxnet/node/client"
	"github.com/cxnet/cxnet/node/nodetest"
)

// npsCell is a cell's plain truth, summed over every organisation.
type npsCell struct{ n, promoters, detractors int64 }

func (c npsCell) nps() float64 {
	return float64(c.promoters-c.detractors) / float64(c.n) * 100
}

// importNPS gives a node n random NPS answers: most outpatient, some
// inpatient, and only two in pharmacy (a cell under the cohort floor).
func importNPS(t *testing.T, m *nodetest.Member, n int, seed uint64, truth map[string]*npsCell) {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 7))
	var b strings.Builder
	b.WriteString("record_id,subject,measure,value,time,care_setting\n")
	for i := range n {
		care := "outpatient"
		switch {
		case i < 2:
			care = "pharmacy"
		case i%3 == 0:
			care = "inpatient"
		}
		v := rng.IntN(11)
		fmt.Fprintf(&b, "%s-%d,p%d,nps,%d,2026-03-%02d,%s\n", m.Org, i, i, v, 1+i%28, care)
		c := truth[care]
		c.n++
		if v >= 9 {
			c.promoters++
		} else if v <= 6 {
			c.detractors++
		}
	}
	_, err := m.Client.Import(context.Background(), client.ImportRequest{Format: "csv"}, nil,
		[]client.ImportFile{{Name: m.Org + ".csv", Body: strings.NewReader(b.String())}})
	if err != nil {
		t.Fatal(err)
	}
}

// npsConsortium is len(sizes) members in a consortium with their key,
// each holding sizes[i] random NPS answers (importNPS, seeds seed+i);
// truth sums them.
func npsConsortium(t *testing.T, name string, seed uint64, sizes ...int) (*nodetest.Cluster, map[string]*npsCell) {
	t.Helper()
	c := nodetest.NewCluster(t, len(sizes), nodetest.Options{})
	c.Form(name)
	c.WaitForKeys()
	truth := map[string]*npsCell{"inpatient": {}, "outpatient": {}, "pharmacy": {}}
	for i, m := range c.Nodes {
		importNPS(t, m, sizes[i], seed+uint64(i), truth)
	}
	return c, truth
}

// agree proposes a contract through one member and approves it through
// the others given.
func agree(t *testing.T, id, yaml string, by *nodetest.Member, approvers ...*nodetest.Member) {
	t.Helper()
	ctx := context.Background()
	if _, err := by.Client.Propose(ctx, id+".yaml", yaml); err != nil {
		t.Fatal(err)
	}
	for _, m := range approvers {
		if _, err := m.Client.ContractAction(ctx, "approve", client.ContractAction{ID: id}); err != nil {
			t.Fatal(err)
		}
	}
}

// TestRound: three hospitals run an encrypted round of an NPS contract.
// The released NPS per care setting equals the plain computation over all
// their records, the pharmacy cell (2 records per hospital, under the
// cohort floor of 11) is suppressed with neither count nor value, every
// node serves the same result, and each shows its own value beside it.
func TestRound(t *testing.T) {
	ctx := context.Background()
	c, truth := npsConsortium(t, "round", 1, 200, 250, 300)
	contract := "id: nps-care\nmeasure: nps\naggregate: nps\ngroup_by: {care_setting: [inpatient, outpatient, pharmacy]}\n" +
		"participants: [org-0, org-1, org-2]\napprovals: all\nprivacy: {min_cohort: 11}\n"
	agree(t, "nps-care", contract, c.Nodes[0], c.Nodes[1:]...)
	res, err := c.Nodes[1].Client.RunRound(ctx, "nps-care")
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Participants) != 3 || len(res.Decryptors) != 2 || res.Privacy.MinCohort != 11 || res.Privacy.Suppressed != 1 {
		t.Fatalf("result %+v", res)
	}
	for _, cell := range res.Cells {
		care := cell.Group["care_setting"]
		want := truth[care]
		if care == "pharmacy" {
			if !cell.Suppressed || cell.Count != nil || cell.Value != nil {
				t.Fatalf("pharmacy (%d records) not suppressed: %+v", want.n, cell)
			}
			continue
		}
		got, _ := cell.Value.(float64)
		if cell.Suppressed || cell.Count == nil || *cell.Count != want.n || math.Abs(got-want.nps()) > 1e-3 {
			t.Fatalf("%s: got count %v nps %v, want %d and %.4f", care, cell.Count, cell.Value, want.n, want.nps())
		}
		if cell.Local == nil || cell.Local.Count <= 0 || cell.Local.Count >= want.n {
			t.Fatalf("%s: local value %+v", care, cell.Local)
		}
	}
	for _, m := range c.Nodes {
		r, err := m.Client.Results(ctx, "nps-care", "")
		if err != nil {
			t.Fatal(err)
		}
		if r.Round != res.Round || fmt.Sprint(r.Cells[1].Value) != fmt.Sprint(res.Cells[1].Value) {
			t.Fatalf("%s serves %+v, want round %s", m.Org, r, res.Round)
		}
	}
}

// TestRoundSurvivesAMemberDown: with one of four members' nodes down, a
// contract whose min_participants is 3 still releases, over the three live
// inputs and decrypted by the three live members (the threshold).
func TestRoundSurvivesAMemberDown(t *testing.T) {
	ctx := context.Background()
	c, _ := npsConsortium(t, "down", 10, 100, 100, 100, 100)
	contract := "id: nps-3of4\nmeasure: nps\naggregate: nps\nparticipants: [org-0, org-1, org-2, org-3]\napprovals: 1\nmin_participants: 3\nprivacy: {min_cohort: 11}\n"
	agree(t, "nps-3of4", contract, c.Nodes[0])
	c.RequireSameState()
	c.Nodes[3].Stop()
	res, err := c.Nodes[0].Client.RunRound(ctx, "nps-3of4")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(res.Participants, ",") != "org-0,org-1,org-2" || strings.Join(res.Decryptors, ",") != "org-0,org-1,org-2" {
		t.Fatalf("inputs %v, decryptors %v; want org-0, org-1 and org-2 for both", res.Participants, res.Decryptors)
	}
	if *res.Cells[0].Count != 300 {
		t.Fatalf("count %d, want the three live members' 300", *res.Cells[0].Count)
	}
}

// TestRoundWithDifferentialPrivacy: a contract with privacy.epsilon 1 and a
// budget of 2 releases noisy counts close to the truth (discrete Laplace,
// scale 2: within ±40 with overwhelming probability), states its epsilon,
// and runs twice; a third round is refused because the budget is spent.
func TestRoundWithDifferentialPrivacy(t *testing.T) {
	ctx := context.Background()
	c, truth := npsConsortium(t, "dp", 20, 300, 300, 300)
	contract := "id: nps-dp\nmeasure: nps\naggregate: nps\ngroup_by: {care_setting: [inpatient, outpatient, pharmacy]}\n" +
		"participants: [org-0, org-1, org-2]\napprovals: 1\nprivacy: {min_cohort: 11, epsilon: 1, budget: 2}\n"
	agree(t, "nps-dp", contract, c.Nodes[0])
	c.RequireSameState()
	for range 2 {
		res, err := c.Nodes[1].Client.RunRound(ctx, "nps-dp")
		if err != nil {
			t.Fatal(err)
		}
		if res.Privacy.Epsilon != 1 {
			t.Fatalf("privacy %+v", res.Privacy)
		}
		for _, cell := range res.Cells {
			care := cell.Group["care_setting"]
			if care == "pharmacy" {
				continue // 6 records: suppressed unless the noise is large
			}
			if cell.Suppressed || cell.Count == nil || math.Abs(float64(*cell.Count-truth[care].n)) > 40 {
				t.Fatalf("%s: released count %v, true %d", care, cell.Count, truth[care].n)
			}
		}
	}
	_, err := c.Nodes[2].Client.RunRound(ctx, "nps-dp")
	if err == nil || !strings.Contains(err.Error(), "privacy budget is spent") {
		t.Fatalf("third round: %v", err)
	}
}

// TestScheduledRound: a contract with a schedule runs its first round by
// itself once active — opened by the first participant in sorted order,
// with nobody calling `round run` — and opens no second one before the
// schedule says so.
func TestScheduledRound(t *testing.T) {
	ctx := context.Background()
	c, truth := npsConsortium(t, "scheduled", 1, 100, 100, 100)
	contract := "id: nps-daily\nmeasure: nps\naggregate: nps\ngroup_by: {care_setting: [inpatient, outpatient, pharmacy]}\n" +
		"participants: [org-2, org-1, org-0]\napprovals: all\nprivacy: {min_cohort: 11}\nschedule: 1d\n"
	agree(t, "nps-daily", contract, c.Nodes[2], c.Nodes[:2]...)
	info, err := c.Nodes[1].Client.Contract(ctx, "nps-daily")
	if err != nil || info.Schedule != "1d" || info.NextRound == nil || info.NextRound.By != "org-0" {
		t.Fatalf("contract show of a scheduled contract: %+v %v", info, err)
	}
	var res *client.Results
	if !c.WaitFor(30*time.Second, func() bool {
		res, err = c.Nodes[1].Client.Results(ctx, "nps-daily", "")
		return err == nil
	}) {
		t.Fatal("no scheduled round released within 30 s of the contract's activation")
	}
	if got, _ := res.Cells[1].Value.(float64); res.Cells[1].Count == nil || *res.Cells[1].Count != truth["outpatient"].n || math.Abs(got-truth["outpatient"].nps()) > 1e-3 {
		t.Fatalf("scheduled round released %+v, want outpatient %d answers, NPS %.4f", res.Cells[1], truth["outpatient"].n, truth["outpatient"].nps())
	}
	// Three more looks by every node's scheduler: still one round, opened
	// by org-0.
	time.Sleep(3 * nodetest.Loops.Schedule)
	audit, err := c.Nodes[0].Client.Audit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var openers []string
	for _, e := range audit.Entries {
		if e.Kind == "round.opened" {
			openers = append(openers, e.Actor)
		}
	}
	if len(openers) != 1 || openers[0] != "org-0" {
		t.Fatalf("rounds opened by %v, want one by org-0", openers)
	}
	// The next round is a day after the first opened, and org-1's turn.
	info, err = c.Nodes[2].Client.Contract(ctx, "nps-daily")
	if err != nil || info.NextRound == nil || info.NextRound.By != "org-1" {
		t.Fatalf("next round after the first: %+v %v", info.NextRound, err)
	}
	if due, err := time.Parse(time.RFC3339, info.NextRound.Due); err != nil || time.Until(due) < 23*time.Hour || time.Until(due) > 24*time.Hour {
		t.Fatalf("next round due %s, want about a day from now", info.NextRound.Due)
	}
}

// TestCellOfOneOrganisationSuppressed: a cell above the cohort floor that
// one organisation alone feeds would release that organisation's own
// cell to the others: it is suppressed (reason min_organisations), while
// the cells every organisation feeds are released.
func TestCellOfOneOrganisationSuppressed(t *testing.T) {
	ctx := context.Background()
	c, truth := npsConsortium(t, "one-org", 7, 100, 100, 100)
	var b strings.Builder
	b.WriteString("record_id,subject,measure,value,time,care_setting\n")
	for i := range 30 {
		fmt.Fprintf(&b, "tele-%d,t%d,nps,%d,2026-03-%02d,telehealth\n", i, i, i%11, 1+i%28)
	}
	if _, err := c.Nodes[0].Client.Import(ctx, client.ImportRequest{Format: "csv"}, nil,
		[]client.ImportFile{{Name: "tele.csv", Body: strings.NewReader(b.String())}}); err != nil {
		t.Fatal(err)
	}
	agree(t, "nps-tele", "id: nps-tele\nmeasure: nps\naggregate: nps\ngroup_by: {care_setting: [inpatient, outpatient, telehealth]}\n"+
		"participants: [org-0, org-1, org-2]\napprovals: 1\nprivacy: {min_cohort: 11}\n", c.Nodes[0])
	c.RequireSameState()
	res, err := c.Nodes[1].Client.RunRound(ctx, "nps-tele")
	if err != nil {
		t.Fatal(err)
	}
	for _, cell := range res.Cells {
		care := cell.Group["care_setting"]
		if care == "telehealth" {
			if !cell.Suppressed || cell.Count != nil || cell.Reason != "min_organisations" {
				t.Fatalf("org-0's own 30 telehealth answers released to the others: %+v", cell)
			}
			continue
		}
		if cell.Suppressed || cell.Count == nil || *cell.Count != truth[care].n {
			t.Fatalf("%s: %+v, want %d answers released", care, cell, truth[care].n)
		}
	}
}

package node_test

import (
	"context"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cxnet/cxnet/node"
	"github.com/cxnet/cxnet/node/client"
	"github.com/cxnet/cxnet/node/nodetest"
)

// auditOf returns a member's audit entries of a kind.
func auditOf(t *testing.T, m *nodetest.Member, kind string) []client.AuditEntry {
	t.Helper()
	a, err := m.Client.Audit(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var out []client.AuditEntry
	for _, e := range a.Entries {
		if e.Kind == kind {
			out = append(out, e)
		}
	}
	return out
}

// TestRogueKeyShareAttack: a member reveals another public-key share than
// the one it committed to (the last step of the rogue-key attack, where
// the share is chosen after seeing the others'). Every node refuses it,
// naming the member, and no collective key is built from it.
func TestRogueKeyShareAttack(t *testing.T) {
	c := nodetest.NewCluster(t, 3, nodetest.Options{})
	c.Nodes[2].Node.Deviate(node.Deviation{RevealOtherKeyShare: true})
	c.Form("rogue-key")
	var refused []client.AuditEntry
	if !c.WaitFor(30*time.Second, func() bool {
		refused = nil
		for _, e := range auditOf(t, c.Nodes[0], "keys.share") {
			// (a share for an epoch a newer one replaced is refused too,
			// harmlessly, while members are admitted one by one)
			if e.Detail["outcome"] == "rejected" && strings.Contains(e.Detail["reason"], "commitment") {
				refused = append(refused, e)
			}
		}
		return len(refused) > 0
	}) {
		t.Fatal("org-2's rogue share was not refused within 30 s")
	}
	for _, e := range refused {
		if e.Actor != "org-2" || !strings.Contains(e.Detail["reason"], "does not match the commitment") {
			t.Fatalf("refusal %+v, want only org-2's share refused for not matching its commitment", e)
		}
	}
	// The key of the members before org-2 stays the consortium's; the
	// epoch with org-2 is never keyed.
	for _, m := range c.Nodes {
		st := c.Status(m)
		if st.Keys != nil && slices.Contains(st.Keys.Members, "org-2") {
			t.Fatalf("%s uses key epoch %d of %v, keyed despite org-2's rogue share", m.Org, st.Keys.Epoch, st.Keys.Members)
		}
	}
}

// TestDeviatingAggregator: the aggregator of a round deviates in each of
// the ways a cheating member would, to learn another organisation's
// cells or a cell under the floor; each time the honest nodes refuse,
// the round fails, and the log names the aggregator. An honest round
// afterwards releases the exact values.
func TestDeviatingAggregator(t *testing.T) {
	ctx := context.Background()
	c, truth := npsConsortium(t, "deviating", 3, 150, 150, 150)
	contract := "id: nps-dev\nmeasure: nps\naggregate: nps\ngroup_by: {care_setting: [inpatient, outpatient, pharmacy]}\n" +
		"participants: [org-0, org-1, org-2]\napprovals: 1\nprivacy: {min_cohort: 11}\n"
	agree(t, "nps-dev", contract, c.Nodes[0])
	c.RequireSameState()
	agg := c.Nodes[0]
	for _, tc := range []struct {
		name string
		d    node.Deviation
		want string // in the failure's reason
	}{
		{"input cancellation: ciphertexts asked for before the seal", node.Deviation{FetchBeforeSeal: true}, "not sealed"},
		{"a subset of the inputs decrypted", node.Deviation{DropInput: "org-2"}, "not the sum of the inputs"},
		{"a decryptor's share forged", node.Deviation{ForgeShare: true}, "not the sum of the shares"},
		{"every count claimed above the floor", node.Deviation{InflateCounts: true}, "did not attest"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			agg.Node.Deviate(tc.d)
			defer agg.Node.Deviate(node.Deviation{})
			before := len(auditOf(t, c.Nodes[1], "round.failed"))
			_, err := agg.Client.RunRound(ctx, "nps-dev")
			if err == nil {
				t.Fatal("the deviating aggregator's round released")
			}
			failed := auditOf(t, c.Nodes[1], "round.failed")
			if len(failed) != before+1 {
				t.Fatalf("%d round failures in the log, want %d (aggregator's error: %v)", len(failed), before+1, err)
			}
			f := failed[len(failed)-1]
			if f.Detail["blame"] != "org-0" || f.Actor == "org-0" || !strings.Contains(f.Detail["reason"], tc.want) {
				t.Fatalf("failure %+v: want org-0 blamed by an honest node, reason with %q", f, tc.want)
			}
		})
	}
	// A release whose values are not what the decryptors opened is
	// refused by every node's state machine, naming its signer.
	agg.Node.Deviate(node.Deviation{ForgeRelease: true})
	if _, err := agg.Client.RunRound(ctx, "nps-dev"); err == nil || !strings.Contains(err.Error(), "did not attest what the release says was opened") {
		t.Fatalf("a forged release: %v", err)
	}
	// So is a release whose pads' sum is not the participants' (each
	// signed a fingerprint of its own pads against it).
	agg.Node.Deviate(node.Deviation{ForgePadSum: true})
	if _, err := agg.Client.RunRound(ctx, "nps-dev"); err == nil || !strings.Contains(err.Error(), "not the sum of the inputs' pads") {
		t.Fatalf("a forged pad sum: %v", err)
	}
	agg.Node.Deviate(node.Deviation{})
	for _, m := range c.Nodes {
		refused := 0
		for _, e := range auditOf(t, m, "round.release") {
			if e.Detail["outcome"] == "rejected" && e.Actor == "org-0" {
				refused++
			}
		}
		if refused != 2 {
			t.Fatalf("%s's audit log holds %d refused releases by org-0, want 2", m.Org, refused)
		}
	}
	for _, m := range c.Nodes {
		if _, err := m.Client.Results(ctx, "nps-dev", ""); err == nil {
			t.Fatalf("%s serves a release of a deviating aggregator's round", m.Org)
		}
		rounds, err := m.Client.Rounds(ctx, "nps-dev")
		if err != nil || len(rounds.Rounds) != 6 {
			t.Fatalf("%s lists %+v: %v", m.Org, rounds, err)
		}
		for _, r := range rounds.Rounds[:4] {
			if r.State != "failed" || strings.Join(r.Blame, ",") != "org-0" || r.Aggregator != "org-0" || r.EndedAt == "" {
				t.Fatalf("%s lists %+v: want failed, blaming org-0", m.Org, r)
			}
		}
		for _, r := range rounds.Rounds[4:] {
			if r.State != "failed" || !strings.Contains(r.Reason, "release refused") {
				t.Fatalf("%s lists %+v: want the forged releases' rounds failed", m.Org, r)
			}
		}
	}
	res, err := c.Nodes[1].Client.RunRound(ctx, "nps-dev")
	if err != nil {
		t.Fatal(err)
	}
	for _, cell := range res.Cells {
		want := truth[cell.Group["care_setting"]]
		if want.n < 11 {
			if !cell.Suppressed || cell.Count != nil {
				t.Fatalf("%s under the floor released: %+v", cell.Group, cell)
			}
			continue
		}
		if got, _ := cell.Value.(float64); cell.Count == nil || *cell.Count != want.n || math.Abs(got-want.nps()) > 1e-3 {
			t.Fatalf("%v: count %v nps %v, want %d %.4f", cell.Group, cell.Count, cell.Value, want.n, want.nps())
		}
	}
}

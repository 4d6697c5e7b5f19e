package node_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/cxnet/cxnet/node"
	"github.com/cxnet/cxnet/node/client"
	"github.com/cxnet/cxnet/node/nodetest"
)

// faultConsortium is four members with NPS answers, a round timeout of
// timeout, and a contract among all four whose rounds may release over
// three.
func faultConsortium(t *testing.T, name string, timeout time.Duration) (*nodetest.Cluster, map[string]*npsCell) {
	t.Helper()
	c := nodetest.NewCluster(t, 4, nodetest.Options{RoundTimeout: timeout})
	c.Form(name)
	c.WaitForKeys()
	truth := map[string]*npsCell{"inpatient": {}, "outpatient": {}, "pharmacy": {}}
	for i, m := range c.Nodes {
		importNPS(t, m, 90, uint64(50+i), truth)
	}
	agree(t, "nps-faults", "id: nps-faults\nmeasure: nps\naggregate: nps\nparticipants: [org-0, org-1, org-2, org-3]\n"+
		"approvals: 1\nmin_participants: 3\nprivacy: {min_cohort: 11}\n", c.Nodes[0])
	c.RequireSameState()
	return c, truth
}

// waitRound waits until m lists round id of nps-faults ended, and returns
// it.
func waitRound(t *testing.T, m *nodetest.Member, id string, within time.Duration) client.Round {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		rounds, err := m.Client.Rounds(context.Background(), "nps-faults")
		if err == nil {
			for _, r := range rounds.Rounds {
				if (id == "" || string(r.Round) == id) && r.State != "open" && r.State != "sealed" {
					return r
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: round %q not ended within %v: %+v %v", m.Org, id, within, rounds, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestRoundAggregatorStops: the aggregator stops mid-round, its inputs
// committed. Every other node records the round failed, saying its
// aggregator stopped answering, within the round timeout (plus the
// members' reporting turns); they all agree; a retry from another member
// releases exactly, over the three live inputs.
func TestRoundAggregatorStops(t *testing.T) {
	ctx := context.Background()
	c, _ := faultConsortium(t, "agg-stops", 10*time.Second) // a round under the race detector takes seconds
	agg := c.Nodes[0]
	stopped := make(chan struct{})
	agg.Node.Deviate(node.Deviation{AfterCommit: func() {
		go func() { agg.Stop(); close(stopped) }()
		time.Sleep(time.Minute) // never reaches the seal
	}})
	go agg.Client.RunRound(ctx, "nps-faults") //nolint:errcheck // the node stops under it
	<-stopped
	start := time.Now()
	r := waitRound(t, c.Nodes[1], "", 30*time.Second)
	took := time.Since(start)
	if r.State != "failed" || !strings.Contains(r.Reason, "aggregator org-0 stopped answering") {
		t.Fatalf("round %+v, want failed: its aggregator stopped answering", r)
	}
	t.Logf("recorded failed %v after the aggregator stopped: %s", took.Round(100*time.Millisecond), r.Reason)
	for _, m := range c.Nodes[1:] {
		if got := waitRound(t, m, string(r.Round), 10*time.Second); got.State != "failed" || got.Reason != r.Reason {
			t.Fatalf("%s lists %+v, %s lists %+v", m.Org, got, c.Nodes[1].Org, r)
		}
	}
	res, err := c.Nodes[1].Client.RunRound(ctx, "nps-faults")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(res.Participants, ",") != "org-1,org-2,org-3" || *res.Cells[0].Count != 270 {
		t.Fatalf("retry: inputs %v, count %v; want org-1..3's 270 answers", res.Participants, res.Cells[0].Count)
	}
}

// TestRoundParticipantStops: a participant stops after committing its
// input: the sealed input cannot be fetched, the round fails saying whose
// input is missing, and the next round releases over the live three.
func TestRoundParticipantStops(t *testing.T) {
	ctx := context.Background()
	c, _ := faultConsortium(t, "part-stops", 10*time.Second)
	c.Nodes[0].Node.Deviate(node.Deviation{AfterCommit: func() { c.Nodes[3].Stop() }})
	_, err := c.Nodes[0].Client.RunRound(ctx, "nps-faults")
	if err == nil || !strings.Contains(err.Error(), "sealed inputs missing: org-3") {
		t.Fatalf("round run: %v, want it failed for org-3's missing input", err)
	}
	r := waitRound(t, c.Nodes[1], "", 5*time.Second)
	if r.State != "failed" || !strings.Contains(r.Reason, "org-3") {
		t.Fatalf("listed %+v", r)
	}
	c.Nodes[0].Node.Deviate(node.Deviation{})
	res, err := c.Nodes[0].Client.RunRound(ctx, "nps-faults")
	if err != nil || strings.Join(res.Participants, ",") != "org-0,org-1,org-2" {
		t.Fatalf("retry: %+v %v", res, err)
	}
}

// TestRoundDecryptorStops: a decryptor stops between its share and the
// attestation (before it fingerprints its share): the round fails within the timeout, naming it, never
// hangs; a retry picks another threshold set and releases.
func TestRoundDecryptorStops(t *testing.T) {
	ctx := context.Background()
	c, _ := faultConsortium(t, "dec-stops", 10*time.Second)
	c.Nodes[0].Node.Deviate(node.Deviation{AfterDecrypt: func() { c.Nodes[1].Stop() }})
	start := time.Now()
	_, err := c.Nodes[0].Client.RunRound(ctx, "nps-faults")
	if err == nil || !strings.Contains(err.Error(), "fingerprints of the shares: org-1") {
		t.Fatalf("round run: %v, want it failed when the decryptors fingerprint their shares, naming org-1", err)
	}
	if took := time.Since(start); took > 12*time.Second {
		t.Fatalf("the round took %v; the timeout is 10s", took)
	}
	c.Nodes[0].Node.Deviate(node.Deviation{})
	res, err := c.Nodes[0].Client.RunRound(ctx, "nps-faults")
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range res.Decryptors {
		if d == "org-1" {
			t.Fatalf("decrypted by the stopped org-1: %v", res.Decryptors)
		}
	}
}

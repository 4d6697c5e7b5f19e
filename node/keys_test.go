package node_test

import (
	"context"
	"testing"

	"github.com/cxnet/cxnet/node/client"
	"github.com/cxnet/cxnet/node/nodetest"
)

// TestKeyEpochs: the members of a consortium set up one collective key
// among themselves without anyone asking (every node publishes its
// public-key share and deals its threshold shares), every node builds the
// same public key, and a contract approved by its participants becomes
// active on every node. A new member makes a new epoch over all of them.
func TestKeyEpochs(t *testing.T) {
	ctx := context.Background()
	c := nodetest.NewCluster(t, 4, nodetest.Options{})
	c.Form("keys")
	k := c.WaitForKeys()
	if k.Threshold != 3 || len(k.Members) != 4 {
		t.Fatalf("key %+v: want 4 members, threshold 3", k)
	}
	a, b := c.Nodes[0], c.Nodes[1]
	p, err := a.Client.Propose(ctx, "c.yaml", contractYAML("nps-abc", []string{a.Org, b.Org, c.Nodes[2].Org}, "2"))
	if err != nil {
		t.Fatal(err)
	}
	if p.State != "proposed" {
		t.Fatalf("proposed: %+v", p)
	}
	got, err := b.Client.ContractAction(ctx, "approve", client.ContractAction{ID: "nps-abc"})
	if err != nil {
		t.Fatal(err)
	}
	if got.State != "active" {
		t.Fatalf("after the last approval: %s, want active", got.State)
	}
	c.RequireSameState()
	for _, m := range c.Nodes {
		cs, err := m.Client.Contract(ctx, "nps-abc")
		if err != nil || cs.State != "active" {
			t.Fatalf("%s: %+v %v", m.Org, cs, err)
		}
	}
	// The keys survive a restart: the node reloads its secrets and
	// rebuilds the same public key.
	b.Restart()
	if again := c.WaitForKeys(); again.PublicKey != k.PublicKey || again.Epoch != k.Epoch {
		t.Fatalf("after a restart: %+v, want %+v", again, k)
	}
}

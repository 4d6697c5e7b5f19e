package contracts

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/cxnet/cxnet/kpi"
)

const testDigest = "sha256:00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"

// keyedConsortium forms a, b, c and d with a keyed epoch (threshold 3)
// and an active contract nps-abd among a, b and d.
func keyedConsortium(t *testing.T) (*govLog, *Contract) {
	g := newGovLog(t)
	g.form(orgA, orgB, orgC, orgD)
	g.must(g.openKeys(orgA, 1, orgA, orgB, orgC, orgD))
	for _, o := range []*testOrg{orgA, orgB, orgC, orgD} {
		g.must(g.shareKey(o, 1))
	}
	c := govContract(t, contractYAML("nps-abd", 1, []*testOrg{orgA, orgB, orgD}, "all", 11))
	g.must(g.proposeContract(orgA, c))
	g.must(g.approveContract(orgB, c))
	g.must(g.approveContract(orgD, c))
	if g.contract("nps-abd").State != ContractActive {
		t.Fatal("contract not active")
	}
	return g, c
}

func (g *govLog) openRound(by *testOrg, c *Contract) []byte {
	return g.sign(EntryRoundOpen, RoundOpen{Header: hdr(), Contract: c.ID, Version: c.Version, Hash: c.Hash(), Epoch: 1}, by)
}

func (g *govLog) roundInput(by *testOrg, id, digest string) []byte {
	return g.sign(EntryRoundInput, RoundInput{Header: hdr(), Round: id, Digest: digest}, by)
}

func (g *govLog) release(by *testOrg, id string, inputs, decryptors []kpi.OrgID) []byte {
	return g.sign(EntryRoundRelease, RoundRelease{Header: hdr(), Round: id, Inputs: inputs, Decryptors: decryptors,
		Cells: json.RawMessage(`[{"group":{},"count":12,"value":50,"suppressed":false}]`)}, by)
}

func TestRoundLifecycle(t *testing.T) {
	g, c := keyedConsortium(t)
	if _, err := g.refused(g.openRound(orgC, c)); !strings.Contains(err.Error(), "neither a participant nor a reader") {
		t.Fatalf("open by a non-participant: %v", err)
	}
	ev := g.must(g.openRound(orgA, c))
	id := ev.Object
	if ev.Type != EventRoundOpened || !strings.HasPrefix(id, "nps-abd/") {
		t.Fatalf("open: %+v", ev)
	}
	abd := []kpi.OrgID{orgA.id, orgB.id, orgD.id}
	for _, tc := range []struct {
		name, want string
		raw        []byte
	}{
		{"input by a non-participant", "not a participant", g.roundInput(orgC, id, testDigest)},
		{"bad digest", "must be sha256:", g.roundInput(orgA, id, "sha256:xyz")},
		{"unknown round", "no round", g.roundInput(orgA, "nps-abd/999", testDigest)},
		{"release before inputs", "did not register", g.release(orgA, id, abd, abd)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := g.refused(tc.raw); !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
	g.must(g.roundInput(orgA, id, testDigest))
	if _, err := g.refused(g.roundInput(orgA, id, testDigest)); !strings.Contains(err.Error(), "already sent") {
		t.Fatalf("second input: %v", err)
	}
	if _, err := g.refused(g.release(orgA, id, []kpi.OrgID{orgA.id}, abd)); !strings.Contains(err.Error(), "needs 3") {
		t.Fatalf("release below min_participants: %v", err)
	}
	g.must(g.roundInput(orgB, id, testDigest))
	g.must(g.roundInput(orgD, id, testDigest))
	for _, tc := range []struct {
		name, want string
		raw        []byte
	}{
		{"by another than the aggregator", "only round", g.release(orgB, id, abd, abd)},
		{"too few decryptors", "threshold", g.release(orgA, id, abd, abd[:2])},
		{"decryptor outside the epoch", "not a member of key epoch", g.release(orgA, id, abd, []kpi.OrgID{orgA.id, orgB.id, orgX.id})},
		{"unsorted inputs", "sorted", g.release(orgA, id, []kpi.OrgID{orgB.id, orgA.id, orgD.id}, abd)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := g.refused(tc.raw); !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
	if ev := g.must(g.release(orgA, id, abd, []kpi.OrgID{orgA.id, orgC.id, orgD.id})); ev.Type != EventRoundReleased {
		t.Fatalf("release: %+v", ev)
	}
	r, ok := g.s.Round(id)
	if !ok || r.State != RoundReleased || r.Release == nil || string(r.Release.Cells) == "" {
		t.Fatalf("round %+v", r)
	}
	if _, err := g.refused(g.roundInput(orgB, id, testDigest)); !strings.Contains(err.Error(), "released") {
		t.Fatalf("input after release: %v", err)
	}

	// A new round abandons an open one.
	first := g.must(g.openRound(orgB, c)).Object
	second := g.must(g.openRound(orgA, c))
	if second.Detail["abandons"] != first {
		t.Fatalf("second open: %+v", second)
	}
	if r, _ := g.s.Round(first); r.State != RoundAbandoned {
		t.Fatalf("first round %s", r.State)
	}
	if rs := g.s.Rounds("nps-abd"); len(rs) != 3 || rs[0].ID != id {
		t.Fatalf("rounds %+v", rs)
	}
}

func TestRoundNeedsActiveContractAndKey(t *testing.T) {
	g := newGovLog(t)
	g.form(orgA, orgB, orgC)
	c := govContract(t, contractYAML("nps-abc", 1, []*testOrg{orgA, orgB, orgC}, "all", 11))
	g.must(g.proposeContract(orgA, c))
	if _, err := g.refused(g.openRound(orgA, c)); !strings.Contains(err.Error(), "only an active contract") {
		t.Fatalf("open on a proposed contract: %v", err)
	}
}

func TestRoundSpendsPrivacyBudget(t *testing.T) {
	g, _ := keyedConsortium(t)
	c := govContract(t, []byte("id: nps-dp\nmeasure: nps\naggregate: nps\nparticipants: [hosp-a, hosp-b, pharm-y]\nprivacy: {min_cohort: 11, epsilon: 0.5, budget: 1.2}\n"))
	g.must(g.proposeContract(orgA, c))
	g.must(g.approveContract(orgB, c))
	g.must(g.approveContract(orgD, c))
	for i := range 2 {
		if ev := g.must(g.openRound(orgA, c)); ev.Detail["epsilon"] != "0.5" {
			t.Fatalf("round %d: %+v", i, ev)
		}
	}
	if _, err := g.refused(g.openRound(orgB, c)); !strings.Contains(err.Error(), "budget is spent: 1.000 of 1.2 used") {
		t.Fatalf("third round: %v", err)
	}
}

func TestSensitivity(t *testing.T) {
	for _, tc := range []struct {
		yaml string
		want float64
	}{
		{"aggregate: count", 1},
		{"aggregate: nps", 2},
		{"aggregate: proportion\nthreshold: 9", 2},
		{"aggregate: sum\nvalue_range: [-5, 10]\nprecision: 2", 1 + 1000},
		{"aggregate: variance\nvalue_range: [0, 10]", 1 + 10 + 100},
	} {
		c := govContract(t, []byte("id: sens\nmeasure: m\n"+tc.yaml+"\nparticipants: [hosp-a]\n"))
		if got := c.Sensitivity(); got != tc.want {
			t.Errorf("%q: sensitivity %g, want %g", tc.yaml, got, tc.want)
		}
	}
}

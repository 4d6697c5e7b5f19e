package contracts

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/cxnet/cxnet/kpi"
)

const testSeed = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"

func (g *govLog) openKeys(by *testOrg, epoch uint64, members ...*testOrg) []byte {
	ids := make([]kpi.OrgID, len(members))
	for i, m := range members {
		ids[i] = m.id
	}
	slices.Sort(ids)
	return g.sign(EntryKeysOpen, KeysOpen{Header: hdr(), Epoch: epoch, Members: ids,
		Threshold: DefaultThreshold(len(ids)), Seed: testSeed, Params: "test"}, by)
}

// testShare is by's public-key share in these tests.
func testShare(by *testOrg) []byte { return []byte("share of " + by.id) }

func (g *govLog) commitKey(by *testOrg, epoch uint64) []byte {
	return g.sign(EntryKeysCommit, KeysCommit{Header: hdr(), Epoch: epoch, Digest: KeyShareDigest(epoch, by.id, testShare(by)), ReaderKey: testReaderKey(by.id)}, by)
}

func (g *govLog) shareKey(by *testOrg, epoch uint64) []byte {
	return g.sign(EntryKeysShare, KeysShare{Header: hdr(), Epoch: epoch, Share: testShare(by)}, by)
}

// keyUp keys epoch: every member commits, then every member reveals.
func (g *govLog) keyUp(epoch uint64, members ...*testOrg) {
	g.t.Helper()
	for _, o := range members {
		g.must(g.commitKey(o, epoch))
	}
	for _, o := range members {
		g.must(g.shareKey(o, epoch))
	}
}

// TestKeyEpochActivatesContracts: an approved contract becomes active
// when the consortium's key covers its participants, whether the key
// comes after the approval or before it.
func TestKeyEpochActivatesContracts(t *testing.T) {
	g := newGovLog(t)
	g.form(orgA, orgB, orgC)
	if !g.s.NeedsKeyEpoch() || g.s.NextKeyEpoch() != 1 {
		t.Fatalf("a new consortium needs key epoch 1: %v %d", g.s.NeedsKeyEpoch(), g.s.NextKeyEpoch())
	}
	nps := govContract(t, contractYAML("nps-abc", 1, []*testOrg{orgA, orgB, orgC}, "2", 11))
	g.must(g.proposeContract(orgA, nps))
	if ev := g.must(g.approveContract(orgB, nps)); ev.Type != EventContractApproved || ev.Detail["state"] != "" {
		t.Fatalf("approval before keys: %+v", ev)
	}
	if c := g.contract("nps-abc"); c.State != ContractApproved {
		t.Fatalf("state %s before keys, want approved", c.State)
	}

	ev := g.must(g.openKeys(orgB, 1, orgA, orgB, orgC))
	if ev.Type != EventKeysOpened || ev.Detail["threshold"] != "2" || g.s.NeedsKeyEpoch() {
		t.Fatalf("open: %+v needs %v", ev, g.s.NeedsKeyEpoch())
	}
	g.must(g.commitKey(orgA, 1))
	if _, err := g.refused(g.shareKey(orgA, 1)); !strings.Contains(err.Error(), "waiting for hosp-b, pharma-x") {
		t.Fatalf("a share revealed before every commitment: %v", err)
	}
	g.must(g.commitKey(orgB, 1))
	g.must(g.commitKey(orgC, 1))
	if ev := g.must(g.shareKey(orgA, 1)); ev.Type != EventKeysShared {
		t.Fatalf("first share: %+v", ev)
	}
	g.must(g.shareKey(orgC, 1))
	if p, _ := g.s.PendingKeys(); !slices.Equal(p.Missing(), []kpi.OrgID{orgB.id}) {
		t.Fatalf("missing %v", p.Missing())
	}
	ev = g.must(g.shareKey(orgB, 1))
	if ev.Type != EventKeysReady || ev.Detail["activated"] != "nps-abc" {
		t.Fatalf("last share: %+v", ev)
	}
	if c := g.contract("nps-abc"); c.State != ContractActive {
		t.Fatalf("state %s after keys, want active", c.State)
	}
	k, ok := g.s.Keys()
	if !ok || k.Epoch != 1 || !k.Keyed() || len(k.OrderedShares()) != 3 || string(k.OrderedShares()[0]) != "share of hosp-a" {
		t.Fatalf("keys %+v", k)
	}
	if _, pending := g.s.PendingKeys(); pending {
		t.Fatal("an epoch still pending after the last share")
	}

	// Approved with the key in place: active at once.
	second := govContract(t, contractYAML("nps-one", 1, []*testOrg{orgA, orgB, orgC}, "1", 11))
	if ev := g.must(g.proposeContract(orgA, second)); ev.Detail["state"] != "active" {
		t.Fatalf("proposal with keys: %+v", ev)
	}
	if c := g.contract("nps-one"); c.State != ContractActive {
		t.Fatalf("state %s, want active", c.State)
	}

	// A new member: a new epoch; the old key stays until it is keyed, and
	// a contract with the newcomer waits for it.
	g.must(g.propose(orgA, orgD))
	g.must(g.approveMember(orgB, orgD))
	if !g.s.NeedsKeyEpoch() {
		t.Fatal("a new member needs a new key epoch")
	}
	abcd := govContract(t, contractYAML("nps-abcd", 1, []*testOrg{orgA, orgB, orgC, orgD}, "1", 11))
	g.must(g.proposeContract(orgA, abcd))
	if c := g.contract("nps-abcd"); c.State != ContractApproved {
		t.Fatalf("state %s, want approved (key does not cover pharm-y)", c.State)
	}
	g.must(g.openKeys(orgD, 2, orgA, orgB, orgC, orgD))
	if k, _ := g.s.Keys(); k.Epoch != 1 {
		t.Fatalf("key epoch %d while epoch 2 collects", k.Epoch)
	}
	g.keyUp(2, orgD, orgC, orgB, orgA)
	if k, _ := g.s.Keys(); k.Epoch != 2 || k.Threshold != 3 {
		t.Fatalf("key epoch %+v, want 2", k)
	}
	if c := g.contract("nps-abcd"); c.State != ContractActive {
		t.Fatalf("state %s, want active", c.State)
	}
}

func TestKeyEpochRefusals(t *testing.T) {
	g := newGovLog(t)
	g.form(orgA, orgB, orgC)
	ids := []kpi.OrgID{orgA.id, orgC.id, orgB.id} // sorted: hosp-a, hosp-b, pharma-x
	slices.Sort(ids)
	open := func(by *testOrg, f func(*KeysOpen)) []byte {
		b := KeysOpen{Header: hdr(), Epoch: 1, Members: slices.Clone(ids), Threshold: 2, Seed: testSeed, Params: "test"}
		f(&b)
		return g.sign(EntryKeysOpen, b, by)
	}
	for _, tc := range []struct {
		name, want string
		raw        []byte
		err        error
	}{
		{"by an outsider", "", open(orgX, func(*KeysOpen) {}), ErrNotMember},
		{"wrong epoch", "the next is 1", open(orgA, func(b *KeysOpen) { b.Epoch = 2 }), nil},
		{"a member left out", "must name every admitted member", open(orgA, func(b *KeysOpen) { b.Members = ids[:2] }), nil},
		{"unsorted", "must name every admitted member", open(orgA, func(b *KeysOpen) { b.Members = []kpi.OrgID{ids[2], ids[0], ids[1]} }), nil},
		{"minority threshold", "strict majority", open(orgA, func(b *KeysOpen) { b.Threshold = 1 }), nil},
		{"threshold above n", "strict majority", open(orgA, func(b *KeysOpen) { b.Threshold = 4 }), nil},
		{"short seed", "seed must be 32 bytes", open(orgA, func(b *KeysOpen) { b.Seed = "00ff" }), nil},
		{"no params", "params must name", open(orgA, func(b *KeysOpen) { b.Params = "" }), nil},
		{"share before open", "not collecting", g.shareKey(orgA, 1), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := g.refused(tc.raw)
			if !strings.Contains(err.Error(), tc.want) || tc.err != nil && !errors.Is(err, tc.err) {
				t.Fatalf("got %v, want %q %v", err, tc.want, tc.err)
			}
		})
	}
	g.must(g.openKeys(orgA, 1, orgA, orgB, orgC))
	for _, tc := range []struct {
		name, want string
		raw        []byte
		err        error
	}{
		{"same members again", "exists already", g.openKeys(orgB, 2, orgA, orgB, orgC), nil},
		{"stale epoch", "next is 2", g.openKeys(orgB, 1, orgA, orgB, orgC), ErrReplay},
		{"share for another epoch", "not collecting", g.shareKey(orgA, 2), nil},
		{"share by an outsider", "", g.shareKey(orgX, 1), ErrNotMember},
		{"empty share", "1 to", g.sign(EntryKeysShare, KeysShare{Header: hdr(), Epoch: 1}, orgA), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := g.refused(tc.raw)
			if !strings.Contains(err.Error(), tc.want) || tc.err != nil && !errors.Is(err, tc.err) {
				t.Fatalf("got %v, want %q %v", err, tc.want, tc.err)
			}
		})
	}
	for _, o := range []*testOrg{orgA, orgB, orgC} {
		g.must(g.commitKey(o, 1))
	}
	if _, err := g.refused(g.commitKey(orgA, 1)); !errors.Is(err, ErrReplay) {
		t.Fatalf("second commitment: %v", err)
	}
	g.must(g.shareKey(orgA, 1))
	if _, err := g.refused(g.shareKey(orgA, 1)); !errors.Is(err, ErrReplay) {
		t.Fatalf("second share: %v", err)
	}
}

// TestRogueKeyShareRefused is the rogue-key attack: the last member to
// reveal sees every other share and publishes its own minus their sum, so
// that the collective key (the sum of the shares) is one it alone holds.
// Its share must match the commitment it made before any share was
// revealed, so the rogue share is refused, the epoch is not keyed with
// it, and the refusal names the member.
func TestRogueKeyShareRefused(t *testing.T) {
	g := newGovLog(t)
	g.form(orgA, orgB, orgC)
	g.must(g.openKeys(orgA, 1, orgA, orgB, orgC))
	for _, o := range []*testOrg{orgA, orgB, orgC} {
		g.must(g.commitKey(o, 1))
	}
	g.must(g.shareKey(orgA, 1))
	g.must(g.shareKey(orgB, 1))
	p, _ := g.s.PendingKeys()
	rogue := slices.Clone(testShare(orgC)) // "own share minus the others'", byte-wise
	for _, o := range []kpi.OrgID{orgA.id, orgB.id} {
		for i, b := range p.Shares[o] {
			if i < len(rogue) {
				rogue[i] -= b
			}
		}
	}
	_, err := g.refused(g.sign(EntryKeysShare, KeysShare{Header: hdr(), Epoch: 1, Share: rogue}, orgC))
	var rej *RejectError
	if !errors.As(err, &rej) || rej.Org != orgC.id || !strings.Contains(rej.Reason, "does not match the commitment") {
		t.Fatalf("rogue share: %v, want a refusal naming %s", err, orgC.id)
	}
	if _, keyed := g.s.Keys(); keyed {
		t.Fatal("the epoch was keyed with a rogue share")
	}
	// A commitment copied from another member does not open to its share.
	g2 := newGovLog(t)
	g2.form(orgA, orgB, orgC)
	g2.must(g2.openKeys(orgA, 1, orgA, orgB, orgC))
	g2.must(g2.commitKey(orgA, 1))
	g2.must(g2.commitKey(orgB, 1))
	a, _ := g2.s.PendingKeys()
	g2.must(g2.sign(EntryKeysCommit, KeysCommit{Header: hdr(), Epoch: 1, Digest: a.Commits[orgA.id], ReaderKey: testReaderKey(orgC.id)}, orgC))
	g2.must(g2.shareKey(orgA, 1))
	if _, err := g2.refused(g2.sign(EntryKeysShare, KeysShare{Header: hdr(), Epoch: 1, Share: testShare(orgA)}, orgC)); !strings.Contains(err.Error(), "does not match") {
		t.Fatalf("copied share: %v", err)
	}
}

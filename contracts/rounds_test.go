package contracts

import (
	"crypto/ed25519"
	"crypto/hpke"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/cxnet/cxnet/kpi"
)

// keyedConsortium forms a, b, c and d with a keyed epoch (threshold 3)
// and an active contract nps-abc among a, b and c.
func keyedConsortium(t *testing.T) (*govLog, *Contract) {
	g := newGovLog(t)
	g.form(orgA, orgB, orgC, orgD)
	g.must(g.openKeys(orgA, 1, orgA, orgB, orgC, orgD))
	g.keyUp(1, orgA, orgB, orgC, orgD)
	c := govContract(t, contractYAML("nps-abc", 1, []*testOrg{orgA, orgB, orgC}, "all", 11))
	g.must(g.proposeContract(orgA, c))
	g.must(g.approveContract(orgB, c))
	g.must(g.approveContract(orgC, c))
	if g.contract("nps-abc").State != ContractActive {
		t.Fatal("contract not active")
	}
	return g, c
}

func (g *govLog) openRound(by *testOrg, c *Contract) []byte {
	return g.sign(EntryRoundOpen, RoundOpen{Header: hdr(), Contract: c.ID, Version: c.Version, Hash: c.Hash(), Epoch: 1}, by)
}

func (g *govLog) roundInput(by *testOrg, id kpi.RoundID, digest string) []byte {
	return g.sign(EntryRoundInput, RoundInput{Header: hdr(), Round: id, Digest: digest}, by)
}

func (g *govLog) seal(by *testOrg, id kpi.RoundID) []byte {
	return g.sign(EntryRoundSeal, RoundSeal{Header: hdr(), Round: id}, by)
}

// digestN is a distinct valid digest.
func digestN(n int) string {
	return "sha256:" + strings.Repeat("0", 48) + fmt.Sprintf("%016x", n)
}

// nextDigest is a digest no test used before.
var digests atomic.Int64

func nextDigest() string { return digestN(1<<20 + int(digests.Add(1))) }

// testRelease is the release of a round of contract c whose inputs'
// components sum to total (cells × width), as honest decryptors attest it
// and honest participants reveal their pads: the cells reaching the
// floor are kept.
type testRelease struct {
	round      kpi.RoundID
	c          *Contract
	decryptors []*testOrg
	inputs     []*testOrg
	total      []int64
}

func (g *govLog) release(by *testOrg, tr testRelease, tamper func(*RoundRelease)) []byte {
	w := 1
	var counts []int64
	if tr.c != nil {
		w = tr.c.Width()
		counts = tr.c.CellCounts(tr.total)
	}
	pads := make([][]uint64, len(tr.inputs))
	for i := range pads {
		pads[i] = make([]uint64, len(tr.total))
		for j := range pads[i] {
			pads[i][j] = uint64(i+1)*0x9e3779b97f4a7c15 + uint64(j)*0xbf58476d1ce4e5b9 // any values: the pads
		}
	}
	o := kpi.Opened{Keep: []int{}, Counts: []int64{}, Sums: []byte{}}
	for k, n := range counts {
		if n < int64(tr.c.Privacy.MinCohort) {
			continue
		}
		o.Keep, o.Counts = append(o.Keep, k), append(o.Counts, n)
		for j := k * w; j < (k+1)*w; j++ {
			sum := uint64(tr.total[j])
			for _, p := range pads {
				sum += p[j]
			}
			o.Sums = binary.LittleEndian.AppendUint64(o.Sums, sum)
		}
	}
	var decryptors []kpi.OrgID
	for _, d := range tr.decryptors {
		decryptors = append(decryptors, d.id)
	}
	slices.Sort(decryptors)
	rel := RoundRelease{Header: hdr(), Round: tr.round, Decryptors: decryptors, Opened: o,
		Attest: map[kpi.OrgID][]byte{}, Pads: map[kpi.OrgID]SignedPads{}}
	attest := AttestBytes(g.s.ID(), tr.round, 1, decryptors, &o)
	if r, ok := g.s.Round(tr.round); ok {
		attest = AttestBytes(g.s.ID(), tr.round, r.Epoch, decryptors, &o)
	}
	for _, d := range tr.decryptors {
		rel.Attest[d.id] = ed25519.Sign(d.key, attest)
	}
	readers := tr.c != nil && len(tr.c.Readers) > 0
	for i, p := range tr.inputs {
		var b []byte
		if tr.c != nil {
			var err error
			if b, err = KeptPads(tr.c, &o, pads[i]); err != nil {
				g.t.Fatal(err)
			}
		}
		sp := SignedPads{Pads: b}
		if readers {
			sp.Pads, sp.Sealed = nil, map[kpi.OrgID][]byte{}
			for _, r := range tr.c.Readers {
				sp.Sealed[r] = g.sealTo(r, SealInfo(g.s.ID(), tr.round, "pads", p.id), b)
			}
		}
		sp.Sig = ed25519.Sign(p.key, PadsBytes(g.s.ID(), tr.round, attest, sp.Signed()))
		rel.Pads[p.id] = sp
	}
	if readers {
		rel.Opened = Withheld(&o)
		counts, _ := json.Marshal(o.Counts)
		rel.SealedCounts = map[kpi.OrgID][]byte{}
		for _, r := range tr.c.Readers {
			rel.SealedCounts[r] = g.sealTo(r, SealInfo(g.s.ID(), tr.round, "counts", by.id), counts)
		}
	}
	if tamper != nil {
		tamper(&rel)
	}
	return g.sign(EntryRoundRelease, rel, by)
}

// sealTo seals b to reader r's test reader key.
func (g *govLog) sealTo(r kpi.OrgID, info, b []byte) []byte {
	g.t.Helper()
	ct, err := hpke.Seal(testReaderPrivate(r).PublicKey(), hpke.HKDFSHA256(), hpke.AES256GCM(), info, b)
	if err != nil {
		g.t.Fatal(err)
	}
	return ct
}

// fullRound runs a round of c through the log as honest nodes would:
// the first input opens it, every input commits, the opener seals and
// releases it, decrypted by the key epoch's first threshold members. The
// inputs' components sum to total. It returns the round's id.
func (g *govLog) fullRound(c *Contract, inputs []*testOrg, total []int64) kpi.RoundID {
	g.t.Helper()
	k, _ := g.s.Keys()
	id := kpi.RoundID(g.must(g.sign(EntryRoundOpen, RoundOpen{Header: hdr(), Contract: c.ID, Version: c.Version, Hash: c.Hash(), Epoch: k.Epoch}, inputs[0])).Object)
	for _, o := range inputs {
		g.must(g.roundInput(o, id, nextDigest()))
	}
	if ev := g.must(g.seal(inputs[0], id)); ev.Type != EventRoundSealed {
		g.t.Fatalf("round %s not sealed: %s", id, ev.Detail["reason"])
	}
	var decryptors []*testOrg
	for _, m := range k.Members[:k.Threshold] {
		decryptors = append(decryptors, testOrgOf(m))
	}
	g.must(g.release(inputs[0], testRelease{round: id, c: c, decryptors: decryptors, inputs: inputs, total: total}, nil))
	return id
}

func TestRoundLifecycle(t *testing.T) {
	g, c := keyedConsortium(t)
	if _, err := g.refused(g.openRound(orgD, c)); !strings.Contains(err.Error(), "neither a participant nor a reader") {
		t.Fatalf("open by a non-participant: %v", err)
	}
	ev := g.must(g.openRound(orgA, c))
	id := kpi.RoundID(ev.Object)
	if ev.Type != EventRoundOpened || !strings.HasPrefix(string(id), "nps-abc/") {
		t.Fatalf("open: %+v", ev)
	}
	for _, tc := range []struct {
		name, want string
		raw        []byte
	}{
		{"input by a non-participant", "not a participant", g.roundInput(orgD, id, digestN(1))},
		{"bad digest", "must be sha256:", g.roundInput(orgA, id, "sha256:xyz")},
		{"unknown round", "no round", g.roundInput(orgA, "nps-abc/999", digestN(1))},
		{"seal by another than the aggregator", "only round", g.seal(orgB, id)},
		{"release before the seal", "not sealed", g.release(orgA, testRelease{round: id, c: c}, nil)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := g.refused(tc.raw); !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
	g.must(g.roundInput(orgA, id, digestN(1)))
	if _, err := g.refused(g.roundInput(orgA, id, digestN(2))); !strings.Contains(err.Error(), "already sent") {
		t.Fatalf("second input: %v", err)
	}
	if _, err := g.refused(g.roundInput(orgB, id, digestN(1))); !errors.Is(err, ErrReplay) || !strings.Contains(err.Error(), "repeats an input") {
		t.Fatalf("another participant's digest: %v", err)
	}
	g.must(g.roundInput(orgB, id, digestN(2)))
	g.must(g.roundInput(orgC, id, digestN(3)))
	if ev := g.must(g.seal(orgA, id)); ev.Type != EventRoundSealed || ev.Detail["inputs"] != "hosp-a, hosp-b, pharma-x" {
		t.Fatalf("seal: %+v", ev)
	}
	if _, err := g.refused(g.roundInput(orgC, id, digestN(4))); !strings.Contains(err.Error(), "sealed") {
		t.Fatalf("input after the seal: %v", err)
	}
	abc := []*testOrg{orgA, orgB, orgC}
	total := []int64{15, 6, 5} // 15 answers, 6 promoters, 5 detractors
	good := testRelease{round: id, c: c, decryptors: []*testOrg{orgA, orgB, orgD}, inputs: abc, total: total}
	for _, tc := range []struct {
		name, want string
		raw        []byte
	}{
		{"by another than the aggregator", "only round", g.release(orgB, good, nil)},
		{"too few decryptors", "must be 3 distinct", g.release(orgA, testRelease{round: id, c: c, decryptors: []*testOrg{orgA, orgB}, inputs: abc, total: total}, nil)},
		{"a decryptor outside the epoch", "not a member of key epoch", g.release(orgA, testRelease{round: id, c: c, decryptors: []*testOrg{orgA, orgB, orgX}, inputs: abc, total: total}, nil)},
		{"an input missing", "pads of 2 inputs", g.release(orgA, testRelease{round: id, c: c, decryptors: good.decryptors, inputs: abc[:2], total: total}, nil)},
		// The aggregator's word counts for nothing: changing what was
		// opened, or a pad, breaks the signatures over it.
		{"forged opened sums", "did not attest", g.release(orgA, good, func(r *RoundRelease) { r.Opened.Sums[8]++ })},
		{"forged count", "did not attest", g.release(orgA, good, func(r *RoundRelease) { r.Opened.Counts[0] = 40 })},
		{"forged pads", "not the ones it signed", g.release(orgA, good, func(r *RoundRelease) {
			p := r.Pads[orgB.id]
			p.Pads = slices.Clone(p.Pads)
			p.Pads[0]++
			r.Pads[orgB.id] = p
		})},
		{"a decryptor's attestation missing", "attestations for 3", g.release(orgA, good, func(r *RoundRelease) { delete(r.Attest, orgD.id) })},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := g.refused(tc.raw); !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
	if ev := g.must(g.release(orgA, good, nil)); ev.Type != EventRoundReleased {
		t.Fatalf("release: %+v", ev)
	}
	r, ok := g.s.Round(id)
	if !ok || r.State != RoundReleased || r.Release == nil {
		t.Fatalf("round %+v", r)
	}
	var cells []kpi.Cell
	if err := json.Unmarshal(r.Release.Cells, &cells); err != nil || len(cells) != 1 || cells[0].Count == nil || *cells[0].Count != 15 {
		t.Fatalf("cells %s: %v", r.Release.Cells, err)
	}
	if v, ok := cells[0].Value.(float64); !ok || math.Abs(v-100.0/15) > 1e-3 { // (6 − 5) / 15 × 100
		t.Fatalf("value %v, want 6.67", cells[0].Value)
	}

	// A new round fails an ongoing one.
	first := kpi.RoundID(g.must(g.openRound(orgB, c)).Object)
	second := g.must(g.openRound(orgA, c))
	if second.Detail["abandons"] != string(first) {
		t.Fatalf("second open: %+v", second)
	}
	if r, _ := g.s.Round(first); r.State != RoundFailed || !strings.Contains(r.Reason, "abandoned") {
		t.Fatalf("first round %s %q", r.State, r.Reason)
	}
	if rs := g.s.Rounds("nps-abc"); len(rs) != 3 || rs[0].ID != id {
		t.Fatalf("rounds %+v", rs)
	}
}

// TestRoundSealFixesTheInputs: the seal takes every registered input and
// no other; too few fail the round with the reason.
func TestRoundSealFixesTheInputs(t *testing.T) {
	g, c := keyedConsortium(t)
	id := kpi.RoundID(g.must(g.openRound(orgA, c)).Object)
	g.must(g.roundInput(orgA, id, digestN(1)))
	g.must(g.roundInput(orgB, id, digestN(2)))
	ev := g.must(g.seal(orgA, id))
	r, _ := g.s.Round(id)
	if ev.Type != EventRoundFailed || r.State != RoundFailed || !strings.Contains(r.Reason, "only 2 of the 3 required inputs") {
		t.Fatalf("seal with 2 of 3: %+v, round %s %q", ev, r.State, r.Reason)
	}
}

// TestRoundSealCarriesInputs: the aggregator collects the participants'
// signed round.input entries and seals with them in one entry. Each is
// checked as if applied on its own: a stranger's, one of another round,
// one whose signature is not its signer's, one replayed, or a repeat of
// an earlier input refuses the whole seal and registers nothing; the
// honest set seals.
func TestRoundSealCarriesInputs(t *testing.T) {
	g, c := keyedConsortium(t)
	old := kpi.RoundID(g.must(g.openRound(orgB, c)).Object)
	used := g.roundInput(orgC, old, digestN(21))
	g.must(used)
	id := kpi.RoundID(g.must(g.openRound(orgA, c)).Object) // old fails: a newer round of its contract
	seal := func(inputs ...[]byte) []byte {
		return g.sign(EntryRoundSeal, RoundSeal{Header: hdr(), Round: id, Inputs: inputs}, orgA)
	}
	a, b, cc := g.roundInput(orgA, id, digestN(11)), g.roundInput(orgB, id, digestN(12)), g.roundInput(orgC, id, digestN(13))
	forged := slices.Clone(b)
	forged[len(forged)-1] ^= 1
	for _, tc := range []struct {
		name  string
		entry []byte
		want  string
	}{
		{"a non-participant's input", seal(a, b, g.roundInput(orgD, id, digestN(14))), "not a participant"},
		{"an input to another round", seal(a, b, g.roundInput(orgC, old, digestN(15))), "not " + string(id)},
		{"a forged signature", seal(a, forged, cc), "input 1"},
		{"an entry applied before", seal(a, b, used), "not " + string(id)},
		{"an entry applied before, of this round", seal(a, b, g.roundInput(orgC, id, digestN(21))), "repeats an input"},
		{"one input twice", seal(a, b, b), "input 2"},
		{"not an input", seal(a, b, g.seal(orgC, id)), "not round.input"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := g.refused(tc.entry)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
			if r, _ := g.s.Round(id); len(r.Inputs) != 0 || r.State != RoundCollecting {
				t.Fatalf("a refused seal left inputs %v, state %s", r.Inputs, r.State)
			}
		})
	}
	ev := g.must(seal(a, b, cc))
	r, _ := g.s.Round(id)
	if ev.Type != EventRoundSealed || r.State != RoundSealed || !slices.Equal(r.Sealed, []kpi.OrgID{orgA.id, orgB.id, orgC.id}) || r.Inputs[orgB.id] != digestN(12) {
		t.Fatalf("honest seal: %+v, round %+v", ev, r)
	}
	if _, err := g.refused(b); err == nil {
		t.Fatal("an input the seal carried applied again on its own")
	}
}

func TestRoundFailureReports(t *testing.T) {
	g, c := keyedConsortium(t)
	id := kpi.RoundID(g.must(g.openRound(orgA, c)).Object)
	fail := func(by *testOrg, reason string, blame ...kpi.OrgID) []byte {
		return g.sign(EntryRoundFail, RoundFail{Header: hdr(), Round: id, Reason: reason, Blame: blame}, by)
	}
	if _, err := g.refused(fail(orgB, "")); !strings.Contains(err.Error(), "needs a reason") {
		t.Fatalf("no reason: %v", err)
	}
	if _, err := g.refused(fail(orgB, "x", "nobody")); !strings.Contains(err.Error(), "not a member") {
		t.Fatalf("blaming a stranger: %v", err)
	}
	ev := g.must(fail(orgB, "the aggregator asked for a share of another sum", orgA.id))
	r, _ := g.s.Round(id)
	if ev.Type != EventRoundFailed || r.State != RoundFailed || r.ReportedBy != orgB.id || !slices.Equal(r.Blame, []kpi.OrgID{orgA.id}) {
		t.Fatalf("failure: %+v, round %+v", ev, r)
	}
	if _, err := g.refused(fail(orgA, "again")); !strings.Contains(err.Error(), "failed already") {
		t.Fatalf("second failure: %v", err)
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
	c := govContract(t, []byte("id: nps-dp\nmeasure: nps\naggregate: nps\nparticipants: [hosp-a, hosp-b, pharma-x]\nprivacy: {min_cohort: 11, epsilon: 0.5, budget: 1.2}\n"))
	g.must(g.proposeContract(orgA, c))
	g.must(g.approveContract(orgB, c))
	g.must(g.approveContract(orgC, c))
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
	const pdc = "aggregate: pdc_rate\nwindow: {from: 2026-01-01, to: 2026-12-31}\n"
	for _, tc := range []struct {
		yaml string
		want float64
	}{
		{"aggregate: count", 1},
		{"aggregate: count\ngroup_by: {site: [a, b]}\nwindow: {from: 2026-01-01, to: 2026-12-31}\nperiod: quarter", 1},
		{"aggregate: nps", 2},
		{"aggregate: nps\nvalue_range: [0, 8]", 2},
		{"aggregate: nps\nvalue_range: [7, 8]", 1}, // passives only
		{"aggregate: proportion\nthreshold: 9", 2},
		{"aggregate: proportion\nthreshold: 9\nvalue_range: [0, 9]", 2},
		{"aggregate: proportion\nthreshold: 9\nvalue_range: [0, 8.5]", 1}, // no value reaches 9
		{"aggregate: histogram\nvalue_range: [0, 10]\nbins: [0, 7, 9, 11]", 2},
		{"aggregate: sum\nvalue_range: [-5, 10]\nprecision: 2", 1 + 1000},
		{"aggregate: mean\nvalue_range: [-0.25, 0.1]\nprecision: 1", 1 + 3}, // -0.25 rounds to -3 tenths
		{"aggregate: variance\nvalue_range: [0, 10]", 1 + 10 + 100},
		{"aggregate: variance\nvalue_range: [-7, 2]\ngroup_by: {site: [a, b]}", 1 + 7 + 49},
		{pdc, 2},
		{pdc + "period: month", 2},
		{pdc + "group_by: {site: [a, b]}", 4},
		{pdc + "group_by: {site: [a, b]}\nperiod: quarter", 4},
		{pdc + "group_by: {drug: [d1, d2]}", 4},                    // a class's drugs can differ
		{pdc + "group_by: {drug_class: [c1, c2]}", 2},              // a pair's fills share its class
		{pdc + "group_by: {site: [a, b]}\nfilter: {site: [a]}", 2}, // one category left
		{pdc + "value_range: [0, 0.49]", 0},                        // every fill rounds to 0 days
		{pdc + "value_range: [0, 0.5]\ngroup_by: {site: [a, b]}", 4},
		{"aggregate: count\ngroup_by: {site: [a, b]}\nfilter: {site: [c]}", 0}, // nothing counts
	} {
		c := govContract(t, []byte("id: sens\nmeasure: m\n"+tc.yaml+"\nparticipants: [hosp-a]\n"))
		if got := c.Sensitivity(); got != tc.want {
			t.Errorf("%q: sensitivity %g, want %g", tc.yaml, got, tc.want)
		}
	}
}

// TestReleaseToReaders: a contract with readers releases to them only.
// The log holds the padded sums, the counts withheld, and what was sealed
// to each reader; the reader computes the cells; a reader does not open
// rounds; pads in the clear, or not sealed to every reader, are refused.
func TestReleaseToReaders(t *testing.T) {
	g, _ := keyedConsortium(t)
	c := govContract(t, []byte("id: nps-read\nmeasure: nps\naggregate: nps\nparticipants: [hosp-a, hosp-b, pharma-x]\n"+
		"readers: [pharm-y]\napprovals: 1\nprivacy: {min_cohort: 11}\n"))
	g.must(g.proposeContract(orgA, c))
	if _, err := g.refused(g.openRound(orgD, c)); !strings.Contains(err.Error(), "does not aggregate its rounds") {
		t.Fatalf("a reader opens a round: %v", err)
	}
	abc := []*testOrg{orgA, orgB, orgC}
	id := kpi.RoundID(g.must(g.openRound(orgA, c)).Object)
	for _, o := range abc {
		g.must(g.roundInput(o, id, nextDigest()))
	}
	g.must(g.seal(orgA, id))
	good := testRelease{round: id, c: c, decryptors: []*testOrg{orgA, orgB, orgC}, inputs: abc, total: []int64{15, 6, 5}}
	for _, tc := range []struct {
		name, want string
		tamper     func(*RoundRelease)
	}{
		{"counts in the clear", "withholds the counts", func(r *RoundRelease) { r.Opened.Counts = []int64{15} }},
		{"pads in the clear", "must be sealed to each reader", func(r *RoundRelease) {
			p := r.Pads[orgB.id]
			p.Pads = []byte{1, 2, 3}
			r.Pads[orgB.id] = p
		}},
		{"counts not sealed to the reader", "sealed to each reader", func(r *RoundRelease) { delete(r.SealedCounts, orgD.id) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := g.refused(g.release(orgA, good, tc.tamper)); !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
	g.must(g.release(orgA, good, nil))
	r, _ := g.s.Round(id)
	if r.State != RoundReleased || r.Release.Cells != nil || r.Release.Sealed == nil || r.Release.Sealed.Opened.Counts != nil {
		t.Fatalf("release %+v: the log must hold no cells and no counts", r.Release)
	}
	open := func(reader kpi.OrgID) func(info, ct []byte) ([]byte, error) {
		return func(info, ct []byte) ([]byte, error) {
			return hpke.Open(testReaderPrivate(reader), hpke.HKDFSHA256(), hpke.AES256GCM(), info, ct)
		}
	}
	cells, err := g.s.ReaderRelease(id, orgD.id, open(orgD.id))
	if err != nil || len(cells) != 1 || cells[0].Count == nil || *cells[0].Count != 15 || math.Abs(cells[0].Value.(float64)-100.0/15) > 1e-3 {
		t.Fatalf("the reader's cells %+v: %v", cells, err)
	}
	if _, err := g.s.ReaderRelease(id, orgB.id, open(orgB.id)); err == nil {
		t.Fatal("a participant that is not a reader opened the release")
	}
	if _, err := g.s.ReaderRelease(id, orgD.id, open(orgB.id)); err == nil {
		t.Fatal("another key opened what was sealed to the reader")
	}
}

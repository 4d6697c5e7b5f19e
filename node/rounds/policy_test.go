package rounds

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/binary"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/cxnet/cxnet/contracts"
	"github.com/cxnet/cxnet/kpi"
	"github.com/cxnet/cxnet/privacy"
	"github.com/cxnet/cxnet/protocol/round"
)

// TestInputsCommittedBeforeAnyCiphertextLeaves is the input-cancellation
// attack: an aggregator that also takes part asks for the others'
// ciphertexts before the round is sealed, to register the negation of
// their sum as its own input. No participant hands its ciphertext over
// before the seal, and no input registers after it.
func TestInputsCommittedBeforeAnyCiphertextLeaves(t *testing.T) {
	f := newPolicyFixture(t)
	ctx := context.Background()
	if _, err := f.serve(ctx, f.b, &round.Request{Op: round.OpFetch, Round: f.round}); err == nil || !strings.Contains(err.Error(), "not sealed") {
		t.Fatalf("a ciphertext handed over before the seal: %v", err)
	}
	f.seal()
	reply, err := f.serve(ctx, f.b, &round.Request{Op: round.OpFetch, Round: f.round})
	if err != nil {
		t.Fatal(err)
	}
	var in round.Input
	mine := f.inputs["hosp-a"]
	if err := round.DecodeReply(reply, &in); err != nil || inputDigest(&in) != inputDigest(&mine) {
		t.Fatalf("fetched input: %v", err)
	}
	// Too late to register an input that depends on what was fetched.
	entry, _ := contracts.Sign(contracts.EntryRoundInput, contracts.RoundInput{Round: kpi.RoundID(f.round), Digest: "sha256:" + strings.Repeat("ab", 32)},
		"hosp-b", f.keys["hosp-b"], f.cid())
	res := f.fsm.Apply(&raft.Log{Index: 99, Type: raft.LogCommand, Data: entry}).(*contracts.ApplyResult)
	if res.Err == nil || !strings.Contains(res.Err.Error(), "sealed") {
		t.Fatalf("an input registered after the seal: %v", res.Err)
	}
}

// TestDecryptionSharePolicy: a node gives a decryption share only to the
// round's aggregator, only once the round is sealed, only for the sum of
// exactly the sealed inputs (the aggregator cannot pick a subset, nor
// swap an input), only for a threshold set with itself in it, only while
// the contract is active; and it gives the same share again rather than a
// fresh one, even to concurrent requests.
func TestDecryptionSharePolicy(t *testing.T) {
	f := newPolicyFixture(t)
	ctx := context.Background()
	ab := []kpi.OrgID{"hosp-a", "hosp-b"}
	if _, err := f.serve(ctx, f.b, f.decrypt(ab, f.inputs, f.inputs)); err == nil || !strings.Contains(err.Error(), "not sealed") {
		t.Fatalf("a share before the seal: %v", err)
	}
	f.seal()
	outsider, _ := peer.Decode("12D3KooWHGGA18DhvnUqNckCCHiDzpzLtDiwKT3KCtYWJ8AQS9QL")
	tampered := map[kpi.OrgID]round.Input{"hosp-a": f.inputs["hosp-a"], "hosp-b": f.inputs["hosp-c"], "hosp-c": f.inputs["hosp-c"]}
	subset := map[kpi.OrgID]round.Input{"hosp-a": f.inputs["hosp-a"], "hosp-c": f.inputs["hosp-c"]}
	stranger := map[kpi.OrgID]round.Input{"hosp-a": f.inputs["hosp-a"], "hosp-b": f.inputs["hosp-b"], "hosp-c": f.inputs["hosp-c"], "hosp-x": f.inputs["hosp-a"]}
	for _, tc := range []struct {
		name string
		from peer.ID
		req  *round.Request
		want string
	}{
		{"not the aggregator", outsider, f.decrypt(ab, f.inputs, f.inputs), "only its aggregator"},
		{"an input other than registered", f.b, f.decrypt(ab, tampered, f.inputs), "not the sum of the inputs"},
		{"a subset of the sealed inputs", f.b, f.decrypt(ab, subset, subset), "the log fixes them"},
		{"a subset passed off as the sum", f.b, f.decrypt(ab, subset, f.inputs), "not the sum of the inputs"},
		{"one input alone passed off as the sum", f.b, f.decrypt(ab, map[kpi.OrgID]round.Input{"hosp-b": f.inputs["hosp-b"]}, f.inputs), "not the sum of the inputs"},
		{"an input the seal does not hold", f.b, f.decrypt(ab, stranger, stranger), "the log fixes them"},
		{"a fingerprint not signed by its participant", f.b, f.withPrintSigOf(f.decrypt(ab, f.inputs, f.inputs), "hosp-c", f.keys["hosp-b"]), "said to be hosp-c's"},
		{"threshold set too small", f.b, f.decrypt(ab[:1], f.inputs, f.inputs), "must be 2 distinct"},
		{"threshold set without this node", f.b, f.decrypt([]kpi.OrgID{"hosp-b", "hosp-c"}, f.inputs, f.inputs), "not in the threshold set"},
		{"threshold set with a repeat", f.b, f.decrypt([]kpi.OrgID{"hosp-a", "hosp-a"}, f.inputs, f.inputs), "must be 2 distinct"},
		{"unknown round", f.b, withRound(f.decrypt(ab, f.inputs, f.inputs), "nps-abc/1"), "no round"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.serve(ctx, tc.from, tc.req)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
			if _, err := f.db.Secret(1, roundSecret(f.round, "share")); err == nil {
				t.Fatal("a refused request left a share behind")
			}
		})
	}
	// Concurrent requests: one share, never two draws of flooding noise.
	replies := make([][]byte, 4)
	var wg sync.WaitGroup
	for i := range replies {
		wg.Go(func() { replies[i], _ = f.serve(ctx, f.b, f.decrypt(ab, f.inputs, f.inputs)) })
	}
	wg.Wait()
	for i, r := range replies {
		if r == nil || !bytes.Equal(r, replies[0]) {
			t.Fatalf("concurrent request %d got another share (fresh flooding lets noise average out)", i)
		}
	}
	var share round.Share
	if err := round.DecodeReply(replies[0], &share); err != nil || len(share.Ciphertexts) != 1 {
		t.Fatalf("share: %v", err)
	}
	if _, err := f.serve(ctx, f.b, f.decrypt([]kpi.OrgID{"hosp-a", "hosp-c"}, f.inputs, f.inputs)); err == nil || !strings.Contains(err.Error(), "another threshold set") {
		t.Fatalf("a second share for another threshold set (two shares of one ciphertext give the key away): %v", err)
	}

	// Once the contract is retired, no more shares.
	f.apply(contracts.EntryContractRetire, contracts.ContractRetire{ID: "nps-abc", Version: 1}, "hosp-b", f.keys["hosp-b"])
	if _, err := f.serve(ctx, f.b, f.decrypt(ab, f.inputs, f.inputs)); err == nil || !strings.Contains(err.Error(), "no longer active") {
		t.Fatalf("share for a retired contract: %v", err)
	}
}

// TestForgedShareAttack: the aggregator hands a decryptor another sum of
// the shares than the decryptors' (counting one share twice, or one
// alone: counts of its choosing, above the floor). The decryptor checks
// the sum by the decryptors' signed fingerprints, refuses to attest, and
// the counts stay unopened.
func TestForgedShareAttack(t *testing.T) {
	f := newPolicyFixture(t)
	ctx := context.Background()
	f.seal()
	ab := []kpi.OrgID{"hosp-a", "hosp-b"}
	if _, err := f.serve(ctx, f.b, f.decrypt(ab, f.inputs, f.inputs)); err != nil {
		t.Fatal(err)
	}
	kept, err := f.m.keptShare(f.view(t, contracts.RoundSealed))
	if err != nil {
		t.Fatal(err)
	}
	honestB := f.shareOf(t, "hosp-b", ab)
	both := map[kpi.OrgID]round.Share{"hosp-a": kept.Share, "hosp-b": honestB}
	for _, tc := range []struct {
		name string
		req  *round.Request
		want string
	}{
		{"a share counted twice", f.attest(ab, []round.Share{kept.Share, honestB, honestB}, both), "not the sum of the shares"},
		{"another's share alone", f.attest(ab, []round.Share{honestB}, both), "not the sum of the shares"},
		{"a fingerprint missing", f.attest(ab, []round.Share{kept.Share, honestB}, map[kpi.OrgID]round.Share{"hosp-a": kept.Share}), "want exactly"},
		{"another share passed off as this node's", f.attest(ab, []round.Share{honestB, honestB}, map[kpi.OrgID]round.Share{"hosp-a": honestB, "hosp-b": honestB}), "is not of the share it gave"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.serve(ctx, f.b, tc.req)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
	reply, err := f.serve(ctx, f.b, f.attest(ab, []round.Share{kept.Share, honestB}, both))
	if err != nil {
		t.Fatalf("honest shares: %v", err)
	}
	var sig []byte
	if err := round.DecodeReply(reply, &sig); err != nil {
		t.Fatal(err)
	}
	// The cell holds 25 answers of a, b and c, above the floor of 11,
	// opened as the sum of the padded values.
	opened, err := openShares(f.m.cfg.Params, f.view(t, contracts.RoundSealed).contract, kept.Sum,
		[]privacy.Ciphertexts{kept.Share.Ciphertexts, honestB.Ciphertexts})
	if err != nil || !slices.Equal(opened.Keep, []int{0}) || opened.Counts[0] != 25 {
		t.Fatalf("opened %+v: %v", opened, err)
	}
	attest := contracts.AttestBytes(f.cid(), kpi.RoundID(f.round), 1, ab, opened)
	if !ed25519.Verify(f.keys["hosp-a"].Public().(ed25519.PublicKey), attest, sig) {
		t.Fatal("the attestation does not cover what the shares open")
	}
}

// TestPadsOnlyForAttestedCellsAboveTheFloor: a participant reveals its
// pads only against every decryptor's signature over what was opened,
// only for kept cells at the floor or above, and only those.
func TestPadsOnlyForAttestedCellsAboveTheFloor(t *testing.T) {
	f := newPolicyFixture(t)
	ctx := context.Background()
	f.seal()
	ab := []kpi.OrgID{"hosp-a", "hosp-b"}
	sums := []byte{}
	for range 3 {
		sums = binary.LittleEndian.AppendUint64(sums, 1)
	}
	kept := &kpi.Opened{Keep: []int{0}, Counts: []int64{20}, Sums: sums}
	underFloor := &kpi.Opened{Keep: []int{0}, Counts: []int64{6}, Sums: sums}
	sign := func(o *kpi.Opened, orgs ...kpi.OrgID) map[kpi.OrgID][]byte {
		sigs := map[kpi.OrgID][]byte{}
		for _, org := range orgs {
			sigs[org] = ed25519.Sign(f.keys[org], contracts.AttestBytes(f.cid(), kpi.RoundID(f.round), 1, ab, o))
		}
		return sigs
	}
	for _, tc := range []struct {
		name   string
		opened *kpi.Opened
		sigs   map[kpi.OrgID][]byte
		want   string
	}{
		{"attested by the aggregator alone", kept, sign(kept, "hosp-b"), "did not attest"},
		{"attestation over other cells", kept, sign(underFloor, "hosp-a", "hosp-b"), "did not attest"},
		{"a cell under the floor", underFloor, sign(underFloor, "hosp-a", "hosp-b"), "under the floor"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.serve(ctx, f.b, &round.Request{Op: round.OpPads, Round: f.round, Active: ab, Opened: tc.opened, Attest: tc.sigs})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
	reply, err := f.serve(ctx, f.b, &round.Request{Op: round.OpPads, Round: f.round, Active: ab, Opened: kept, Attest: sign(kept, "hosp-a", "hosp-b")})
	if err != nil {
		t.Fatal(err)
	}
	var p contracts.SignedPads
	if err := round.DecodeReply(reply, &p); err != nil || len(p.Pads) != 24 {
		t.Fatalf("pads: %v", err)
	}
	if got := binary.LittleEndian.Uint64(p.Pads); got != f.pads["hosp-a"][0] {
		t.Fatalf("revealed pad %d, want the node's own", got)
	}
	none := &kpi.Opened{Keep: []int{}, Counts: []int64{}, Sums: []byte{}}
	reply, err = f.serve(ctx, f.b, &round.Request{Op: round.OpPads, Round: f.round, Active: ab, Opened: none, Attest: sign(none, "hosp-a", "hosp-b")})
	if err != nil {
		t.Fatal(err)
	}
	var none2 contracts.SignedPads
	if err := round.DecodeReply(reply, &none2); err != nil || len(none2.Pads) != 0 {
		t.Fatalf("pads revealed for suppressed cells: %d bytes", len(none2.Pads))
	}
}

// TestEndedRoundSecretsForgotten: once a round ends (here failed for a
// newer round of its contract), the node drops the input and share it
// kept for it, keeps the newer round's and its key, and refuses the
// ended round.
func TestEndedRoundSecretsForgotten(t *testing.T) {
	f := newPolicyFixture(t)
	ctx := context.Background()
	f.seal()
	ab := []kpi.OrgID{"hosp-a", "hosp-b"}
	if _, err := f.serve(ctx, f.b, f.decrypt(ab, f.inputs, f.inputs)); err != nil {
		t.Fatal(err)
	}
	old := f.round
	var hash string
	f.fsm.Read(func(s *contracts.State) { r, _ := s.Round(kpi.RoundID(old)); hash = r.Hash })
	f.round = f.apply(contracts.EntryRoundOpen, contracts.RoundOpen{Contract: "nps-abc", Version: 1, Hash: hash, Epoch: 1}, "hosp-b", f.keys["hosp-b"]).Object
	if err := f.db.PutSecret(1, roundSecret(f.round, "input"), []byte("{}")); err != nil {
		t.Fatal(err)
	}
	if err := f.m.ForgetEnded(); err != nil {
		t.Fatal(err)
	}
	names, err := f.db.SecretNames(1, "")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{roundSecret(f.round, "input"), secretTKey}; !slices.Equal(names, want) {
		t.Fatalf("secrets after the round ended: %q, want %q", names, want)
	}
	if _, err := f.serve(ctx, f.b, withRound(f.decrypt(ab, f.inputs, f.inputs), old)); err == nil || !strings.Contains(err.Error(), "abandoned") {
		t.Fatalf("share for an ended round: %v", err)
	}
}

// FuzzRoundRequest: whatever arrives on /cxnet/round, the node answers
// without a panic, and serves only the aggregator.
func FuzzRoundRequest(f *testing.F) {
	fx := newPolicyFixture(f)
	// Small seeds (real ciphertexts make 1.4 MB requests, too slow to
	// mutate): the structure of valid requests, with stand-in inputs.
	small := &round.Input{Ciphertexts: privacy.Ciphertexts{{1}, {2}}}
	prints := map[kpi.OrgID]round.Print{"hosp-a": {Fingerprint: []uint64{1}, Sig: []byte{2}}}
	ab := []kpi.OrgID{"hosp-a", "hosp-b"}
	for _, r := range []*round.Request{
		{Op: round.OpDecrypt, Round: fx.round, Active: ab, Sum: small, Prints: prints},
		{Op: round.OpAttest, Round: fx.round, Active: ab, Sum: small, Prints: prints},
		{Op: round.OpPrint, Round: fx.round, Of: round.OfInput, Digest: make([]byte, round.DigestSize)},
		{Op: round.OpCommit, Round: fx.round}, {Op: round.OpFetch, Round: fx.round},
		{Op: round.OpPads, Round: fx.round, Active: ab, Opened: &kpi.Opened{Keep: []int{0}, Counts: []int64{20}, Sums: make([]byte, 3)}, Attest: map[kpi.OrgID][]byte{"hosp-a": {1}}},
	} {
		b, _ := round.Encode(r)
		f.Add(b, true)
	}
	f.Add([]byte{0xbf}, true)
	f.Add([]byte(nil), false)
	outsider, _ := peer.Decode("12D3KooWHGGA18DhvnUqNckCCHiDzpzLtDiwKT3KCtYWJ8AQS9QL")
	f.Fuzz(func(t *testing.T, b []byte, fromAggregator bool) {
		from := outsider
		if fromAggregator {
			from = fx.b
		}
		req, err := round.Decode(b)
		if err != nil {
			return
		}
		if _, err := fx.serve(context.Background(), from, req); err == nil && !fromAggregator {
			t.Fatal("served a peer that is not the round's aggregator")
		}
	})
}

// TestRoundSenderBoundsWorkBeforeReading: before a byte of a round
// request is read, an outsider is refused and a member that aggregates no
// ongoing round may send only a small request (a 64 MiB frame from it is
// refused from its length prefix); the round's aggregator may send the
// large ones.
func TestRoundSenderBoundsWorkBeforeReading(t *testing.T) {
	f := newPolicyFixture(t)
	c, _ := peer.Decode(peerC)
	outsider, _ := peer.Decode("12D3KooWHGGA18DhvnUqNckCCHiDzpzLtDiwKT3KCtYWJ8AQS9QL")
	for _, tc := range []struct {
		name string
		from peer.ID
		max  int
	}{
		{"the aggregator", f.b, roundLimits.MaxMsgSize},
		{"a member aggregating nothing", c, smallRoundRequest},
		{"an outsider", outsider, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := f.m.roundSender(tc.from)
			if got != tc.max || (tc.max == 0) != (err != nil) {
				t.Fatalf("got %d %v, want %d", got, err, tc.max)
			}
		})
	}
	// Once the round ends, its aggregator is a member like the others.
	f.apply(contracts.EntryRoundFail, contracts.RoundFail{Round: kpi.RoundID(f.round), Reason: "test"}, "hosp-b", f.keys["hosp-b"])
	if got, _ := f.m.roundSender(f.b); got != smallRoundRequest {
		t.Fatalf("an ended round's aggregator may send %d bytes", got)
	}
}

// TestRoundsPerMinuteBounded: an aggregator that opens round after round
// to make this node compute and encrypt input after input is refused past
// maxRoundsPerMinute new rounds a minute; the same round asked again, and
// another aggregator, are not held back; a minute later it may go on.
func TestRoundsPerMinuteBounded(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	g := roundGuard{now: func() time.Time { return now }}
	for i := range maxRoundsPerMinute {
		if err := g.allow("hosp-b", fmt.Sprintf("nps/%d", i)); err != nil {
			t.Fatalf("round %d: %v", i, err)
		}
	}
	if err := g.allow("hosp-b", "nps/999"); err == nil || !strings.Contains(err.Error(), "more than 30 rounds in a minute") {
		t.Fatalf("round %d in a minute: %v", maxRoundsPerMinute+1, err)
	}
	if err := g.allow("hosp-b", "nps/0"); err != nil {
		t.Fatalf("a round already counted, asked again: %v", err)
	}
	if err := g.allow("hosp-c", "nps/999"); err != nil {
		t.Fatalf("another aggregator: %v", err)
	}
	now = now.Add(time.Minute)
	if err := g.allow("hosp-b", "nps/999"); err != nil {
		t.Fatalf("a minute later: %v", err)
	}
}

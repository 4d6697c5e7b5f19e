package node

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/cxnet/cxnet/contracts"
	"github.com/cxnet/cxnet/kpi"
	"github.com/cxnet/cxnet/privacy"
)

// policyFixture is hosp-a's node in a three-member consortium (hosp-a,
// hosp-b, hosp-c) with a real key epoch (threshold 2), an active NPS
// contract among the three, and a round that hosp-b opened (and so
// aggregates), with the three inputs registered.
type policyFixture struct {
	c      *consortium
	apply  applyFunc
	keyB   ed25519.PrivateKey
	round  string
	inputs map[kpi.OrgID]roundInput
	b      peer.ID
}

func newPolicyFixture(t testing.TB) *policyFixture {
	f := &policyFixture{}
	f.c, f.apply, f.keyB = twoMemberConsortium(t)
	c := f.c
	db := c.db
	p := c.keys.params
	f.b, _ = peer.Decode(peerB)
	keyA := c.home.GovernanceKey

	// A contract needs three participants: hosp-c joins.
	_, keyC, _ := ed25519.GenerateKey(nil)
	memberC := kpi.Member{Org: "hosp-c", Name: "C", Kind: "hospital", PeerID: "12D3KooWPjceQrSwdWXPyLLeABRXmuqt69Rg3sBYbU1Nft9HyQ6X"}
	memberC.Sign(keyC)
	f.apply(contracts.EntryAdmitPropose, contracts.AdmitPropose{Member: memberC}, "hosp-a", keyA)
	f.apply(contracts.EntryAdmitApprove, contracts.AdmitApprove{Org: "hosp-c", DescriptorHash: contracts.DescriptorHash(memberC)}, "hosp-b", f.keyB)

	seed := make([]byte, privacy.SeedSize)
	skA, _ := privacy.NewSecretKey(p)
	skB, _ := privacy.NewSecretKey(p)
	skC, _ := privacy.NewSecretKey(p)
	shareA, _ := privacy.PublicKeyShare(p, skA, seed)
	shareB, _ := privacy.PublicKeyShare(p, skB, seed)
	shareC, _ := privacy.PublicKeyShare(p, skC, seed)
	f.apply(contracts.EntryKeysOpen, contracts.KeysOpen{Epoch: 1, Members: []kpi.OrgID{"hosp-a", "hosp-b", "hosp-c"}, Threshold: 2,
		Seed: hex.EncodeToString(seed), Params: p.Name()}, "hosp-a", keyA)
	f.apply(contracts.EntryKeysShare, contracts.KeysShare{Epoch: 1, Share: shareA}, "hosp-a", keyA)
	f.apply(contracts.EntryKeysShare, contracts.KeysShare{Epoch: 1, Share: shareB}, "hosp-b", f.keyB)
	f.apply(contracts.EntryKeysShare, contracts.KeysShare{Epoch: 1, Share: shareC}, "hosp-c", keyC)
	dealtA, _ := privacy.Deal(p, skA, 2, 3)
	dealtB, _ := privacy.Deal(p, skB, 2, 3)
	dealtC, _ := privacy.Deal(p, skC, 2, 3)
	tk, err := privacy.CombineDealt(p, [][]byte{dealtA[0], dealtB[0], dealtC[0]})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := tk.MarshalBinary()
	if err := db.PutSecret(1, secretTKey, b); err != nil {
		t.Fatal(err)
	}

	ct, err := contracts.Parse([]byte("id: nps-abc\nmeasure: nps\naggregate: nps\nparticipants: [hosp-a, hosp-b, hosp-c]\nprivacy: {min_cohort: 11}\n"), "c.yaml")
	if err != nil {
		t.Fatal(err)
	}
	f.apply(contracts.EntryContractPropose, contracts.ContractPropose{Contract: ct.Canonical(), Hash: ct.Hash()}, "hosp-a", keyA)
	f.apply(contracts.EntryContractApprove, contracts.ContractApprove{ID: ct.ID, Version: 1, Hash: ct.Hash()}, "hosp-b", f.keyB)
	f.apply(contracts.EntryContractApprove, contracts.ContractApprove{ID: ct.ID, Version: 1, Hash: ct.Hash()}, "hosp-c", keyC)
	f.round = f.apply(contracts.EntryRoundOpen, contracts.RoundOpen{Contract: ct.ID, Version: 1, Hash: ct.Hash(), Epoch: 1}, "hosp-b", f.keyB).Object

	var e contracts.KeyEpoch
	c.fsm.Read(func(s *contracts.State) { e, _ = s.Keys() })
	pk, err := c.keys.publicKey(e)
	if err != nil {
		t.Fatal(err)
	}
	f.inputs = map[kpi.OrgID]roundInput{}
	for org, key := range map[kpi.OrgID]ed25519.PrivateKey{"hosp-a": keyA, "hosp-b": f.keyB, "hosp-c": keyC} {
		var in roundInput
		in.Counts, _ = privacy.Encrypt(p, pk, []int64{30})
		in.Values, _ = privacy.Encrypt(p, pk, []int64{30, 12, 8})
		f.inputs[org] = in
		f.apply(contracts.EntryRoundInput, contracts.RoundInput{Round: f.round, Digest: in.digest(f.round)}, org, key)
	}
	return f
}

func (f *policyFixture) request(phase int, active []kpi.OrgID, inputs map[kpi.OrgID]roundInput) *roundRequest {
	return &roundRequest{Op: "decrypt", Round: f.round, Phase: phase, Active: active, Inputs: inputs}
}

// TestDecryptionSharePolicy: a node gives a decryption share only to the
// round's aggregator, only for the sum of exactly the inputs the log
// registered (at least min_participants of them), only for an active set
// of the key's threshold with itself in it, only while the contract is
// active; and it gives the same share again rather than a fresh one.
func TestDecryptionSharePolicy(t *testing.T) {
	f := newPolicyFixture(t)
	ctx := context.Background()
	ab := []kpi.OrgID{"hosp-a", "hosp-b"}
	outsider, _ := peer.Decode("12D3KooWHGGA18DhvnUqNckCCHiDzpzLtDiwKT3KCtYWJ8AQS9QL")
	tampered := map[kpi.OrgID]roundInput{"hosp-a": f.inputs["hosp-b"], "hosp-b": f.inputs["hosp-b"], "hosp-c": f.inputs["hosp-c"]}
	onlyA := map[kpi.OrgID]roundInput{"hosp-a": f.inputs["hosp-a"]}
	stranger := map[kpi.OrgID]roundInput{"hosp-a": f.inputs["hosp-a"], "hosp-b": f.inputs["hosp-b"], "hosp-c": f.inputs["hosp-c"], "hosp-x": f.inputs["hosp-a"]}
	for _, tc := range []struct {
		name string
		from peer.ID
		req  *roundRequest
		want string
	}{
		{"not the aggregator", outsider, f.request(1, ab, f.inputs), "only its aggregator"},
		{"an input other than registered", f.b, f.request(1, ab, tampered), "not the one it registered"},
		{"too few inputs", f.b, f.request(1, ab, onlyA), "needs 3"},
		{"an unregistered participant", f.b, f.request(1, ab, stranger), "registered none"},
		{"active set below the threshold", f.b, f.request(1, ab[:1], f.inputs), "must be 2 sorted members"},
		{"active set without this node", f.b, f.request(1, []kpi.OrgID{"hosp-b", "hosp-b"}, f.inputs), "must be 2 sorted members"},
		{"unknown phase", f.b, f.request(3, ab, f.inputs), "phase 3"},
		{"unknown round", f.b, &roundRequest{Op: "decrypt", Round: "nps-abc/1", Phase: 1, Active: ab, Inputs: f.inputs}, "no round"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.c.serveRound(ctx, tc.from, tc.req)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
			if _, err := f.c.db.Secret(1, roundSecret(f.round, "share/1")); err == nil {
				t.Fatal("a refused request left a share behind")
			}
		})
	}
	first, err := f.c.serveRound(ctx, f.b, f.request(1, ab, f.inputs))
	if err != nil {
		t.Fatal(err)
	}
	again, err := f.c.serveRound(ctx, f.b, f.request(1, ab, f.inputs))
	if err != nil || !bytes.Equal(first, again) {
		t.Fatalf("asked twice, the share changed (fresh smudging lets noise average out): %v", err)
	}
	var share privacy.Ciphertexts
	if err := json.Unmarshal(first, &share); err != nil || len(share) != 1 {
		t.Fatalf("share: %v", err)
	}

	// Once the contract is retired, no more shares.
	f.apply(contracts.EntryContractRetire, contracts.ContractRetire{ID: "nps-abc", Version: 1}, "hosp-b", f.keyB)
	if _, err := f.c.serveRound(ctx, f.b, f.request(2, ab, f.inputs)); err == nil || !strings.Contains(err.Error(), "no longer active") {
		t.Fatalf("share for a retired contract: %v", err)
	}
}

// TestEndedRoundSecretsForgotten: once a round ends (here abandoned for a
// newer round of its contract), the node drops the share it gave for it,
// keeps the newer round's and its key, and refuses the ended round.
func TestEndedRoundSecretsForgotten(t *testing.T) {
	f := newPolicyFixture(t)
	ctx := context.Background()
	ab := []kpi.OrgID{"hosp-a", "hosp-b"}
	if _, err := f.c.serveRound(ctx, f.b, f.request(1, ab, f.inputs)); err != nil {
		t.Fatal(err)
	}
	old := f.round
	var hash string
	f.c.fsm.Read(func(s *contracts.State) { r, _ := s.Round(old); hash = r.Hash })
	f.round = f.apply(contracts.EntryRoundOpen, contracts.RoundOpen{Contract: "nps-abc", Version: 1, Hash: hash, Epoch: 1}, "hosp-b", f.keyB).Object
	if err := f.c.db.PutSecret(1, roundSecret(f.round, "input"), []byte("{}")); err != nil {
		t.Fatal(err)
	}
	if err := f.c.forgetEndedRounds(); err != nil {
		t.Fatal(err)
	}
	names, err := f.c.db.SecretNames(1, "")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{roundSecret(f.round, "input"), secretTKey}; !slices.Equal(names, want) {
		t.Fatalf("secrets after the round ended: %q, want %q", names, want)
	}
	if _, err := f.c.serveRound(ctx, f.b, &roundRequest{Op: "decrypt", Round: old, Phase: 1, Active: ab, Inputs: f.inputs}); err == nil || !strings.Contains(err.Error(), "abandoned") {
		t.Fatalf("share for an abandoned round: %v", err)
	}
}

// FuzzRoundRequest: whatever arrives on /cxnet/round, the node answers
// without a panic, and gives a share only to the aggregator.
func FuzzRoundRequest(f *testing.F) {
	fx := newPolicyFixture(f)
	// Small seeds (real ciphertexts make 1.4 MB requests, too slow to
	// mutate): the structure of a valid request, with stand-in inputs.
	small := map[kpi.OrgID]roundInput{"hosp-a": {Counts: privacy.Ciphertexts{{1}}, Values: privacy.Ciphertexts{{2}}}}
	good, _ := json.Marshal(fx.request(1, []kpi.OrgID{"hosp-a", "hosp-b"}, small))
	for _, s := range [][]byte{good, []byte(`{"op":"input","round":"` + fx.round + `"}`), []byte(`{"op":"decrypt"}`), []byte(`{`), nil} {
		f.Add(s, true)
	}
	outsider, _ := peer.Decode("12D3KooWHGGA18DhvnUqNckCCHiDzpzLtDiwKT3KCtYWJ8AQS9QL")
	f.Fuzz(func(t *testing.T, b []byte, fromAggregator bool) {
		from := outsider
		if fromAggregator {
			from = fx.b
		}
		var req roundRequest
		if json.Unmarshal(b, &req) != nil {
			return
		}
		if _, err := fx.c.serveRound(context.Background(), from, &req); err == nil && !fromAggregator {
			t.Fatal("served a peer that is not the round's aggregator")
		}
	})
}

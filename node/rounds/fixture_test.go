package rounds

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/cxnet/cxnet/contracts"
	"github.com/cxnet/cxnet/ingest"
	"github.com/cxnet/cxnet/kpi"
	"github.com/cxnet/cxnet/privacy"
	"github.com/cxnet/cxnet/protocol/round"
	"github.com/cxnet/cxnet/store"
)

const (
	peerA = "12D3KooWQaGJmgg3FL8sLYtGqrGrStgmbC3S5foSGHcsAoJSHKUp"
	peerB = "12D3KooWGY4CQDX1pDQKyi56uVoYH2HqVPRnHiJsNL8gmpRbK6xh"
	peerC = "12D3KooWPtfMgpnHgTxG9WPa3h7DU5T8Ff8BQJkkfoKFMZmeJeHN"
	// secretTKey is where the tests keep hosp-a's threshold key (the key
	// manager's name for it).
	secretTKey = "tkey"
)

// applyFunc applies a signed governance entry to a test node's state
// machine, failing the test when it is refused.
type applyFunc func(typ contracts.EntryType, body any, org kpi.OrgID, key ed25519.PrivateKey) contracts.Event

// testNode is hosp-a's node as the rounds see it: a state machine and an
// in-memory store, no raft and no network. Entries reach its state
// machine only through apply; it can submit none itself.
type testNode struct {
	m     *Manager
	fsm   *contracts.FSM
	db    *store.DB
	apply applyFunc
}

// cid is the consortium's id.
func (n *testNode) cid() string {
	id := ""
	n.fsm.Read(func(s *contracts.State) { id = s.ID() })
	return id
}

// twoMemberConsortium is hosp-a's node in a consortium that hosp-a
// founded and hosp-b, whose governance key it returns with hosp-a's, is
// admitted to.
func twoMemberConsortium(tb testing.TB) (n *testNode, keyA, keyB ed25519.PrivateKey) {
	db, err := store.Open(store.Config{InMemory: true, Insecure: true, PseudonymKey: make([]byte, 32)}, nil)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	_, keyA, _ = ed25519.GenerateKey(nil)
	_, keyB, _ = ed25519.GenerateKey(nil)
	n = &testNode{fsm: contracts.NewFSM(), db: db}
	p := privacy.DefaultParams()
	n.m, err = New(Config{
		Org: "hosp-a", Params: p, State: n.fsm.Read,
		Sign: func(t contracts.EntryType, body any) ([]byte, error) {
			return contracts.Sign(t, body, "hosp-a", keyA, n.cid())
		},
		Submit: func(context.Context, []byte) (contracts.Event, error) {
			return contracts.Event{}, errors.New("this test node has no raft: the test applies the entries")
		},
		Sync:         func(context.Context) error { return nil }, // the state is the log
		SignRound:    contracts.RoundSigner(keyA),
		Secrets:      db,
		ThresholdKey: func(epoch uint64) ([]byte, error) { return db.Secret(epoch, secretTKey) },
		PublicKey: func(e contracts.KeyEpoch) (*privacy.PublicKey, error) {
			seed, err := hex.DecodeString(e.Seed)
			if err != nil {
				return nil, err
			}
			return privacy.CollectivePublicKey(p, seed, e.OrderedShares())
		},
		Components: func(ctx context.Context, c *contracts.Contract) ([]int64, int64, error) {
			acc := c.NewAccumulator()
			var scanned int64
			err := db.Scan(ctx, c.Measure, store.AllDays, func(o *kpi.Observation) error {
				scanned++
				acc.Add(o)
				return nil
			})
			if err != nil {
				return nil, 0, err
			}
			comps, err := acc.Components()
			return comps, scanned, err
		},
		Host:    func() host.Host { return nil }, // no network: the tests call the backend
		Timeout: time.Minute,
	})
	if err != nil {
		tb.Fatal(err)
	}
	index := uint64(0)
	n.apply = func(typ contracts.EntryType, body any, org kpi.OrgID, key ed25519.PrivateKey) contracts.Event {
		tb.Helper()
		entry, err := contracts.Sign(typ, body, org, key, n.cid())
		if err != nil {
			tb.Fatal(err)
		}
		index++
		res := n.fsm.Apply(&raft.Log{Index: index, Type: raft.LogCommand, Data: entry}).(*contracts.ApplyResult)
		if res.Err != nil {
			tb.Fatal(res.Err)
		}
		return res.Event
	}
	member := func(org kpi.OrgID, peerID string, key ed25519.PrivateKey) kpi.Member {
		m := kpi.Member{Org: org, Name: string(org), Kind: "hospital", PeerID: peerID}
		m.Sign(key)
		return m
	}
	n.apply(contracts.EntryGenesis, contracts.Genesis{Name: "rounds", Founder: member("hosp-a", peerA, keyA)}, "hosp-a", keyA)
	n.apply(contracts.EntryAdmitPropose, contracts.AdmitPropose{Member: member("hosp-b", peerB, keyB)}, "hosp-a", keyA)
	return n, keyA, keyB
}

// policyFixture is hosp-a's node in a three-member consortium (hosp-a,
// hosp-b, hosp-c) with a real key epoch (threshold 2), an active NPS
// contract among all three, and a round that hosp-b opened (and so
// aggregates), with every input committed. hosp-b's and hosp-c's inputs
// are made here; hosp-a's node makes its own when asked to commit.
type policyFixture struct {
	*testNode
	keys    map[kpi.OrgID]ed25519.PrivateKey
	tks     map[kpi.OrgID]*privacy.ThresholdKey
	pads    map[kpi.OrgID][]uint64
	round   string
	inputs  map[kpi.OrgID]round.Input
	b       peer.ID
	readers map[kpi.OrgID]*privacy.ReaderKey
}

// readerKey is org's reader public key.
func (f *policyFixture) readerKey(t testing.TB, org kpi.OrgID) []byte {
	if f.readers == nil {
		f.readers = map[kpi.OrgID]*privacy.ReaderKey{}
	}
	if f.readers[org] == nil {
		k, err := privacy.NewReaderKey()
		if err != nil {
			t.Fatal(err)
		}
		f.readers[org] = k
	}
	return f.readers[org].Public()
}

func newPolicyFixture(t testing.TB) *policyFixture {
	f := &policyFixture{keys: map[kpi.OrgID]ed25519.PrivateKey{}, tks: map[kpi.OrgID]*privacy.ThresholdKey{},
		pads: map[kpi.OrgID][]uint64{}}
	var keyA, keyB ed25519.PrivateKey
	f.testNode, keyA, keyB = twoMemberConsortium(t)
	p := f.m.cfg.Params
	f.b, _ = peer.Decode(peerB)
	_, keyC, _ := ed25519.GenerateKey(nil)
	f.keys = map[kpi.OrgID]ed25519.PrivateKey{"hosp-a": keyA, "hosp-b": keyB, "hosp-c": keyC}
	m := kpi.Member{Org: "hosp-c", Name: "C", Kind: "hospital", PeerID: peerC}
	m.Sign(keyC)
	f.apply(contracts.EntryAdmitPropose, contracts.AdmitPropose{Member: m}, "hosp-a", keyA)
	f.apply(contracts.EntryAdmitApprove, contracts.AdmitApprove{Org: "hosp-c", DescriptorHash: contracts.DescriptorHash(m)}, "hosp-b", keyB)

	orgs := []kpi.OrgID{"hosp-a", "hosp-b", "hosp-c"}
	seed := make([]byte, privacy.SeedSize)
	f.apply(contracts.EntryKeysOpen, contracts.KeysOpen{Epoch: 1, Members: orgs, Threshold: 2,
		Seed: hex.EncodeToString(seed), Params: p.Name()}, "hosp-a", keyA)
	shares := map[kpi.OrgID][]byte{}
	dealt := map[kpi.OrgID][][]byte{}
	for _, o := range orgs {
		sk, _ := privacy.NewSecretKey(p)
		shares[o], _ = privacy.PublicKeyShare(p, sk, seed)
		dealt[o], _ = privacy.Deal(p, sk, 2, 3)
		f.apply(contracts.EntryKeysCommit, contracts.KeysCommit{Epoch: 1, Digest: contracts.KeyShareDigest(1, o, shares[o]), ReaderKey: f.readerKey(t, o)}, o, f.keys[o])
	}
	for _, o := range orgs {
		f.apply(contracts.EntryKeysShare, contracts.KeysShare{Epoch: 1, Share: shares[o]}, o, f.keys[o])
	}
	for i, o := range orgs {
		var mine [][]byte
		for _, d := range orgs {
			mine = append(mine, dealt[d][i])
		}
		tk, err := privacy.CombineDealt(p, mine)
		if err != nil {
			t.Fatal(err)
		}
		f.tks[o] = tk
	}
	b, _ := f.tks["hosp-a"].MarshalBinary()
	if err := f.db.PutSecret(1, secretTKey, b); err != nil {
		t.Fatal(err)
	}

	ct, err := contracts.Parse([]byte("id: nps-abc\nmeasure: nps\naggregate: nps\nparticipants: [hosp-a, hosp-b, hosp-c]\nprivacy: {min_cohort: 11}\n"), "c.yaml")
	if err != nil {
		t.Fatal(err)
	}
	f.apply(contracts.EntryContractPropose, contracts.ContractPropose{Contract: ct.Canonical(), Hash: ct.Hash()}, "hosp-a", keyA)
	f.apply(contracts.EntryContractApprove, contracts.ContractApprove{ID: ct.ID, Version: 1, Hash: ct.Hash()}, "hosp-b", keyB)
	f.apply(contracts.EntryContractApprove, contracts.ContractApprove{ID: ct.ID, Version: 1, Hash: ct.Hash()}, "hosp-c", keyC)
	f.round = f.apply(contracts.EntryRoundOpen, contracts.RoundOpen{Contract: ct.ID, Version: 1, Hash: ct.Hash(), Epoch: 1}, "hosp-b", keyB).Object
	// hosp-a's own records: 5 answers, 2 promoters, 1 detractor.
	csv := "record_id,subject,measure,value,time\na-1,p1,nps,9,2026-03-01\na-2,p2,nps,10,2026-03-01\na-3,p3,nps,8,2026-03-01\na-4,p4,nps,7,2026-03-01\na-5,p5,nps,3,2026-03-01\n"
	if _, err := f.db.Import(context.Background(), ingest.NewCSVReader(strings.NewReader(csv), "a.csv", ingest.Options{}), store.ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	f.commitAll(t)
	return f
}

// commitAll commits every participant's input to the fixture's round:
// hosp-a's node makes its own (5 answers), registered as its node would
// through raft; 10 answers from hosp-b (4 promoters, 3 detractors) and
// hosp-c (3, 5), padded.
func (f *policyFixture) commitAll(t testing.TB) {
	p := f.m.cfg.Params
	in, err := f.m.newInput(context.Background(), f.view(t, contracts.RoundCollecting))
	if err != nil {
		t.Fatal(err)
	}
	f.inputs = map[kpi.OrgID]round.Input{"hosp-a": in.Input}
	f.pads["hosp-a"] = in.Pads
	f.apply(contracts.EntryRoundInput, contracts.RoundInput{Round: kpi.RoundID(f.round), Digest: inputDigest(&in.Input)}, "hosp-a", f.keys["hosp-a"])
	var e contracts.KeyEpoch
	f.fsm.Read(func(s *contracts.State) { e, _ = s.Keys() })
	pk, err := f.m.cfg.PublicKey(e)
	if err != nil {
		t.Fatal(err)
	}
	for org, comps := range map[kpi.OrgID][]int64{"hosp-b": {10, 4, 3}, "hosp-c": {10, 3, 5}} {
		var in round.Input
		pads := []uint64{uint64(len(org)) * 0x9e3779b97f4a7c15, 77, 1 << 63}
		padded := make([]int64, len(comps))
		for i := range comps {
			padded[i] = int64(uint64(comps[i]) + pads[i])
		}
		// The cell's count, that it feeds the cell, the padded components.
		in.Ciphertexts, _ = privacy.Encrypt(p, pk, append([]int64{comps[0], 1}, padded...))
		f.inputs[org], f.pads[org] = in, pads
		f.apply(contracts.EntryRoundInput, contracts.RoundInput{Round: kpi.RoundID(f.round), Digest: inputDigest(&in)}, org, f.keys[org])
	}
}

// serve answers req from peer from as this node's round server does, and
// returns the reply as it would cross the wire.
func (f *policyFixture) serve(ctx context.Context, from peer.ID, req *round.Request) ([]byte, error) {
	if err := req.Check(); err != nil {
		return nil, err
	}
	reply, err := round.Dispatch(ctx, f.m.roundServer(), from, req)
	if err != nil {
		return nil, err
	}
	return round.Encode(reply)
}

func (f *policyFixture) view(t testing.TB, want contracts.RoundState) *roundView {
	v, err := f.m.roundView(f.round, want)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func (f *policyFixture) seal() {
	f.apply(contracts.EntryRoundSeal, contracts.RoundSeal{Round: kpi.RoundID(f.round)}, "hosp-b", f.keys["hosp-b"])
}

// decrypt is a decryption request for the sum of the inputs summed, with
// the signed fingerprint of each input of printed against it (as its
// participant gives it: of its own input).
func (f *policyFixture) decrypt(active []kpi.OrgID, summed, printed map[kpi.OrgID]round.Input) *round.Request {
	cts, err := sumInputs(f.m.cfg.Params, summed)
	if err != nil {
		panic(err) // the fixture's inputs are well formed
	}
	sum := round.Input{Ciphertexts: cts}
	return &round.Request{Op: round.OpDecrypt, Round: f.round, Active: active, Sum: &sum, Prints: f.prints(round.OfInput, &sum, printed)}
}

// prints are the signed fingerprints of parts (inputs or shares, by
// member) against sum, as their members give them.
func (f *policyFixture) prints(of round.Of, sum *round.Input, parts map[kpi.OrgID]round.Input) map[kpi.OrgID]round.Print {
	digest := sumDigest(of, sum)
	seed := printSeed(f.cid(), kpi.RoundID(f.round), of, digest)
	out := map[kpi.OrgID]round.Print{}
	for org, part := range parts {
		fp, err := fingerprint(f.m.cfg.Params, of, &part, seed)
		if err != nil {
			panic(err)
		}
		key, ok := f.keys[org]
		if !ok {
			_, key, _ = ed25519.GenerateKey(nil) // a stranger's
		}
		out[org] = round.Print{Fingerprint: fp, Sig: ed25519.Sign(key, printBytes(f.cid(), kpi.RoundID(f.round), of, digest, fp))}
	}
	return out
}

// attest is an attestation request for the sum of the shares summed
// (with repeats), with the signed fingerprint of each share of printed
// against it.
func (f *policyFixture) attest(active []kpi.OrgID, summed []round.Share, printed map[kpi.OrgID]round.Share) *round.Request {
	p := f.m.cfg.Params
	var all []privacy.Ciphertexts
	for _, s := range summed {
		all = append(all, s.Ciphertexts)
	}
	h, err := privacy.SumShares(p, all)
	if err != nil {
		panic(err)
	}
	sum := round.Input{Ciphertexts: h}
	parts := map[kpi.OrgID]round.Input{}
	for org, s := range printed {
		parts[org] = round.Input{Ciphertexts: s.Ciphertexts}
	}
	return &round.Request{Op: round.OpAttest, Round: f.round, Active: active, Sum: &sum, Prints: f.prints(round.OfShare, &sum, parts)}
}

// shareOf is member org's honest signed share of the fixture's round for
// the threshold set active.
func (f *policyFixture) shareOf(t testing.TB, org kpi.OrgID, active []kpi.OrgID) round.Share {
	p := f.m.cfg.Params
	sum, err := sumInputs(p, f.inputs)
	if err != nil {
		t.Fatal(err)
	}
	var pts []int
	for _, a := range active {
		pts = append(pts, int(a[len(a)-1]-'a'))
	}
	d, err := privacy.NewDecryptor(p, f.tks[org], int(org[len(org)-1]-'a'), 3, 2, pts)
	if err != nil {
		t.Fatal(err)
	}
	var s round.Share
	s.Ciphertexts, _ = d.Share(sum)
	s.Sig = ed25519.Sign(f.keys[org], shareBytes(f.cid(), f.round, active, &s))
	return s
}

// withRound is req for another round.
func withRound(req *round.Request, id string) *round.Request {
	req.Round = id
	return req
}

// withPrintSig is the request with org's fingerprint signed by key.
func (f *policyFixture) withPrintSigOf(req *round.Request, org kpi.OrgID, key ed25519.PrivateKey) *round.Request {
	pr := req.Prints[org]
	digest := sumDigest(round.OfInput, req.Sum)
	pr.Sig = ed25519.Sign(key, printBytes(f.cid(), kpi.RoundID(req.Round), round.OfInput, digest, pr.Fingerprint))
	req.Prints[org] = pr
	return req
}

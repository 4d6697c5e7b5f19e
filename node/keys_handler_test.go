package node

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/hashicorp/raft"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/cxnet/cxnet/contracts"
	"github.com/cxnet/cxnet/kpi"
	"github.com/cxnet/cxnet/privacy"
	"github.com/cxnet/cxnet/store"
)

const peerB = "12D3KooWGY4CQDX1pDQKyi56uVoYH2HqVPRnHiJsNL8gmpRbK6xh"

// keysConsortium is hosp-a's node in a keyed two-member consortium
// (hosp-a, hosp-b), with an in-memory store and no network: /cxnet/keys
// requests run as on a live node.
func keysConsortium(tb testing.TB) (*keyManager, *contracts.KeyEpoch) {
	c, apply, keyB := twoMemberConsortium(tb)
	k := c.keys
	apply(contracts.EntryKeysOpen, contracts.KeysOpen{Epoch: 1, Members: []kpi.OrgID{"hosp-a", "hosp-b"}, Threshold: 2,
		Seed: strings.Repeat("ab", 32), Params: k.params.Name()}, "hosp-a", c.home.GovernanceKey)
	apply(contracts.EntryKeysCommit, contracts.KeysCommit{Epoch: 1, Digest: contracts.KeyShareDigest(1, "hosp-a", []byte("a")), ReaderKey: testReaderKey(tb)}, "hosp-a", c.home.GovernanceKey)
	apply(contracts.EntryKeysCommit, contracts.KeysCommit{Epoch: 1, Digest: contracts.KeyShareDigest(1, "hosp-b", []byte("b")), ReaderKey: testReaderKey(tb)}, "hosp-b", keyB)
	apply(contracts.EntryKeysShare, contracts.KeysShare{Epoch: 1, Share: []byte("a")}, "hosp-a", c.home.GovernanceKey)
	apply(contracts.EntryKeysShare, contracts.KeysShare{Epoch: 1, Share: []byte("b")}, "hosp-b", keyB)
	var e contracts.KeyEpoch
	c.fsm.Read(func(s *contracts.State) { e, _ = s.Keys() })
	return k, &e
}

// applyFunc applies a signed governance entry to a test node's state
// machine, failing the test when it is refused.
type applyFunc func(typ contracts.EntryType, body any, org kpi.OrgID, key ed25519.PrivateKey) contracts.Event

// twoMemberConsortium is hosp-a's node (state machine, in-memory store,
// key manager; no network) in a consortium where hosp-b, whose governance
// key it returns, is admitted too.
func twoMemberConsortium(tb testing.TB) (*consortium, applyFunc, ed25519.PrivateKey) {
	c := fuzzConsortium(tb)
	c.cfg.Org = "hosp-a"
	db, err := store.Open(store.Config{InMemory: true, Insecure: true, PseudonymKey: make([]byte, 32)}, nil)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	c.db = db
	c.keys = newKeyManager(c)
	index := uint64(1)
	apply := func(typ contracts.EntryType, body any, org kpi.OrgID, key ed25519.PrivateKey) contracts.Event {
		tb.Helper()
		entry, err := contracts.Sign(typ, body, org, key, c.consortiumID())
		if err != nil {
			tb.Fatal(err)
		}
		index++
		res := c.fsm.Apply(&raft.Log{Index: index, Type: raft.LogCommand, Data: entry}).(*contracts.ApplyResult)
		if res.Err != nil {
			tb.Fatal(res.Err)
		}
		return res.Event
	}
	_, keyB, _ := ed25519.GenerateKey(nil)
	b := kpi.Member{Org: "hosp-b", Name: "B", Kind: "hospital", PeerID: peerB}
	b.Sign(keyB)
	apply(contracts.EntryAdmitPropose, contracts.AdmitPropose{Member: b}, "hosp-a", c.home.GovernanceKey)
	return c, apply, keyB
}

func dealtShare(t testing.TB, p privacy.Params) []byte {
	sk, _ := privacy.NewSecretKey(p)
	shares, err := privacy.Deal(p, sk, 2, 2)
	if err != nil {
		t.Fatal(err)
	}
	return shares[0]
}

// TestHandleKeys: a member of the epoch deals this node a share once; an
// outsider, an unknown epoch, a malformed share or a second, different
// share are refused, and nothing is stored for them.
func TestHandleKeys(t *testing.T) {
	k, e := keysConsortium(t)
	if e.Epoch != 1 || !e.Keyed() {
		t.Fatalf("epoch %+v", e)
	}
	ctx := context.Background()
	b, _ := peer.Decode(peerB)
	outsider, _ := peer.Decode("12D3KooWHGGA18DhvnUqNckCCHiDzpzLtDiwKT3KCtYWJ8AQS9QL")
	share := dealtShare(t, k.params)
	other := dealtShare(t, k.params)
	req := func(epoch uint64, s []byte) []byte {
		b, _ := json.Marshal(keysRequest{Epoch: epoch, Share: s})
		return b
	}
	for _, tc := range []struct {
		name string
		from peer.ID
		body []byte
		want string
	}{
		{"outsider", outsider, req(1, share), "not an admitted member"},
		{"unknown epoch", b, req(2, share), "not current"},
		{"short share", b, req(1, share[:100]), "bad share"},
		{"not json", b, []byte("{"), "bad keys request"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := k.handleKeys(ctx, tc.from, tc.body)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
			if _, err := k.c.db.Secret(1, secretFrom+"hosp-b"); !errors.Is(err, store.ErrNoSecret) {
				t.Fatal("a refused share was stored")
			}
		})
	}
	if _, err := k.handleKeys(ctx, b, req(1, share)); err != nil {
		t.Fatal(err)
	}
	if _, err := k.handleKeys(ctx, b, req(1, share)); err != nil {
		t.Fatalf("the same share again: %v", err)
	}
	if _, err := k.handleKeys(ctx, b, req(1, other)); err == nil || !strings.Contains(err.Error(), "different share") {
		t.Fatalf("a different share: %v", err)
	}
	if got, _ := k.c.db.Secret(1, secretFrom+"hosp-b"); !bytes.Equal(got, share) {
		t.Fatal("the first share was not kept")
	}
	// This node's own share is dealt locally; with hosp-b's it combines.
	if err := k.received(1, "hosp-a", dealtShare(t, k.params)); err != nil {
		t.Fatal(err)
	}
	k.combine(*e)
	if _, err := k.c.db.Secret(1, secretTKey); err != nil {
		t.Fatalf("no threshold key after both shares: %v", err)
	}
}

// FuzzKeysRequest: whatever a member sends on /cxnet/keys, the handler
// answers without a panic, and what it accepts is a well-formed share.
func FuzzKeysRequest(f *testing.F) {
	k, _ := keysConsortium(f)
	good, _ := json.Marshal(keysRequest{Epoch: 1, Share: dealtShare(f, k.params)})
	for _, s := range [][]byte{good, []byte(`{"epoch":1,"share":"AAAA"}`), []byte(`{"epoch":1}`), []byte(`[`), nil} {
		f.Add(s)
	}
	b, _ := peer.Decode(peerB)
	f.Fuzz(func(t *testing.T, body []byte) {
		if _, err := k.handleKeys(context.Background(), b, body); err != nil {
			return
		}
		var req keysRequest
		if err := json.Unmarshal(body, &req); err != nil || privacy.CheckDealt(k.params, req.Share) != nil {
			t.Fatalf("accepted a malformed request: %v", err)
		}
	})
}

// testReaderKey is a fresh reader public key.
func testReaderKey(tb testing.TB) []byte {
	k, err := privacy.NewReaderKey()
	if err != nil {
		tb.Fatal(err)
	}
	return k.Public()
}

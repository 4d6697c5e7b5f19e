package node

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/hashicorp/raft"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/cxnet/cxnet/contracts"
	"github.com/cxnet/cxnet/kpi"
	"github.com/cxnet/cxnet/privacy"
	"github.com/cxnet/cxnet/protocol/keys"
	"github.com/cxnet/cxnet/store"
)

const peerB = "12D3KooWGY4CQDX1pDQKyi56uVoYH2HqVPRnHiJsNL8gmpRbK6xh"

// keysConsortium is hosp-a's node in a keyed two-member consortium
// (hosp-a, hosp-b), with an in-memory store and no network: /cxnet/keys
// deals reach its key manager as on a live node.
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
// share are refused, and nothing is stored for them. (What does not
// decode as a deal never reaches the key manager: protocol/keys refuses
// it, see its TestDecodeDeal.)
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
	for _, tc := range []struct {
		name string
		from peer.ID
		deal keys.Deal
		want string
	}{
		{"outsider", outsider, keys.Deal{Epoch: 1, Share: share}, "not an admitted member"},
		{"unknown epoch", b, keys.Deal{Epoch: 2, Share: share}, "not current"},
		{"short share", b, keys.Deal{Epoch: 1, Share: share[:100]}, "bad share"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := k.AcceptDeal(ctx, tc.from, tc.deal)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
			if _, err := k.c.db.Secret(1, secretFrom+"hosp-b"); !errors.Is(err, store.ErrNoSecret) {
				t.Fatal("a refused share was stored")
			}
		})
	}
	if err := k.AcceptDeal(ctx, b, keys.Deal{Epoch: 1, Share: share}); err != nil {
		t.Fatal(err)
	}
	if err := k.AcceptDeal(ctx, b, keys.Deal{Epoch: 1, Share: share}); err != nil {
		t.Fatalf("the same share again: %v", err)
	}
	if err := k.AcceptDeal(ctx, b, keys.Deal{Epoch: 1, Share: other}); err == nil || !strings.Contains(err.Error(), "different share") {
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

// TestKeysServerFitsDealtShare: the /cxnet/keys server this node wires
// builds, and its frame limit is exactly the largest deal of a real
// dealt share at the node's parameters: every honest deal fits, and a
// member can make the node read no more.
func TestKeysServerFitsDealtShare(t *testing.T) {
	k, _ := keysConsortium(t)
	if _, err := k.keysServer(); err != nil {
		t.Fatal(err)
	}
	share := dealtShare(t, k.params)
	if len(share) != privacy.DealtShareSize(k.params) {
		t.Fatalf("a dealt share is %d bytes, privacy.DealtShareSize says %d", len(share), privacy.DealtShareSize(k.params))
	}
	longest, err := json.Marshal(keys.Deal{Epoch: math.MaxUint64, Share: share})
	if err != nil {
		t.Fatal(err)
	}
	if limit := keys.MaxDealSize(privacy.DealtShareSize(k.params)); len(longest) != limit {
		t.Fatalf("the longest deal of a real share is %d bytes, the server's frame limit %d", len(longest), limit)
	}
}

// FuzzAcceptDeal: whatever deal a member sends on /cxnet/keys, the key
// manager answers without a panic, and what it stores is a well-formed
// share of a current epoch.
func FuzzAcceptDeal(f *testing.F) {
	k, _ := keysConsortium(f)
	good := dealtShare(f, k.params)
	f.Add(uint64(1), good)
	f.Add(uint64(1), good[:len(good)-1])
	f.Add(uint64(2), good)
	f.Add(uint64(1), []byte{0, 0, 0, 0})
	f.Add(uint64(0), []byte(nil))
	b, _ := peer.Decode(peerB)
	f.Fuzz(func(t *testing.T, epoch uint64, share []byte) {
		if err := k.AcceptDeal(context.Background(), b, keys.Deal{Epoch: epoch, Share: share}); err != nil {
			return
		}
		if epoch != 1 || privacy.CheckDealt(k.params, share) != nil {
			t.Fatalf("accepted a malformed deal: epoch %d, %d bytes", epoch, len(share))
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

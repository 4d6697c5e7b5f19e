package keymgr

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
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/cxnet/cxnet/contracts"
	"github.com/cxnet/cxnet/kpi"
	"github.com/cxnet/cxnet/privacy"
	"github.com/cxnet/cxnet/protocol/keys"
	"github.com/cxnet/cxnet/store"
)

const (
	peerA = "12D3KooWQaGJmgg3FL8sLYtGqrGrStgmbC3S5foSGHcsAoJSHKUp"
	peerB = "12D3KooWGY4CQDX1pDQKyi56uVoYH2HqVPRnHiJsNL8gmpRbK6xh"
)

// fixture is hosp-a's key manager in a two-member consortium (hosp-a,
// hosp-b) whose key epoch 1 is keyed: a state machine, an in-memory
// store, no network and no raft (what the manager submits is refused).
type fixture struct {
	k   *Manager
	fsm *contracts.FSM
	db  *store.DB
	e   contracts.KeyEpoch
}

func newFixture(tb testing.TB) *fixture {
	f := &fixture{fsm: contracts.NewFSM()}
	db, err := store.Open(store.Config{InMemory: true, Insecure: true, PseudonymKey: make([]byte, 32)}, nil)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	f.db = db
	_, keyA, _ := ed25519.GenerateKey(nil)
	_, keyB, _ := ed25519.GenerateKey(nil)
	index := uint64(0)
	apply := func(typ contracts.EntryType, body any, org kpi.OrgID, key ed25519.PrivateKey) {
		tb.Helper()
		var id string
		f.fsm.Read(func(s *contracts.State) { id = s.ID() })
		entry, err := contracts.Sign(typ, body, org, key, id)
		if err != nil {
			tb.Fatal(err)
		}
		index++
		if res := f.fsm.Apply(&raft.Log{Index: index, Type: raft.LogCommand, Data: entry}).(*contracts.ApplyResult); res.Err != nil {
			tb.Fatal(res.Err)
		}
	}
	member := func(org, p string, key ed25519.PrivateKey) kpi.Member {
		m := kpi.Member{Org: kpi.OrgID(org), Name: org, Kind: "hospital", PeerID: p}
		m.Sign(key)
		return m
	}
	apply(contracts.EntryGenesis, contracts.Genesis{Name: "keys", Founder: member("hosp-a", peerA, keyA)}, "hosp-a", keyA)
	apply(contracts.EntryAdmitPropose, contracts.AdmitPropose{Member: member("hosp-b", peerB, keyB)}, "hosp-a", keyA)
	f.k, err = New(Config{
		Org: "hosp-a", State: f.fsm.Read,
		Sign: func(contracts.EntryType, any) ([]byte, error) {
			return nil, errors.New("no governance key in this test")
		},
		Submit: func(context.Context, []byte) (contracts.Event, error) {
			return contracts.Event{}, errors.New("no raft in this test")
		},
		Leads: func() bool { return false }, InRaft: func(string) bool { return true },
		Host: func() host.Host { return nil }, Secrets: db,
	})
	if err != nil {
		tb.Fatal(err)
	}
	p := f.k.cfg.Params
	apply(contracts.EntryKeysOpen, contracts.KeysOpen{Epoch: 1, Members: []kpi.OrgID{"hosp-a", "hosp-b"}, Threshold: 2,
		Seed: strings.Repeat("ab", 32), Params: p.Name()}, "hosp-a", keyA)
	rk, _ := f.k.ReaderKey()
	apply(contracts.EntryKeysCommit, contracts.KeysCommit{Epoch: 1, Digest: contracts.KeyShareDigest(1, "hosp-a", []byte("a")), ReaderKey: rk.Public()}, "hosp-a", keyA)
	apply(contracts.EntryKeysCommit, contracts.KeysCommit{Epoch: 1, Digest: contracts.KeyShareDigest(1, "hosp-b", []byte("b")), ReaderKey: rk.Public()}, "hosp-b", keyB)
	apply(contracts.EntryKeysShare, contracts.KeysShare{Epoch: 1, Share: []byte("a")}, "hosp-a", keyA)
	apply(contracts.EntryKeysShare, contracts.KeysShare{Epoch: 1, Share: []byte("b")}, "hosp-b", keyB)
	f.fsm.Read(func(s *contracts.State) { f.e, _ = s.Keys() })
	return f
}

func dealtShare(t testing.TB, p privacy.Params) []byte {
	sk, _ := privacy.NewSecretKey(p)
	shares, err := privacy.Deal(p, sk, 2, 2)
	if err != nil {
		t.Fatal(err)
	}
	return shares[0]
}

// TestAcceptDeal: a member of the epoch deals this node a share once; an
// outsider, an unknown epoch, a malformed share or a second, different
// share are refused, and nothing is stored for them. (What does not
// decode as a deal never reaches the key manager: protocol/keys refuses
// it, see its TestDecodeDeal.)
func TestAcceptDeal(t *testing.T) {
	f := newFixture(t)
	k := f.k
	if f.e.Epoch != 1 || !f.e.Keyed() {
		t.Fatalf("epoch %+v", f.e)
	}
	ctx := context.Background()
	b, _ := peer.Decode(peerB)
	outsider, _ := peer.Decode("12D3KooWHGGA18DhvnUqNckCCHiDzpzLtDiwKT3KCtYWJ8AQS9QL")
	share := dealtShare(t, k.cfg.Params)
	other := dealtShare(t, k.cfg.Params)
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
			if _, err := f.db.Secret(1, secretFrom+"hosp-b"); !errors.Is(err, store.ErrNoSecret) {
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
	if got, _ := f.db.Secret(1, secretFrom+"hosp-b"); !bytes.Equal(got, share) {
		t.Fatal("the first share was not kept")
	}
	// This node's own share is dealt locally; with hosp-b's it combines.
	if err := k.received(1, "hosp-a", dealtShare(t, k.cfg.Params)); err != nil {
		t.Fatal(err)
	}
	k.combine(f.e)
	if _, err := f.db.Secret(1, SecretThresholdKey); err != nil {
		t.Fatalf("no threshold key after both shares: %v", err)
	}
	if info := k.Info(); info == nil || info.Epoch != 1 || !info.ThresholdKey {
		t.Fatalf("info: %+v", info)
	}
}

// TestServerFitsDealtShare: the /cxnet/keys server the manager builds,
// and its frame limit is exactly the largest deal of a real dealt share
// at the node's parameters: every honest deal fits, and a member can make
// the node read no more.
func TestServerFitsDealtShare(t *testing.T) {
	k := newFixture(t).k
	if _, err := k.Server(func(peer.ID) bool { return true }); err != nil {
		t.Fatal(err)
	}
	share := dealtShare(t, k.cfg.Params)
	if len(share) != privacy.DealtShareSize(k.cfg.Params) {
		t.Fatalf("a dealt share is %d bytes, privacy.DealtShareSize says %d", len(share), privacy.DealtShareSize(k.cfg.Params))
	}
	longest, err := json.Marshal(keys.Deal{Epoch: math.MaxUint64, Share: share})
	if err != nil {
		t.Fatal(err)
	}
	if limit := keys.MaxDealSize(privacy.DealtShareSize(k.cfg.Params)); len(longest) != limit {
		t.Fatalf("the longest deal of a real share is %d bytes, the server's frame limit %d", len(longest), limit)
	}
}

func TestNewConfig(t *testing.T) {
	_, err := New(Config{})
	for _, want := range []string{"Org is required", "State is required", "Sign is required", "Submit is required", "Secrets is required", "Host is required"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("New(Config{}): %v; want %q", err, want)
		}
	}
}

// FuzzAcceptDeal: whatever deal a member sends on /cxnet/keys, the key
// manager answers without a panic, and what it stores is a well-formed
// share of a current epoch.
func FuzzAcceptDeal(f *testing.F) {
	k := newFixture(f).k
	good := dealtShare(f, k.cfg.Params)
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
		if epoch != 1 || privacy.CheckDealt(k.cfg.Params, share) != nil {
			t.Fatalf("accepted a malformed deal: epoch %d, %d bytes", epoch, len(share))
		}
	})
}

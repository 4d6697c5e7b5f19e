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

	"github.com/cxnet/cxnet/contracts"
	"github.com/cxnet/cxnet/kpi"
	"github.com/cxnet/cxnet/privacy"
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
		Rejected:     func(error) bool { return false },
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

// TestNewRefusesAnIncompleteConfig: a config without what the rounds
// call on the node is refused at construction, naming each field.
func TestNewRefusesAnIncompleteConfig(t *testing.T) {
	_, err := New(Config{})
	if err == nil {
		t.Fatal("an empty config accepted")
	}
	for _, want := range []string{"State", "Sign", "Submit", "Rejected", "Sync", "SignRound", "Secrets", "ThresholdKey", "PublicKey", "Components", "Host", "Org"} {
		if !strings.Contains(err.Error(), "rounds: config: "+want+" is required") {
			t.Errorf("config without %s: %v", want, err)
		}
	}
	if !strings.Contains(err.Error(), "Timeout is 0s") {
		t.Errorf("config without a timeout: %v", err)
	}
}

package node

import (
	"crypto/ed25519"
	"testing"

	"github.com/hashicorp/raft"

	"github.com/cxnet/cxnet/contracts"
	"github.com/cxnet/cxnet/kpi"
	"github.com/cxnet/cxnet/store"
)

const peerB = "12D3KooWGY4CQDX1pDQKyi56uVoYH2HqVPRnHiJsNL8gmpRbK6xh"

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
	if c.keys, err = c.newKeys(); err != nil {
		tb.Fatal(err)
	}
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

package node

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"log/slog"
	"testing"

	"github.com/hashicorp/raft"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/cxnet/cxnet/contracts"
	"github.com/cxnet/cxnet/kpi"
	"github.com/cxnet/cxnet/protocol"
)

// fuzzConsortium is a consortium with a state machine and no network: the
// handlers' decoding and checks run as on a live node without raft.
func fuzzConsortium(tb testing.TB) *consortium {
	_, key, _ := ed25519.GenerateKey(nil)
	c := &consortium{home: &Home{GovernanceKey: key}, log: slog.New(slog.DiscardHandler), fsm: contracts.NewFSM(),
		known: protocol.NewPeerSet(), blocked: protocol.NewPeerSet()}
	founder := kpi.Member{Org: "hosp-a", Name: "A", Kind: "hospital", PeerID: "12D3KooWQaGJmgg3FL8sLYtGqrGrStgmbC3S5foSGHcsAoJSHKUp"}
	founder.Sign(key)
	genesis, err := contracts.Sign(contracts.EntryGenesis, contracts.Genesis{Name: "fuzz", Founder: founder}, "hosp-a", key, "")
	if err != nil {
		tb.Fatal(err)
	}
	if res := c.fsm.Apply(&raft.Log{Index: 1, Type: raft.LogCommand, Data: genesis}).(*contracts.ApplyResult); res.Err != nil {
		tb.Fatal(res.Err)
	}
	return c
}

// FuzzJoinRequest: whatever a peer sends on /cxnet/join, the handler
// answers with an error or a reply and never panics; nobody who is not an
// admitted member gets a reply.
func FuzzJoinRequest(f *testing.F) {
	_, key, _ := ed25519.GenerateKey(nil)
	m := kpi.Member{Org: "hosp-b", PeerID: "12D3KooWGY4CQDX1pDQKyi56uVoYH2HqVPRnHiJsNL8gmpRbK6xh"}
	m.Sign(key)
	good, _ := json.Marshal(joinRequest{Member: m})
	for _, s := range [][]byte{good, []byte(`{}`), []byte(`{"member":{"org":"hosp-a"}}`), []byte(`[`), nil} {
		f.Add(s)
	}
	c := fuzzConsortium(f)
	from, _ := peer.Decode("12D3KooWGY4CQDX1pDQKyi56uVoYH2HqVPRnHiJsNL8gmpRbK6xh")
	f.Fuzz(func(t *testing.T, b []byte) {
		reply, err := c.handleJoin(context.Background(), from, b)
		if err == nil {
			t.Fatalf("join accepted from a non-member: %s", reply)
		}
	})
}

// FuzzGovRequest: arbitrary /cxnet/gov requests to a node that is not the
// leader are refused without a panic.
func FuzzGovRequest(f *testing.F) {
	for _, s := range []string{`{"op":"apply","entry":"AQE="}`, `{"op":"barrier"}`, `{"op":"add_server","peer":"x"}`, `{`, ``} {
		f.Add([]byte(s))
	}
	c := fuzzConsortium(f)
	from, _ := peer.Decode("12D3KooWGY4CQDX1pDQKyi56uVoYH2HqVPRnHiJsNL8gmpRbK6xh")
	f.Fuzz(func(t *testing.T, b []byte) {
		if _, err := c.handleGov(context.Background(), from, b); err == nil {
			t.Fatal("a node without raft served a governance request")
		}
	})
}

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
	"github.com/cxnet/cxnet/protocol/gov"
	"github.com/cxnet/cxnet/protocol/join"
)

// fuzzConsortium is a consortium with a state machine and no network: the
// handlers' decoding and checks run as on a live node without raft.
func fuzzConsortium(tb testing.TB) *consortium {
	_, key, _ := ed25519.GenerateKey(nil)
	cfg := Config{Org: "hosp-a"}
	if err := cfg.Validate(); err != nil {
		tb.Fatal(err)
	}
	c, err := newConsortium(&Home{GovernanceKey: key}, cfg, nil, slog.New(slog.DiscardHandler), func(contracts.Event) {}, func() {})
	if err != nil {
		tb.Fatal(err)
	}
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
	good, _ := json.Marshal(join.Request{Member: m})
	for _, s := range [][]byte{good, []byte(`{}`), []byte(`{"member":{"org":"hosp-a"}}`), []byte(`[`), nil} {
		f.Add(s)
	}
	srv, err := join.NewServer(joinBackend{fuzzConsortium(f)}, join.ServerConfig{Allowed: func(peer.ID) bool { return true }})
	if err != nil {
		f.Fatal(err)
	}
	from, _ := peer.Decode("12D3KooWGY4CQDX1pDQKyi56uVoYH2HqVPRnHiJsNL8gmpRbK6xh")
	f.Fuzz(func(t *testing.T, b []byte) {
		reply, err := srv.Handle(context.Background(), from, b)
		if err == nil {
			t.Fatalf("join accepted from a non-member: %s", reply)
		}
	})
}

// FuzzGovRequest: arbitrary /cxnet/gov requests to a node that is not the
// leader are refused or answered "not the leader", without a panic.
func FuzzGovRequest(f *testing.F) {
	for _, s := range []string{`{"op":"apply","entry":"AQE="}`, `{"op":"barrier"}`, `{"op":"add_server","peer":"12D3KooWGY4CQDX1pDQKyi56uVoYH2HqVPRnHiJsNL8gmpRbK6xh"}`, `{`, ``} {
		f.Add([]byte(s))
	}
	srv, err := gov.NewServer(govBackend{fuzzConsortium(f).raft}, gov.ServerConfig{Allowed: func(peer.ID) bool { return true }})
	if err != nil {
		f.Fatal(err)
	}
	from, _ := peer.Decode("12D3KooWGY4CQDX1pDQKyi56uVoYH2HqVPRnHiJsNL8gmpRbK6xh")
	f.Fuzz(func(t *testing.T, b []byte) {
		out, err := srv.Handle(context.Background(), from, b)
		if err != nil {
			return
		}
		req, _ := gov.DecodeRequest(b)
		if r, derr := gov.DecodeReply(out, req.Op); derr != nil || !r.NotLeader {
			t.Fatalf("a node without raft served a governance request: %s %v", out, derr)
		}
	})
}

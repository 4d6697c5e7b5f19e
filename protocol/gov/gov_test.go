package gov

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/cxnet/cxnet/protocol"
	"github.com/cxnet/cxnet/protocol/protocoltest"
	"github.com/cxnet/cxnet/protocol/rpc"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

const (
	peerA = "12D3KooWQaGJmgg3FL8sLYtGqrGrStgmbC3S5foSGHcsAoJSHKUp"
	peerB = "12D3KooWGY4CQDX1pDQKyi56uVoYH2HqVPRnHiJsNL8gmpRbK6xh"
)

// TestMessagesGolden pins the wire encoding of every request and reply
// and round-trips it through the strict decoders.
func TestMessagesGolden(t *testing.T) {
	event := json.RawMessage(`{"index":7,"type":"contract.proposed","actor":"hosp-a","object":"nps","outcome":"applied"}`)
	tests := []struct {
		file string
		op   Op
		msg  any
	}{
		{"apply.json", OpApply, &Request{Op: OpApply, Entry: []byte(`{"type":"contract.propose"}`)}},
		{"barrier.json", OpBarrier, &Request{Op: OpBarrier}},
		{"add_server.json", OpAddServer, &Request{Op: OpAddServer, Peer: peerB}},
		{"reply-apply.json", OpApply, &Reply{Event: event}},
		{"reply-rejected.json", OpApply, &Reply{Event: event, Rejected: "hosp-a already approved nps v1"}},
		{"reply-barrier.json", OpBarrier, &Reply{Index: 42}},
		{"reply-add_server.json", OpAddServer, &Reply{}},
		{"reply-not-leader.json", OpApply, &Reply{NotLeader: true, Leader: peerA}},
		{"reply-no-leader.json", OpBarrier, &Reply{NotLeader: true}},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			got, err := json.Marshal(tc.msg)
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("testdata", tc.file)
			if *update {
				if err := os.WriteFile(path, append(got, '\n'), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -update to write it)", err)
			}
			want = bytes.TrimSuffix(want, []byte("\n"))
			if !bytes.Equal(got, want) {
				t.Fatalf("encoding changed (a change old nodes cannot read needs a new protocol ID):\ngot  %s\nwant %s", got, want)
			}
			var back any
			if _, ok := tc.msg.(*Request); ok {
				back, err = DecodeRequest(want)
			} else {
				back, err = DecodeReply(want, tc.op)
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(back, tc.msg) {
				t.Fatalf("round trip: got %+v, want %+v", back, tc.msg)
			}
		})
	}
}

// TestDecodeRequest: what the server hands its backend is a well-formed
// request of a known operation; everything else is refused saying why.
func TestDecodeRequest(t *testing.T) {
	tests := []struct {
		name, in, err string
	}{
		{"apply", `{"op":"apply","entry":"AQ=="}`, ""},
		{"barrier", `{"op":"barrier"}`, ""},
		{"add server", `{"op":"add_server","peer":"` + peerB + `"}`, ""},
		{"not json", `{`, "unexpected EOF"},
		{"empty", ``, "EOF"},
		{"null", `null`, `unknown operation ""`},
		{"unknown operation", `{"op":"remove_server","peer":"` + peerB + `"}`, `unknown operation "remove_server"`},
		{"version 1's error-text era op", `{"op":"Apply","entry":"AQ=="}`, `unknown operation "Apply"`},
		{"unknown field", `{"op":"barrier","leader":"x"}`, "unknown field"},
		{"data after it", `{"op":"barrier"}{"op":"barrier"}`, "data after the message"},
		{"apply without an entry", `{"op":"apply"}`, "carries an entry and nothing else"},
		{"apply with a peer", `{"op":"apply","entry":"AQ==","peer":"` + peerB + `"}`, "carries an entry and nothing else"},
		{"barrier with an entry", `{"op":"barrier","entry":"AQ=="}`, "carries nothing"},
		{"add server without a peer", `{"op":"add_server"}`, "not a peer id"},
		{"add server of a non-peer", `{"op":"add_server","peer":"hosp-b"}`, `names peer "hosp-b", not a peer id`},
		{"add server with an entry", `{"op":"add_server","peer":"` + peerB + `","entry":"AQ=="}`, "carries a peer id and nothing else"},
		{"entry not base64", `{"op":"apply","entry":"!"}`, "illegal base64"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeRequest([]byte(tc.in))
			if tc.err == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, ErrBadRequest) || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("got %v, want ErrBadRequest containing %q", err, tc.err)
			}
		})
	}
}

// TestDecodeReply: a reply that does not answer its request is refused,
// so a confused or lying leader is not taken at its word.
func TestDecodeReply(t *testing.T) {
	tests := []struct {
		name string
		op   Op
		in   string
		err  string
	}{
		{"applied", OpApply, `{"event":{"index":3}}`, ""},
		{"rejected", OpApply, `{"event":{"index":3},"rejected":"no"}`, ""},
		{"read index", OpBarrier, `{"index":9}`, ""},
		{"added", OpAddServer, `{}`, ""},
		{"not the leader, naming it", OpApply, `{"not_leader":true,"leader":"` + peerA + `"}`, ""},
		{"not the leader, knowing none", OpAddServer, `{"not_leader":true}`, ""},
		{"apply without an event", OpApply, `{}`, "want the state machine's event"},
		{"barrier without an index", OpBarrier, `{}`, "want a read index"},
		{"barrier with an event", OpBarrier, `{"index":9,"event":{}}`, "want a read index"},
		{"add server with an index", OpAddServer, `{"index":9}`, "want an empty reply"},
		{"not the leader, with an event", OpApply, `{"not_leader":true,"event":{}}`, "carries more than the leader"},
		{"a leader that is no peer id", OpApply, `{"not_leader":true,"leader":"hosp-a"}`, `leader "hosp-a" is not a peer id`},
		{"a leader without not_leader", OpBarrier, `{"index":9,"leader":"` + peerA + `"}`, "names a leader without"},
		{"version 1's reply shape", OpApply, `{"event":{"index":3},"ok":true}`, "unknown field"},
		{"not json", OpApply, `stored`, "invalid character"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeReply([]byte(tc.in), tc.op)
			if tc.err == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, ErrBadReply) || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("got %v, want ErrBadReply containing %q", err, tc.err)
			}
		})
	}
}

// fakeBackend answers as a leader, or as a follower when notLeader is set.
type fakeBackend struct {
	mu        sync.Mutex
	notLeader *NotLeaderError
	rejected  string
	err       error
	got       []string
}

func (b *fakeBackend) answer(what string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.got = append(b.got, what)
	if b.notLeader != nil {
		return b.notLeader
	}
	return b.err
}

func (b *fakeBackend) Apply(_ context.Context, _ peer.ID, entry []byte) (Applied, error) {
	if err := b.answer("apply " + string(entry)); err != nil {
		return Applied{}, err
	}
	return Applied{Event: json.RawMessage(`{"index":5}`), Rejected: b.rejected}, nil
}

func (b *fakeBackend) Barrier(context.Context, peer.ID) (uint64, error) {
	return 11, b.answer("barrier")
}

func (b *fakeBackend) AddServer(_ context.Context, _, p peer.ID) error {
	return b.answer("add " + p.String())
}

func (b *fakeBackend) take() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := b.got
	b.got = nil
	return out
}

// TestClientServer: over real loopback hosts, each operation reaches the
// backend and its answer comes back typed: a follower's not-leader
// answer as a *NotLeaderError naming the leader, a state machine's
// refusal as Applied.Rejected, a backend error as an *rpc.RemoteError; a
// peer outside raft never reaches the backend; a dead leader is an
// *UnreachableError.
func TestClientServer(t *testing.T) {
	set := protocol.NewPeerSet()
	leader, member, outsider := protocoltest.NewHost(t, set), protocoltest.NewHost(t, set), protocoltest.NewHost(t, set)
	set.Add(leader.ID(), member.ID(), outsider.ID())
	for _, h := range []*protocol.Host{member, outsider} {
		h.AddPeer(peer.AddrInfo{ID: leader.ID(), Addrs: leader.Raw().Addrs()})
	}
	b := &fakeBackend{}
	srv, err := NewServer(b, ServerConfig{Allowed: func(p peer.ID) bool { return p == member.ID() }, Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	rs := srv.Serve(leader.Raw())
	t.Cleanup(func() { _ = rs.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl := NewClient(member.Raw(), rpc.Limits{})

	a, err := cl.Apply(ctx, leader.ID(), []byte("e1"))
	if err != nil || string(a.Event) != `{"index":5}` || a.Rejected != "" {
		t.Fatalf("apply: %+v %v", a, err)
	}
	b.rejected = "hosp-a already approved"
	if a, err = cl.Apply(ctx, leader.ID(), []byte("e2")); err != nil || a.Rejected != "hosp-a already approved" {
		t.Fatalf("a refused entry: %+v %v", a, err)
	}
	if idx, err := cl.Barrier(ctx, leader.ID()); err != nil || idx != 11 {
		t.Fatalf("barrier: %d %v", idx, err)
	}
	if err := cl.AddServer(ctx, leader.ID(), outsider.ID()); err != nil {
		t.Fatal(err)
	}
	if got, want := b.take(), []string{"apply e1", "apply e2", "barrier", "add " + outsider.ID().String()}; !reflect.DeepEqual(got, want) {
		t.Fatalf("the backend saw %v, want %v", got, want)
	}

	// A follower names the leader it knows; the caller goes there.
	b.notLeader = &NotLeaderError{Leader: member.ID()}
	var nl *NotLeaderError
	if _, err := cl.Barrier(ctx, leader.ID()); !errors.As(err, &nl) || nl.Leader != member.ID() || nl.Peer != leader.ID() {
		t.Fatalf("not the leader: %v", err)
	}
	b.notLeader = &NotLeaderError{}
	if _, err := cl.Apply(ctx, leader.ID(), []byte("e3")); !errors.As(err, &nl) || nl.Leader != "" {
		t.Fatalf("no leader known: %v", err)
	}
	b.notLeader = nil
	b.err = errors.New("peer is not an admitted member")
	var re *rpc.RemoteError
	if err := cl.AddServer(ctx, leader.ID(), outsider.ID()); !errors.As(err, &re) || !strings.Contains(err.Error(), "not an admitted member") {
		t.Fatalf("a refusal: %v", err)
	}
	b.take()

	if _, err := NewClient(outsider.Raw(), rpc.Limits{}).Apply(ctx, leader.ID(), []byte("e4")); !errors.As(err, &re) || !strings.Contains(err.Error(), "is not a server of this consortium's raft") {
		t.Fatalf("an outsider: %v", err)
	}
	if got := b.take(); len(got) > 0 {
		t.Fatalf("an outsider's request reached the backend: %v", got)
	}

	_ = rs.Close()
	var un *UnreachableError
	if _, err := cl.Barrier(ctx, leader.ID()); !errors.As(err, &un) || un.Peer != leader.ID() {
		t.Fatalf("a leader that stopped serving: %v", err)
	}
	if err := cl.AddServer(ctx, leader.ID(), "not-a-peer"); !errors.Is(err, ErrBadRequest) {
		t.Fatalf("a malformed request was sent: %v", err)
	}
}

// TestServerRefusesBackendBug: an answer that does not fit its request
// is not sent as if it were one.
func TestServerRefusesBackendBug(t *testing.T) {
	s, err := NewServer(bugBackend{}, ServerConfig{Allowed: func(peer.ID) bool { return true }})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Handle(context.Background(), "", []byte(`{"op":"barrier"}`)); !errors.Is(err, ErrBadReply) {
		t.Fatalf("a read index of 0 was sent: %v", err)
	}
}

type bugBackend struct{}

func (bugBackend) Apply(context.Context, peer.ID, []byte) (Applied, error) { return Applied{}, nil }
func (bugBackend) Barrier(context.Context, peer.ID) (uint64, error)        { return 0, nil }
func (bugBackend) AddServer(context.Context, peer.ID, peer.ID) error       { return nil }

func TestNewServerConfig(t *testing.T) {
	allowed := func(peer.ID) bool { return true }
	for _, tc := range []struct {
		name string
		b    Backend
		cfg  ServerConfig
		want string
	}{
		{"valid", &fakeBackend{}, ServerConfig{Allowed: allowed}, ""},
		{"no backend", nil, ServerConfig{Allowed: allowed}, "Backend is required"},
		{"no Allowed", &fakeBackend{}, ServerConfig{}, "Allowed is required"},
		{"negative timeout", &fakeBackend{}, ServerConfig{Allowed: allowed, Timeout: -1}, "Timeout is -1ns"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewServer(tc.b, tc.cfg)
			if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
}

// FuzzDecodeRequest: whatever a peer sends, the server answers without a
// panic, and what it hands the backend passes Check.
func FuzzDecodeRequest(f *testing.F) {
	for _, s := range []string{`{"op":"apply","entry":"AQE="}`, `{"op":"barrier"}`, `{"op":"add_server","peer":"` + peerB + `"}`, `{`, ``, `null`} {
		f.Add([]byte(s))
	}
	s, err := NewServer(&fakeBackend{}, ServerConfig{Allowed: func(peer.ID) bool { return true }})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		req, err := DecodeRequest(b)
		if err != nil {
			if _, herr := s.Handle(context.Background(), "", b); herr == nil {
				t.Fatalf("the server answered a request the decoder refuses: %v", err)
			}
			return
		}
		if err := req.Check(); err != nil {
			t.Fatalf("DecodeRequest accepted a request Check refuses: %v", err)
		}
		out, err := s.Handle(context.Background(), "", b)
		if err != nil {
			t.Fatalf("a decoded request was not served: %v", err)
		}
		if _, err := DecodeReply(out, req.Op); err != nil {
			t.Fatalf("the server's reply does not decode: %v", err)
		}
	})
}

// FuzzDecodeReply: whatever a leader answers, decoding does not panic,
// and what it accepts passes Check.
func FuzzDecodeReply(f *testing.F) {
	for _, s := range []string{`{"event":{"index":3}}`, `{"index":9}`, `{}`, `{"not_leader":true,"leader":"` + peerA + `"}`, `{`} {
		for _, op := range Ops {
			f.Add([]byte(s), string(op))
		}
	}
	f.Fuzz(func(t *testing.T, b []byte, op string) {
		r, err := DecodeReply(b, Op(op))
		if err != nil {
			return
		}
		if err := r.Check(Op(op)); err != nil {
			t.Fatalf("DecodeReply accepted a reply Check refuses: %v", err)
		}
	})
}

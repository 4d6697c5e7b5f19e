package join

import (
	"bytes"
	"context"
	"crypto/ed25519"
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

	"github.com/cxnet/cxnet/kpi"
	"github.com/cxnet/cxnet/protocol"
	"github.com/cxnet/cxnet/protocol/protocoltest"
	"github.com/cxnet/cxnet/protocol/rpc"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

const (
	peerA = "12D3KooWQaGJmgg3FL8sLYtGqrGrStgmbC3S5foSGHcsAoJSHKUp"
	peerB = "12D3KooWGY4CQDX1pDQKyi56uVoYH2HqVPRnHiJsNL8gmpRbK6xh"
)

// member is a descriptor of org on peer p, signed by a key drawn from
// seed (fixed: the goldens do not change).
func member(org, p string, seed byte) kpi.Member {
	key := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{seed}, ed25519.SeedSize))
	m := kpi.Member{Org: kpi.OrgID(org), Name: org, Kind: "hospital", PeerID: p, Addrs: []string{"/ip4/127.0.0.1/tcp/7001/p2p/" + p}}
	m.Sign(key)
	return m
}

// TestMessagesGolden pins the wire encoding of the request and the reply
// and round-trips them through the strict decoders.
func TestMessagesGolden(t *testing.T) {
	req := &Request{Member: member("hosp-b", peerB, 2), Add: true}
	reply := &Reply{Consortium: "diabetes", Members: []kpi.Member{member("hosp-a", peerA, 1), member("hosp-b", peerB, 2)}, Leader: peerA}
	for _, tc := range []struct {
		file   string
		msg    any
		decode func([]byte) (any, error)
	}{
		{"request.json", req, func(b []byte) (any, error) { return DecodeRequest(b, mustDecode(t, peerB)) }},
		{"reply.json", reply, func(b []byte) (any, error) { return DecodeReply(b) }},
	} {
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
			back, err := tc.decode(want)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(back, tc.msg) {
				t.Fatalf("round trip: got %+v, want %+v", back, tc.msg)
			}
		})
	}
}

func mustDecode(t testing.TB, s string) peer.ID {
	p, err := peer.Decode(s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestDecodeRequest: only a descriptor signed by its own key and naming
// the sender reaches the backend.
func TestDecodeRequest(t *testing.T) {
	from := mustDecode(t, peerB)
	enc := func(r any) string { b, _ := json.Marshal(r); return string(b) }
	good := member("hosp-b", peerB, 2)
	edited := good
	edited.Name = "St. Elsewhere"
	otherKey := good
	otherKey.GovernanceKey = member("hosp-b", peerB, 3).GovernanceKey
	tests := []struct {
		name, in, err string
	}{
		{"a signed descriptor of the sender", enc(Request{Member: good}), ""},
		{"asking to be added", enc(Request{Member: good, Add: true}), ""},
		{"a descriptor of another peer", enc(Request{Member: member("hosp-a", peerA, 1)}), "names peer " + peerA + " but the request comes from " + peerB},
		{"a descriptor edited after signing", enc(Request{Member: edited}), "signature does not verify"},
		{"another governance key", enc(Request{Member: otherKey}), "signature does not verify"},
		{"no descriptor", `{"add":true}`, "governance_key is not a base64 Ed25519 public key"},
		{"null", `null`, "governance_key"},
		{"not json", `{`, "unexpected EOF"},
		{"unknown field", `{"member":{},"leader":"x"}`, "unknown field"},
		{"data after it", enc(Request{Member: good}) + `{}`, "data after the message"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeRequest([]byte(tc.in), from)
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

func TestDecodeReply(t *testing.T) {
	enc := func(r any) string { b, _ := json.Marshal(r); return string(b) }
	forged := member("hosp-a", peerA, 1)
	forged.PeerID = peerB
	tests := []struct {
		name, in, err string
	}{
		{"a reply", enc(Reply{Consortium: "c", Members: []kpi.Member{member("hosp-a", peerA, 1)}, Leader: peerA}), ""},
		{"no leader yet", `{"consortium":"c","members":[],"leader":""}`, ""},
		{"no consortium", `{"members":[],"leader":""}`, "names no consortium"},
		{"a leader that is no peer id", `{"consortium":"c","leader":"hosp-a"}`, `leader "hosp-a" is not a peer id`},
		{"a forged member", enc(Reply{Consortium: "c", Members: []kpi.Member{forged}}), "member hosp-a"},
		{"unknown field", `{"consortium":"c","psk":"00"}`, "unknown field"},
		{"not json", `ok`, "invalid character"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeReply([]byte(tc.in))
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

// fakeBackend admits the descriptors in admitted and records requests.
type fakeBackend struct {
	mu       sync.Mutex
	admitted map[string]bool // peer ids
	got      []Request
}

func (b *fakeBackend) Join(_ context.Context, from peer.ID, req *Request) (*Reply, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.got = append(b.got, *req)
	if !b.admitted[from.String()] {
		return nil, errors.New("organisation " + string(req.Member.Org) + " is not an admitted member of this consortium")
	}
	return &Reply{Consortium: "diabetes", Members: []kpi.Member{req.Member}, Leader: from.String()}, nil
}

func (b *fakeBackend) take() []Request {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := b.got
	b.got = nil
	return out
}

// TestClientServer: over real loopback hosts, an admitted member's node
// gets the reply; a refusal by the backend comes back saying why; a peer
// the allow-list refuses never reaches the backend; the client does not
// send a descriptor of another peer.
func TestClientServer(t *testing.T) {
	set := protocol.NewPeerSet()
	srvHost, joiner, pending, outsider := protocoltest.NewHost(t, set), protocoltest.NewHost(t, set), protocoltest.NewHost(t, set), protocoltest.NewHost(t, set)
	set.Add(srvHost.ID(), joiner.ID(), pending.ID(), outsider.ID())
	for _, h := range []*protocol.Host{joiner, pending, outsider} {
		h.AddPeer(peer.AddrInfo{ID: srvHost.ID(), Addrs: srvHost.Raw().Addrs()})
	}
	b := &fakeBackend{admitted: map[string]bool{joiner.ID().String(): true}}
	srv, err := NewServer(b, ServerConfig{Allowed: func(p peer.ID) bool { return p != outsider.ID() }, Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	rs := srv.Serve(srvHost.Raw())
	t.Cleanup(func() { _ = rs.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	m := member("hosp-b", joiner.ID().String(), 2)
	reply, err := NewClient(joiner.Raw(), rpc.Limits{}).Join(ctx, srvHost.ID(), Request{Member: m, Add: true})
	if err != nil || reply.Consortium != "diabetes" || reply.Leader != joiner.ID().String() || len(reply.Members) != 1 {
		t.Fatalf("join: %+v %v", reply, err)
	}
	if got := b.take(); len(got) != 1 || !got[0].Add || got[0].Member.Org != "hosp-b" {
		t.Fatalf("the backend got %+v", got)
	}

	var re *rpc.RemoteError
	pm := member("pharm-y", pending.ID().String(), 4)
	if _, err := NewClient(pending.Raw(), rpc.Limits{}).Join(ctx, srvHost.ID(), Request{Member: pm}); !errors.As(err, &re) || !strings.Contains(err.Error(), "pharm-y is not an admitted member") {
		t.Fatalf("a member not admitted: %v", err)
	}
	b.take()

	om := member("evil", outsider.ID().String(), 5)
	if _, err := NewClient(outsider.Raw(), rpc.Limits{}).Join(ctx, srvHost.ID(), Request{Member: om}); !errors.As(err, &re) || !strings.Contains(err.Error(), "permission denied") {
		t.Fatalf("an outsider: %v", err)
	}
	if got := b.take(); len(got) > 0 {
		t.Fatalf("an outsider's request reached the backend: %+v", got)
	}

	// The pending member presents the admitted member's descriptor: the
	// client does not send it, and the server would refuse it unread by
	// the backend.
	if _, err := NewClient(pending.Raw(), rpc.Limits{}).Join(ctx, srvHost.ID(), Request{Member: m}); !errors.Is(err, ErrBadRequest) {
		t.Fatalf("a stolen descriptor was sent: %v", err)
	}
	body, _ := json.Marshal(Request{Member: m})
	if _, err := srv.Handle(ctx, pending.ID(), body); !errors.Is(err, ErrBadRequest) {
		t.Fatalf("a stolen descriptor was served: %v", err)
	}
	if got := b.take(); len(got) > 0 {
		t.Fatalf("a stolen descriptor reached the backend: %+v", got)
	}
}

// FuzzDecodeRequest: whatever a peer sends, the server answers without a
// panic; nobody but the admitted peer gets a reply, and what reaches the
// backend passes Check.
func FuzzDecodeRequest(f *testing.F) {
	good, _ := json.Marshal(Request{Member: member("hosp-b", peerB, 2)})
	for _, s := range [][]byte{good, []byte(`{}`), []byte(`{"member":{"org":"hosp-a"}}`), []byte(`[`), nil} {
		f.Add(s, true)
		f.Add(s, false)
	}
	from := mustDecode(f, peerB)
	f.Fuzz(func(t *testing.T, b []byte, admitted bool) {
		be := &fakeBackend{admitted: map[string]bool{peerB: admitted}}
		srv, err := NewServer(be, ServerConfig{Allowed: func(peer.ID) bool { return true }})
		if err != nil {
			t.Fatal(err)
		}
		out, err := srv.Handle(context.Background(), from, b)
		for _, r := range be.take() {
			if err := r.Check(from); err != nil {
				t.Fatalf("a request that fails Check reached the backend: %v", err)
			}
		}
		if err == nil && !admitted {
			t.Fatalf("joined without being admitted: %s", out)
		}
		if err == nil {
			if _, err := DecodeReply(out); err != nil {
				t.Fatalf("the server's reply does not decode: %v", err)
			}
		}
	})
}

// FuzzDecodeReply: whatever a member's node answers, decoding does not
// panic, and what it accepts passes Check.
func FuzzDecodeReply(f *testing.F) {
	good, _ := json.Marshal(Reply{Consortium: "c", Members: []kpi.Member{member("hosp-a", peerA, 1)}, Leader: peerA})
	for _, s := range [][]byte{good, []byte(`{"consortium":"c"}`), []byte(`{`), nil} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := DecodeReply(b)
		if err != nil {
			return
		}
		if err := r.Check(); err != nil {
			t.Fatalf("DecodeReply accepted a reply Check refuses: %v", err)
		}
	})
}

package keys

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/cxnet/cxnet/protocol"
	"github.com/cxnet/cxnet/protocol/protocoltest"
	"github.com/cxnet/cxnet/protocol/rpc"
)

// testShareSize is the share size of the tests' servers: small, so that
// sizes around the limit are cheap to build.
const testShareSize = 1 << 10

// fakeBackend records the deals it gets and answers with err.
type fakeBackend struct {
	mu    sync.Mutex
	err   error
	deals []received
}

type received struct {
	from peer.ID
	deal Deal
}

func (b *fakeBackend) AcceptDeal(_ context.Context, from peer.ID, d Deal) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.deals = append(b.deals, received{from, d})
	return b.err
}

// take returns the deals received so far and forgets them.
func (b *fakeBackend) take() []received {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := b.deals
	b.deals = nil
	return out
}

// world is a receiving member's host serving /cxnet/keys, another member
// and an outsider. All three admit each other at the libp2p level, so
// only the server's Admitted tells the member from the outsider.
type world struct {
	server, member, outsider *protocol.Host
	backend                  *fakeBackend
}

func newWorld(t *testing.T) *world {
	t.Helper()
	set := protocol.NewPeerSet()
	w := &world{server: protocoltest.NewHost(t, set), member: protocoltest.NewHost(t, set),
		outsider: protocoltest.NewHost(t, set), backend: &fakeBackend{}}
	set.Add(w.server.ID(), w.member.ID(), w.outsider.ID())
	for _, c := range []*protocol.Host{w.member, w.outsider} {
		c.AddPeer(peer.AddrInfo{ID: w.server.ID(), Addrs: w.server.Raw().Addrs()})
	}
	srv, err := NewServer(w.backend, ServerConfig{
		Admitted:     func(p peer.ID) bool { return p == w.server.ID() || p == w.member.ID() },
		MaxShareSize: testShareSize,
		Timeout:      time.Minute, // far longer than any test waits: a server that waits to read shows as a timeout
	})
	if err != nil {
		t.Fatal(err)
	}
	rs := srv.Serve(w.server.Raw())
	t.Cleanup(func() { _ = rs.Close() })
	return w
}

func (w *world) client(t *testing.T, from *protocol.Host, maxShare int) *Client {
	t.Helper()
	c, err := NewClient(from.Raw(), ClientConfig{MaxShareSize: maxShare})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// rawRequest opens a /cxnet/keys stream from from, writes send as is
// without closing its side, and returns the server's reply. The stream
// stays open, so a server that waited for bytes it was promised (or for
// any byte at all) would time out instead of answering.
func rawRequest(t *testing.T, from, to *protocol.Host, send []byte) ([]byte, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := from.Raw().NewStream(ctx, to.ID(), ID)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Reset()
	_ = s.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := s.Write(send); err != nil {
		t.Fatal(err)
	}
	payload, err := rpc.ReadMsg(s, 0)
	if err != nil {
		t.Fatalf("no reply while the stream stays open: %v (did the server wait to read the request?)", err)
	}
	switch {
	case len(payload) == 0:
		t.Fatal("empty reply frame")
	case payload[0] == 1:
		return nil, errors.New(string(payload[1:]))
	}
	return payload[1:], nil
}

// header is a frame's length prefix announcing n bytes.
func header(n uint32) []byte { return binary.BigEndian.AppendUint32(nil, n) }

func frame(body []byte) []byte { return append(header(uint32(len(body))), body...) }

func TestServer(t *testing.T) {
	w := newWorld(t)
	share := bytes.Repeat([]byte{7}, testShareSize)
	refusal := errors.New("hosp-b dealt a different share for key epoch 4 before")
	tests := []struct {
		name string
		// One of: a client deal (from, clientMax, deal) or a raw request.
		from      *protocol.Host
		clientMax int
		deal      Deal
		raw       []byte
		backend   error
		wantErr   string // "" = success
		reachesBE bool
	}{
		{name: "a member's deal reaches the backend", from: w.member, clientMax: testShareSize,
			deal: Deal{Epoch: 4, Share: share}, reachesBE: true},
		{name: "a backend refusal comes back to the dealer", from: w.member, clientMax: testShareSize,
			deal: Deal{Epoch: 4, Share: share}, backend: refusal, wantErr: refusal.Error(), reachesBE: true},
		{name: "an outsider is refused before the backend", from: w.outsider, clientMax: testShareSize,
			deal: Deal{Epoch: 4, Share: share}, wantErr: "permission denied: " + w.outsider.ID().String() + " is not an admitted member"},
		{name: "a dealer with a larger limit is refused unread", from: w.member, clientMax: 4 * testShareSize,
			deal: Deal{Epoch: 4, Share: bytes.Repeat([]byte{7}, testShareSize+64)}, wantErr: "request too large"},
		{name: "an outsider sending nothing is refused without waiting for a byte", from: w.outsider,
			raw: []byte{}, wantErr: "permission denied"},
		{name: "an outsider announcing a deal is refused without its body being awaited", from: w.outsider,
			raw: header(uint32(MaxDealSize(testShareSize))), wantErr: "permission denied"},
		{name: "a member announcing one byte over the largest deal is refused unread", from: w.member,
			raw: header(uint32(MaxDealSize(testShareSize) + 1)), wantErr: "request too large"},
		{name: "a member announcing 4 GiB is refused unread", from: w.member,
			raw: header(0xffffffff), wantErr: "request too large"},
		{name: "a malformed deal never reaches the backend", from: w.member,
			raw: frame([]byte(`{"epoch":4,"share":"AQ==","extra":1}`)), wantErr: "keys: malformed message"},
		{name: "an empty share never reaches the backend", from: w.member,
			raw: frame([]byte(`{"epoch":4,"share":""}`)), wantErr: "share of 0 bytes"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w.backend.take() // what an earlier, failed case left
			w.backend.err = tc.backend
			var (
				err   error
				reply []byte
			)
			if tc.raw != nil {
				reply, err = rawRequest(t, tc.from, w.server, tc.raw)
			} else {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				err = w.client(t, tc.from, tc.clientMax).Deal(ctx, w.server.ID(), tc.deal)
			}
			if tc.wantErr == "" && err != nil {
				t.Fatalf("deal failed: %v", err)
			}
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got %v (reply %q), want an error containing %q", err, reply, tc.wantErr)
				}
				if re := (*rpc.RemoteError)(nil); tc.raw == nil && !errors.As(err, &re) {
					t.Fatalf("the receiver's refusal is not an *rpc.RemoteError: %v", err)
				}
			}
			got := w.backend.take()
			switch {
			case !tc.reachesBE && len(got) > 0:
				t.Fatalf("the backend got %d deals, want none", len(got))
			case tc.reachesBE && (len(got) != 1 || got[0].from != tc.from.ID() || got[0].deal.Epoch != tc.deal.Epoch || !bytes.Equal(got[0].deal.Share, tc.deal.Share)):
				t.Fatalf("the backend got %+v, want one deal of epoch %d from %s", got, tc.deal.Epoch, tc.from.ID())
			}
		})
	}
}

// TestClientChecksAck: a receiver that acknowledges anything but the
// deal it was sent (another epoch, not an Ack) does not count as having
// stored the share.
func TestClientChecksAck(t *testing.T) {
	set := protocol.NewPeerSet()
	dealer, receiver := protocoltest.NewHost(t, set), protocoltest.NewHost(t, set)
	set.Add(dealer.ID(), receiver.ID())
	dealer.AddPeer(peer.AddrInfo{ID: receiver.ID(), Addrs: receiver.Raw().Addrs()})
	var reply []byte
	var mu sync.Mutex
	srv := rpc.ServeWith(receiver.Raw(), ID, func(context.Context, peer.ID, []byte) ([]byte, error) {
		mu.Lock()
		defer mu.Unlock()
		return reply, nil
	}, rpc.ServerOptions{Authorize: func(peer.ID) (int, error) { return MaxDealSize(testShareSize), nil }})
	t.Cleanup(func() { _ = srv.Close() })
	c, err := NewClient(dealer.Raw(), ClientConfig{MaxShareSize: testShareSize})
	if err != nil {
		t.Fatal(err)
	}
	ack := func(e uint64) []byte { b, _ := json.Marshal(Ack{Epoch: e}); return b }
	tests := []struct {
		name  string
		reply []byte
		want  string
	}{
		{"the deal's epoch", ack(5), ""},
		{"another epoch", ack(6), "acknowledged key epoch 6"},
		{"the old protocol's reply", []byte(`{"ok":true}`), "unknown field"},
		{"nothing", nil, "malformed message"},
		{"not json", []byte("stored"), "malformed message"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			mu.Lock()
			reply = tc.reply
			mu.Unlock()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			err := c.Deal(ctx, receiver.ID(), Deal{Epoch: 5, Share: []byte{1}})
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

// TestClientRefusesBadDeal: a deal the receiver would refuse is not sent.
func TestClientRefusesBadDeal(t *testing.T) {
	set := protocol.NewPeerSet()
	h := protocoltest.NewHost(t, set)
	c, err := NewClient(h.Raw(), ClientConfig{MaxShareSize: 4})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		deal Deal
		want error
	}{
		{"epoch 0", Deal{Share: []byte{1}}, ErrMalformed},
		{"no share", Deal{Epoch: 1}, ErrShareSize},
		{"share over the limit", Deal{Epoch: 1, Share: make([]byte, 5)}, ErrShareSize},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// The peer does not exist: an attempt to send would fail otherwise.
			err := c.Deal(context.Background(), "nobody", tc.deal)
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	admitted := func(peer.ID) bool { return true }
	h := protocoltest.NewHost(t, protocol.NewPeerSet()).Raw()
	for _, tc := range []struct {
		name    string
		backend Backend
		cfg     ServerConfig
		want    string
	}{
		{"valid", &fakeBackend{}, ServerConfig{Admitted: admitted, MaxShareSize: 1}, ""},
		{"no backend", nil, ServerConfig{Admitted: admitted, MaxShareSize: 1}, "Backend is required"},
		{"no Admitted", &fakeBackend{}, ServerConfig{MaxShareSize: 1}, "Admitted is required"},
		{"no share size", &fakeBackend{}, ServerConfig{Admitted: admitted}, "MaxShareSize is 0"},
		{"negative timeout", &fakeBackend{}, ServerConfig{Admitted: admitted, MaxShareSize: 1, Timeout: -1}, "Timeout is -1ns"},
	} {
		t.Run("server/"+tc.name, func(t *testing.T) {
			s, err := NewServer(tc.backend, tc.cfg)
			if tc.want == "" {
				if err != nil || s.cfg.Timeout != rpc.DefaultTimeout || s.cfg.Log == nil {
					t.Fatalf("got %+v, %v; want defaults filled in", s, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
	for _, tc := range []struct {
		name string
		cfg  ClientConfig
		want string
	}{
		{"valid", ClientConfig{MaxShareSize: 1}, ""},
		{"no share size", ClientConfig{}, "MaxShareSize is 0"},
		{"negative timeout", ClientConfig{MaxShareSize: 1, Timeout: -time.Second}, "Timeout is -1s"},
	} {
		t.Run("client/"+tc.name, func(t *testing.T) {
			_, err := NewClient(h, tc.cfg)
			if (tc.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.want)) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
}

// FuzzServerHandle feeds arbitrary requests of up to the frame limit to
// the server's decoding: it never panics, hands the backend only deals of
// the right shape (and nothing when it refuses), and acknowledges exactly
// the epoch it handed over.
func FuzzServerHandle(f *testing.F) {
	const max = 16
	good, _ := json.Marshal(Deal{Epoch: 1, Share: bytes.Repeat([]byte{9}, max)})
	for _, s := range []string{string(good), `{"epoch":1,"share":"AQ=="}`, `{"epoch":0,"share":"AQ=="}`,
		`{"epoch":1}`, `{"epoch":1,"share":"AQ=="}x`, `{"Epoch":1,"SHARE":"AQ=="}`, `[`, `null`, ``} {
		f.Add([]byte(s))
	}
	b := &fakeBackend{}
	s, err := NewServer(b, ServerConfig{Admitted: func(peer.ID) bool { return true }, MaxShareSize: max})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, req []byte) {
		if len(req) > MaxDealSize(max) {
			return // rpc refuses the frame before the handler runs
		}
		reply, err := s.handle(context.Background(), "dealer", req)
		got := b.take()
		if err != nil {
			if len(got) > 0 {
				t.Fatalf("refused %q (%v) but the backend got %+v", req, err, got)
			}
			return
		}
		if len(got) != 1 {
			t.Fatalf("accepted %q but the backend got %d deals", req, len(got))
		}
		d := got[0].deal
		if d.Epoch == 0 || len(d.Share) == 0 || len(d.Share) > max {
			t.Fatalf("handed the backend a malformed deal %+v from %q", d, req)
		}
		var ack Ack
		if err := decodeStrict(reply, &ack); err != nil || ack.Epoch != d.Epoch {
			t.Fatalf("reply %q (%v) does not acknowledge epoch %d", reply, err, d.Epoch)
		}
		again, err := decodeDeal(mustJSON(t, d), max)
		if err != nil || again.Epoch != d.Epoch || !bytes.Equal(again.Share, d.Share) {
			t.Fatalf("the accepted deal does not round-trip: %+v, %v", again, err)
		}
	})
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

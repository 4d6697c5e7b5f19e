package protocol

import (
	"context"
	"crypto/rand"
	"io"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/metrics"
	"github.com/libp2p/go-libp2p/core/network"
	p2pproto "github.com/libp2p/go-libp2p/core/protocol"
)

// TestBandwidthCountsStreamBytes: two hosts exchange one stream, 100,000
// bytes one way and 30,000 back. Each host's counter shows them under the
// stream's protocol id, sent on one side and received on the other, to
// within the few bytes of protocol negotiation; another protocol's counter
// shows nothing of them.
func TestBandwidthCountsStreamBytes(t *testing.T) {
	const (
		proto     p2pproto.ID = "/cxnet/test-bytes/1.0.0"
		request               = 100_000
		reply                 = 30_000
		overhead              = 256 // multistream-select headers, at most
		settleFor             = 5 * time.Second
	)
	a, bwA := newCountingHost(t, "a")
	b, bwB := newCountingHost(t, "b")
	a.set.Add(b.ID())
	b.set.Add(a.ID())

	served := make(chan error, 1)
	b.Raw().SetStreamHandler(proto, func(s network.Stream) {
		defer s.Close()
		n, err := io.Copy(io.Discard, s)
		if err == nil && n != request {
			err = io.ErrUnexpectedEOF
		}
		if err == nil {
			_, err = s.Write(make([]byte, reply))
		}
		served <- err
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.Connect(ctx, b.info()); err != nil {
		t.Fatal(err)
	}
	s, err := a.Raw().NewStream(ctx, b.ID(), proto)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Write(make([]byte, request)); err != nil {
		t.Fatal(err)
	}
	if err := s.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(s)
	if err != nil || len(got) != reply {
		t.Fatalf("reply: %d bytes, %v; want %d", len(got), err, reply)
	}
	s.Close()
	if err := <-served; err != nil {
		t.Fatalf("b's handler: %v", err)
	}

	// The meters' totals advance on libp2p's 1 s sweep.
	tests := []struct {
		name    string
		bw      *metrics.BandwidthCounter
		out, in int64
	}{
		{"a, the dialer", bwA, request, reply},
		{"b, the listener", bwB, reply, request},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var st metrics.Stats
			for deadline := time.Now().Add(settleFor); ; time.Sleep(50 * time.Millisecond) {
				st = tc.bw.GetBandwidthForProtocol(proto)
				if st.TotalOut >= tc.out && st.TotalIn >= tc.in {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("after %v: %s counted %d sent, %d received on %s; want %d and %d", settleFor, tc.name, st.TotalOut, st.TotalIn, proto, tc.out, tc.in)
				}
			}
			t.Logf("%s: %d sent, %d received on %s", tc.name, st.TotalOut, st.TotalIn, proto)
			if st.TotalOut > tc.out+overhead || st.TotalIn > tc.in+overhead {
				t.Errorf("%s counted %d sent, %d received on %s; want %d and %d, plus at most %d of negotiation", tc.name, st.TotalOut, st.TotalIn, proto, tc.out, tc.in, overhead)
			}
			for p, other := range tc.bw.GetBandwidthByProtocol() {
				if p != proto && (other.TotalOut >= reply || other.TotalIn >= reply) {
					t.Errorf("%s counted %d sent, %d received on %q: the stream's bytes went to another protocol", tc.name, other.TotalOut, other.TotalIn, p)
				}
			}
		})
	}
}

// newCountingHost starts a host on 127.0.0.1 whose streams a bandwidth
// counter counts.
func newCountingHost(t *testing.T, name string) (*testHost, *metrics.BandwidthCounter) {
	t.Helper()
	log, rec := newLogRecorder(t, name)
	key, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	bw := metrics.NewBandwidthCounter()
	set := NewPeerSet()
	h, err := NewHost(HostConfig{Key: key, Listen: []string{"/ip4/127.0.0.1/tcp/0"}, Members: set, Bandwidth: bw}, log)
	if err != nil {
		t.Fatalf("NewHost: %v", err)
	}
	t.Cleanup(func() { h.Close() })
	return &testHost{Host: h, log: rec, set: set}, bw
}

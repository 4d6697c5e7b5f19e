package protocol

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	mocknet "github.com/libp2p/go-libp2p/p2p/net/mock"
	ma "github.com/multiformats/go-multiaddr"
)

// underlayHost is a Host on libp2p's mock network with its own member set.
func underlayHost(t *testing.T, mn mocknet.Mocknet, i int) (*Host, *PeerSet) {
	t.Helper()
	key, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	set := NewPeerSet()
	h, err := NewHost(HostConfig{Key: key, Members: set, Underlay: func(k crypto.PrivKey) (host.Host, error) {
		return mn.AddPeer(k, ma.StringCast(fmt.Sprintf("/ip4/10.0.0.%d/tcp/4001", i+1)))
	}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	return h, set
}

// TestUnderlayAllowlist: hosts on the mock network keep the allow-list:
// members connect and open streams; a connection the other side's
// allow-list refuses is closed as soon as it is up.
func TestUnderlayAllowlist(t *testing.T) {
	tests := []struct {
		name      string
		aListsB   bool
		bListsA   bool
		wantError error
	}{
		{"members both ways", true, true, nil},
		{"inbound non-member refused", true, false, ErrRefused},
		{"outbound to non-member refused", false, true, ErrNotMember},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			mn := mocknet.New()
			t.Cleanup(func() { mn.Close() })
			a, setA := underlayHost(t, mn, 0)
			b, setB := underlayHost(t, mn, 1)
			if err := mn.LinkAll(); err != nil {
				t.Fatal(err)
			}
			if tc.aListsB {
				setA.Add(b.ID())
			}
			if tc.bListsA {
				setB.Add(a.ID())
			}
			b.Raw().SetStreamHandler("/echo", func(s network.Stream) {
				defer s.Close()
				buf := make([]byte, 5)
				if _, err := s.Read(buf); err == nil {
					s.Write(buf)
				}
			})
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			err := a.Connect(ctx, peer.AddrInfo{ID: b.ID(), Addrs: b.Raw().Addrs()})
			if tc.wantError != nil {
				// A refusal by the remote may show to the dialer as a
				// connection closed right after it opened.
				if err != nil && !errors.Is(err, tc.wantError) || err == nil && tc.wantError != ErrRefused {
					t.Fatalf("Connect: %v, want %v", err, tc.wantError)
				}
				deadline := time.Now().Add(5 * time.Second)
				for b.Raw().Network().Connectedness(a.ID()) == network.Connected {
					if time.Now().After(deadline) {
						t.Fatal("b still connected to a refused peer after 5s")
					}
					time.Sleep(5 * time.Millisecond)
				}
				return
			}
			if err != nil {
				t.Fatalf("Connect: %v", err)
			}
			s, err := a.Raw().NewStream(ctx, b.ID(), "/echo")
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if _, err := s.Write([]byte("hello")); err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, 5)
			if _, err := s.Read(buf); err != nil || string(buf) != "hello" {
				t.Fatalf("echo: %q %v", buf, err)
			}
			if len(a.Addrs()) == 0 || !strings.HasSuffix(a.Addrs()[0].String(), a.ID().String()) {
				t.Fatalf("addrs %v", a.Addrs())
			}
		})
	}
}

// TestUnderlayRejects: an underlay host of another identity, or a PSK
// beside an underlay, is refused.
func TestUnderlayRejects(t *testing.T) {
	mn := mocknet.New()
	t.Cleanup(func() { mn.Close() })
	key, _, _ := crypto.GenerateEd25519Key(rand.Reader)
	_, err := NewHost(HostConfig{Key: key, Members: NewPeerSet(), Underlay: func(crypto.PrivKey) (host.Host, error) {
		return mn.GenPeer()
	}}, nil)
	if err == nil || !strings.Contains(err.Error(), "not the node's") {
		t.Fatalf("foreign identity: %v", err)
	}
	_, err = NewHost(HostConfig{Key: key, Members: NewPeerSet(), PSK: make([]byte, PSKSize), Underlay: func(crypto.PrivKey) (host.Host, error) {
		return mn.GenPeer()
	}}, nil)
	if err == nil || !strings.Contains(err.Error(), "PSK") {
		t.Fatalf("psk with underlay: %v", err)
	}
}

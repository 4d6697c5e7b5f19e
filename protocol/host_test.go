package protocol

import (
	"context"
	"crypto/rand"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
)

func TestHostConfigValidate(t *testing.T) {
	ed, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	secp, _, err := crypto.GenerateSecp256k1Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	members := NewPeerSet()
	ok := func() HostConfig {
		return HostConfig{Key: ed, Listen: []string{"/ip4/127.0.0.1/tcp/0"}, Members: members}
	}
	tests := []struct {
		name    string
		edit    func(*HostConfig)
		wantErr string
	}{
		{"defaults", func(*HostConfig) {}, ""},
		{"dns announce", func(c *HostConfig) { c.Announce = []string{"/dns4/node.example.org/tcp/4001"} }, ""},
		{"no key", func(c *HostConfig) { c.Key = nil }, "Key is required"},
		{"secp256k1 key", func(c *HostConfig) { c.Key = secp }, "Ed25519"},
		{"no listen", func(c *HostConfig) { c.Listen = nil }, "Listen is empty"},
		{"quic listen", func(c *HostConfig) { c.Listen = []string{"/ip4/0.0.0.0/udp/0/quic-v1"} }, "TCP only"},
		{"garbage listen", func(c *HostConfig) { c.Listen = []string{"localhost:4001"} }, "not a multiaddr"},
		{"p2p in announce", func(c *HostConfig) {
			c.Announce = []string{"/ip4/1.2.3.4/tcp/4001/p2p/12D3KooWAR14CfZtr9DWVD4kY94Mzh4AZTPbwmN51NuW2ypFGV95"}
		}, "announce address"},
		{"short psk", func(c *HostConfig) { c.PSK = make([]byte, 16) }, "PSK is 16 bytes"},
		{"no members", func(c *HostConfig) { c.Members = nil }, "Members is required"},
		{"water inverted", func(c *HostConfig) { c.LowWater, c.HighWater = 50, 10 }, "HighWater 10 is below LowWater 50"},
		{"negative timeout", func(c *HostConfig) { c.DialTimeout = -time.Second }, "must not be negative"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := ok()
			tc.edit(&c)
			err := c.validate()
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("validate: %v", err)
				}
				if c.DialTimeout != DefaultDialTimeout || c.LowWater != DefaultLowWater || c.HighWater != DefaultHighWater {
					t.Errorf("defaults not filled: %+v", c)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("validate: got %v, want error containing %q", err, tc.wantErr)
			}
		})
	}
}

func TestConnectAllowlist(t *testing.T) {
	tests := []struct {
		name string
		// setup decides who lists whom; a dials b.
		setup   func(t *testing.T, a, b *testHost)
		wantErr error // nil: connected
	}{
		{"members both ways", func(t *testing.T, a, b *testHost) {
			a.set.Add(b.ID())
			b.set.Add(a.ID())
		}, nil},
		{"inbound non-member refused", func(t *testing.T, a, b *testHost) {
			a.set.Add(b.ID()) // b does not list a
		}, ErrRefused},
		{"outbound to non-member refused", func(t *testing.T, a, b *testHost) {
			b.set.Add(a.ID()) // a does not list b
		}, ErrNotMember},
		{"join dial through an exception", func(t *testing.T, a, b *testHost) {
			// a is admitted (b lists it) but has not learned the member
			// list yet: it dials its --via member b through an exception.
			b.set.Add(a.ID())
			revoke := a.Allowlist().AllowFor(b.ID(), time.Minute)
			t.Cleanup(revoke)
		}, nil},
		{"revoked exception", func(t *testing.T, a, b *testHost) {
			b.set.Add(a.ID())
			a.Allowlist().AllowFor(b.ID(), time.Minute)()
		}, ErrNotMember},
		{"exception does not admit on the other side", func(t *testing.T, a, b *testHost) {
			a.Allowlist().AllowFor(b.ID(), time.Minute)
		}, ErrRefused},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := newTestHost(t, "a", hostOpts{})
			b := newTestHost(t, "b", hostOpts{})
			tc.setup(t, a, b)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			err := a.Connect(ctx, b.info())
			if tc.wantErr == nil {
				if err != nil {
					t.Fatalf("Connect: %v", err)
				}
				if got := a.Raw().Network().Connectedness(b.ID()); got != network.Connected {
					t.Fatalf("connectedness %v after Connect", got)
				}
				return
			}
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("Connect: got %v, want %v", err, tc.wantErr)
			}
			t.Logf("error as the user sees it: %v", err)
			switch tc.wantErr {
			case ErrRefused:
				if !b.log.waitFor(5*time.Second, "DEBUG", "refused connection from non-member", a.ID().String()) {
					t.Errorf("b did not log the refusal of %s at debug", a.ID())
				}
			case ErrNotMember:
				if !a.log.waitFor(5*time.Second, "DEBUG", "refused dial to non-member", b.ID().String()) {
					t.Errorf("a did not log the refused dial to %s at debug", b.ID())
				}
			}
		})
	}
}

func TestAllowlistExceptionExpires(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	a := NewAllowlist(NewPeerSet("member"), nil)
	a.now = func() time.Time { return now }
	revoke1 := a.AllowFor("joiner", time.Minute)
	revoke2 := a.AllowFor("joiner", 2*time.Minute)
	steps := []struct {
		name string
		do   func()
		peer peer.ID
		want bool
	}{
		{"member", func() {}, "member", true},
		{"stranger", func() {}, "stranger", false},
		{"excepted", func() {}, "joiner", true},
		{"first grant revoked, second holds", revoke1, "joiner", true},
		{"second grant expired", func() { now = now.Add(2 * time.Minute) }, "joiner", false},
		{"revoke after expiry is harmless", revoke2, "joiner", false},
	}
	for _, s := range steps {
		s.do()
		if got := a.Allowed(s.peer); got != s.want {
			t.Errorf("%s: Allowed(%s) = %v, want %v", s.name, s.peer, got, s.want)
		}
	}
	if len(a.grants) != 0 {
		t.Errorf("grants left behind: %v", a.grants)
	}
}

func TestConnectPSK(t *testing.T) {
	psk1, err := GeneratePSK()
	if err != nil {
		t.Fatal(err)
	}
	psk2, err := GeneratePSK()
	if err != nil {
		t.Fatal(err)
	}
	const dialTimeout = 2 * time.Second
	tests := []struct {
		name         string
		pskA, pskB   []byte
		wantErr      bool
		wantContains string
	}{
		{"same psk", psk1, psk1, false, ""},
		{"psk mismatch", psk1, psk2, true, "do both nodes use the same consortium PSK (consortium create --psk)?"},
		{"remote has no psk", psk1, nil, true, "same consortium PSK"},
		{"local has no psk", nil, psk2, true, "consortium create --psk"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := newTestHost(t, "a", hostOpts{psk: tc.pskA, dialTimeout: dialTimeout})
			b := newTestHost(t, "b", hostOpts{psk: tc.pskB, dialTimeout: dialTimeout})
			a.set.Add(b.ID())
			b.set.Add(a.ID())
			start := time.Now()
			err := a.Connect(context.Background(), b.info())
			took := time.Since(start)
			t.Logf("Connect took %v: %v", took, err)
			if took > dialTimeout+2*time.Second {
				t.Errorf("Connect took %v; want at most the dial timeout %v (+2 s)", took, dialTimeout)
			}
			if !tc.wantErr {
				if err != nil {
					t.Fatalf("Connect: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("Connect succeeded across different PSKs")
			}
			if !strings.Contains(err.Error(), tc.wantContains) {
				t.Errorf("error %q does not contain %q", err, tc.wantContains)
			}
			if tc.pskA != nil && !errors.Is(err, ErrHandshake) {
				t.Errorf("error %v is not ErrHandshake", err)
			}
		})
	}
}

func TestConnectUnreachable(t *testing.T) {
	a := newTestHost(t, "a", hostOpts{})
	b := newTestHost(t, "b", hostOpts{})
	a.set.Add(b.ID())
	info := b.info()
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	err := a.Connect(context.Background(), info)
	if !errors.Is(err, ErrUnreachable) {
		t.Fatalf("Connect to a closed host: got %v, want ErrUnreachable", err)
	}
	t.Logf("error as the user sees it: %v", err)
	if err := a.Connect(context.Background(), a.info()); err == nil {
		t.Error("Connect to self succeeded")
	}
}

func TestAddrs(t *testing.T) {
	plain := newTestHost(t, "plain", hostOpts{})
	announced := newTestHost(t, "announced", hostOpts{announce: []string{"/ip4/203.0.113.7/tcp/4001"}})
	tests := []struct {
		name string
		h    *testHost
		want string // a prefix of the one address; "" means any 127.0.0.1 address
	}{
		{"listen addresses", plain, "/ip4/127.0.0.1/tcp/"},
		{"announce replaces listen", announced, "/ip4/203.0.113.7/tcp/4001/p2p/"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			addrs := tc.h.Addrs()
			if len(addrs) != 1 {
				t.Fatalf("Addrs = %v, want one", addrs)
			}
			s := addrs[0].String()
			if !strings.HasPrefix(s, tc.want) || !strings.HasSuffix(s, "/p2p/"+tc.h.ID().String()) {
				t.Errorf("Addrs()[0] = %s, want %s…/p2p/%s", s, tc.want, tc.h.ID())
			}
			info, err := peer.AddrInfoFromP2pAddr(addrs[0])
			if err != nil || info.ID != tc.h.ID() {
				t.Errorf("AddrInfoFromP2pAddr(%s) = %v, %v", s, info, err)
			}
		})
	}
}

func TestDisconnectNonMembers(t *testing.T) {
	a := newTestHost(t, "a", hostOpts{})
	b := newTestHost(t, "b", hostOpts{})
	a.set.Add(b.ID())
	b.set.Add(a.ID())
	a.AddPeer(b.info())
	if err := a.Connect(context.Background(), peer.AddrInfo{ID: b.ID()}); err != nil {
		t.Fatalf("Connect using the peerstore: %v", err)
	}
	a.Protect(b.ID())
	if n := a.DisconnectNonMembers(); n != 0 {
		t.Errorf("DisconnectNonMembers dropped %d members", n)
	}
	a.set.Remove(b.ID()) // b left the consortium
	if n := a.DisconnectNonMembers(); n != 1 {
		t.Errorf("DisconnectNonMembers dropped %d peers, want 1", n)
	}
	if got := a.Raw().Network().Connectedness(b.ID()); got == network.Connected {
		t.Errorf("still connected to a removed member")
	}
}

func TestCloseIdempotent(t *testing.T) {
	h := newTestHost(t, "h", hostOpts{})
	for i := range 3 {
		if err := h.Close(); err != nil {
			t.Fatalf("Close #%d: %v", i+1, err)
		}
	}
}

// TestFIPSOnly reruns the connection tests with GODEBUG=fips140=only: the
// host must not need Noise (X25519) or any other non-approved primitive.
func TestFIPSOnly(t *testing.T) {
	if testing.Short() {
		t.Skip("re-runs the test binary")
	}
	if strings.Contains(os.Getenv("GODEBUG"), "fips140=only") {
		t.Skip("already running under fips140=only")
	}
	cmd := exec.Command(os.Args[0], "-test.run", "^(TestConnectAllowlist|TestConnectPSK)$", "-test.count=1")
	cmd.Env = append(os.Environ(), "GODEBUG=fips140=only")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("under GODEBUG=fips140=only: %v\n%s", err, out)
	}
}

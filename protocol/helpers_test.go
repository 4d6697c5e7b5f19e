package protocol

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

// logRecorder is a slog.Handler that keeps every record (for assertions)
// and forwards it to t.Log until the test's cleanup starts.
type logRecorder struct {
	t     testing.TB
	name  string
	mu    *sync.Mutex
	recs  *[]string
	done  *bool
	attrs []slog.Attr
}

func newLogRecorder(t testing.TB, name string) (*slog.Logger, *logRecorder) {
	r := &logRecorder{t: t, name: name, mu: &sync.Mutex{}, recs: &[]string{}, done: new(bool)}
	t.Cleanup(func() { // registered first, so it runs after the hosts closed
		r.mu.Lock()
		*r.done = true
		r.mu.Unlock()
	})
	return slog.New(r), r
}

func (r *logRecorder) Enabled(context.Context, slog.Level) bool { return true }

func (r *logRecorder) Handle(_ context.Context, rec slog.Record) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s", rec.Level, rec.Message)
	for _, a := range r.attrs {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
	}
	rec.Attrs(func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
		return true
	})
	r.mu.Lock()
	defer r.mu.Unlock()
	*r.recs = append(*r.recs, b.String())
	if !*r.done {
		r.t.Logf("[%s] %s", r.name, b.String())
	}
	return nil
}

func (r *logRecorder) WithAttrs(attrs []slog.Attr) slog.Handler {
	c := *r
	c.attrs = append(append([]slog.Attr(nil), r.attrs...), attrs...)
	return &c
}

func (r *logRecorder) WithGroup(string) slog.Handler { return r }

// waitFor reports whether a line containing every one of parts was logged
// within d.
func (r *logRecorder) waitFor(d time.Duration, parts ...string) bool {
	deadline := time.Now().Add(d)
	for {
		r.mu.Lock()
		for _, line := range *r.recs {
			if containsAll(line, parts) {
				r.mu.Unlock()
				return true
			}
		}
		r.mu.Unlock()
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func containsAll(s string, parts []string) bool {
	for _, p := range parts {
		if !strings.Contains(s, p) {
			return false
		}
	}
	return true
}

type hostOpts struct {
	members     Members
	psk         []byte
	dialTimeout time.Duration
	announce    []string
}

type testHost struct {
	*Host
	log *logRecorder
	set *PeerSet
}

// newTestHost starts a host on 127.0.0.1 with a free port. Unless
// opts.members is set, it allows the peers in the returned set.
func newTestHost(t testing.TB, name string, opts hostOpts) *testHost {
	t.Helper()
	log, rec := newLogRecorder(t, name)
	key, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	set := NewPeerSet()
	members := opts.members
	if members == nil {
		members = set
	}
	h, err := NewHost(HostConfig{
		Key:         key,
		Listen:      []string{"/ip4/127.0.0.1/tcp/0"},
		Announce:    opts.announce,
		PSK:         opts.psk,
		Members:     members,
		DialTimeout: opts.dialTimeout,
	}, log)
	if err != nil {
		t.Fatalf("NewHost: %v", err)
	}
	t.Cleanup(func() {
		if err := h.Close(); err != nil {
			t.Errorf("close %s: %v", name, err)
		}
	})
	return &testHost{Host: h, log: rec, set: set}
}

func (h *testHost) info() peer.AddrInfo {
	return peer.AddrInfo{ID: h.ID(), Addrs: h.Raw().Addrs()}
}

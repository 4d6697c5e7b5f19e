package raftnet

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/net/swarm"

	"github.com/cxnet/cxnet/protocol"
	"github.com/cxnet/cxnet/protocol/protocoltest"
)

// tWriter sends log output to t.Log until the test's cleanup has run.
type tWriter struct {
	t    testing.TB
	mu   sync.Mutex
	done bool
}

func (w *tWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Log(strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}

func testLogger(t testing.TB, name string, level slog.Level) *slog.Logger {
	w := &tWriter{t: t}
	t.Cleanup(func() { w.mu.Lock(); w.done = true; w.mu.Unlock() })
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level})).With("node", name)
}

// fsm records applied commands.
type fsm struct {
	mu   sync.Mutex
	cmds []string
}

func (f *fsm) Apply(l *raft.Log) any {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cmds = append(f.cmds, string(l.Data))
	return nil
}

func (f *fsm) has(cmd string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.cmds {
		if c == cmd {
			return true
		}
	}
	return false
}

func (f *fsm) Snapshot() (raft.FSMSnapshot, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return &snapshot{data: strings.Join(f.cmds, "\n")}, nil
}

func (f *fsm) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cmds = nil
	if len(b) > 0 {
		f.cmds = strings.Split(string(b), "\n")
	}
	return nil
}

type snapshot struct{ data string }

func (s *snapshot) Persist(sink raft.SnapshotSink) error {
	if _, err := io.WriteString(sink, s.data); err != nil {
		_ = sink.Cancel()
		return err
	}
	return sink.Close()
}

func (s *snapshot) Release() {}

// member is one node of the test cluster: its identity and raft state
// survive a restart, its host, transport and raft instance do not.
type member struct {
	name    string
	key     crypto.PrivKey
	id      peer.ID
	listen  string
	members *protocol.PeerSet

	logs      *raft.InmemStore
	snaps     *raft.InmemSnapshotStore
	host      *protocol.Host
	transport *Transport
	raft      *raft.Raft
	fsm       *fsm
}

func newMember(t *testing.T, name string, members *protocol.PeerSet) *member {
	t.Helper()
	key, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	id, err := peer.IDFromPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	members.Add(id)
	return &member{name: name, key: key, id: id, listen: "/ip4/127.0.0.1/tcp/0", members: members,
		logs: raft.NewInmemStore(), snaps: raft.NewInmemSnapshotStore()}
}

func (m *member) startHost(t *testing.T) {
	t.Helper()
	h, err := protocol.NewHost(protocol.HostConfig{
		Key: m.key, Listen: []string{m.listen}, Members: m.members, DialTimeout: 2 * time.Second,
	}, testLogger(t, m.name, slog.LevelWarn))
	if err != nil {
		t.Fatalf("%s: NewHost: %v", m.name, err)
	}
	m.host = h
	// Restart on the same port, so the others' peerstores stay right.
	m.listen = h.Raw().Network().ListenAddresses()[0].String()
}

func (m *member) startRaft(t *testing.T, peers []*member) {
	t.Helper()
	for _, p := range peers {
		if p != m && p.host != nil {
			m.host.AddPeer(peer.AddrInfo{ID: p.id, Addrs: p.host.Raw().Addrs()})
		}
	}
	log := testLogger(t, m.name, slog.LevelWarn)
	tr, err := NewTransport(Config{Host: m.host.Raw(), Allowed: m.host.Allowed, Timeout: 2 * time.Second}, log)
	if err != nil {
		t.Fatal(err)
	}
	cfg := raft.DefaultConfig()
	cfg.LocalID = raft.ServerID(m.id.String())
	cfg.HeartbeatTimeout = 300 * time.Millisecond
	cfg.ElectionTimeout = 300 * time.Millisecond
	cfg.LeaderLeaseTimeout = 150 * time.Millisecond
	cfg.CommitTimeout = 20 * time.Millisecond
	cfg.Logger = HCLog(log)
	m.fsm = &fsm{}
	r, err := raft.NewRaft(cfg, m.fsm, m.logs, m.logs, m.snaps, tr.NetworkTransport)
	if err != nil {
		t.Fatalf("%s: NewRaft: %v", m.name, err)
	}
	m.transport, m.raft = tr, r
}

func (m *member) stop(t *testing.T) {
	t.Helper()
	if m.raft != nil {
		if err := m.raft.Shutdown().Error(); err != nil {
			t.Errorf("%s: raft shutdown: %v", m.name, err)
		}
		m.raft = nil
	}
	if m.transport != nil {
		_ = m.transport.Close()
		m.transport = nil
	}
	if m.host != nil {
		if err := m.host.Close(); err != nil {
			t.Errorf("%s: close host: %v", m.name, err)
		}
		m.host = nil
	}
}

// waitFor polls cond until it holds or d passes.
func waitFor(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
	return true
}

func leaderOf(ms []*member) *member {
	for _, m := range ms {
		if m.raft != nil && m.raft.State() == raft.Leader {
			return m
		}
	}
	return nil
}

func TestRaftCluster(t *testing.T) {
	set := protocol.NewPeerSet()
	ms := []*member{newMember(t, "a", set), newMember(t, "b", set), newMember(t, "c", set)}
	t.Cleanup(func() {
		for _, m := range ms {
			m.stop(t)
		}
	})
	var servers []raft.Server
	for _, m := range ms {
		m.startHost(t)
		servers = append(servers, raft.Server{Suffrage: raft.Voter, ID: raft.ServerID(m.id.String()), Address: raft.ServerAddress(m.id.String())})
	}
	start := time.Now()
	for _, m := range ms {
		m.startRaft(t, ms)
	}
	if err := ms[0].raft.BootstrapCluster(raft.Configuration{Servers: servers}).Error(); err != nil {
		t.Fatalf("bootstrap: %v", err)
	}

	var leader *member
	if !waitFor(10*time.Second, func() bool { leader = leaderOf(ms); return leader != nil }) {
		t.Fatal("no leader elected within 10 s")
	}
	t.Logf("leader %s elected %v after start", leader.name, time.Since(start).Round(time.Millisecond))

	apply := func(cmd string) {
		t.Helper()
		if err := leader.raft.Apply([]byte(cmd), 5*time.Second).Error(); err != nil {
			t.Fatalf("apply %q: %v", cmd, err)
		}
	}
	applied := time.Now()
	apply("cmd-1")
	if !waitFor(5*time.Second, func() bool {
		for _, m := range ms {
			if !m.fsm.has("cmd-1") {
				return false
			}
		}
		return true
	}) {
		t.Fatal("cmd-1 did not reach every FSM within 5 s")
	}
	t.Logf("cmd-1 replicated to all FSMs in %v", time.Since(applied).Round(time.Millisecond))

	// Stop a follower, write while it is down, restart it: it catches up.
	var follower *member
	for _, m := range ms {
		if m != leader {
			follower = m
			break
		}
	}
	followerAddr := follower.host.Raw().Network().ListenAddresses()[0]
	follower.stop(t)
	for i := 2; i <= 11; i++ {
		apply(fmt.Sprintf("cmd-%d", i))
	}
	// Keep it down until the leader has failed to dial it, so libp2p has
	// put its address in dial backoff: Dial must bypass that.
	backoff := leader.host.Raw().Network().(*swarm.Swarm).Backoff()
	if !waitFor(10*time.Second, func() bool { return backoff.Backoff(follower.id, followerAddr) }) {
		t.Fatal("the leader did not try to reach the stopped follower within 10 s")
	}
	restarted := time.Now()
	follower.startHost(t)
	follower.startRaft(t, ms)
	if !waitFor(10*time.Second, func() bool { return follower.fsm.has("cmd-11") }) {
		t.Fatalf("restarted %s did not catch up within 10 s", follower.name)
	}
	t.Logf("restarted %s caught up %v after its restart (host, transport and raft start included)", follower.name, time.Since(restarted).Round(time.Millisecond))

	// Stop the leader: the other two elect a new one and keep replicating.
	old := leader
	stopped := time.Now()
	old.stop(t)
	if !waitFor(10*time.Second, func() bool { leader = leaderOf(ms); return leader != nil }) {
		t.Fatal("no new leader within 10 s of stopping the old one")
	}
	t.Logf("new leader %s elected %v after %s stopped", leader.name, time.Since(stopped).Round(time.Millisecond), old.name)
	apply("cmd-12")
	if !waitFor(5*time.Second, func() bool {
		for _, m := range ms {
			if m != old && !m.fsm.has("cmd-12") {
				return false
			}
		}
		return true
	}) {
		t.Fatal("cmd-12 did not reach the remaining FSMs within 5 s")
	}
}

func TestStreamLayer(t *testing.T) {
	all := protocol.MembersFunc(func(peer.ID) bool { return true })
	server, client, stranger := protocoltest.NewHost(t, all), protocoltest.NewHost(t, all), protocoltest.NewHost(t, all)
	// The gater lets everyone in; the raft handler's own check refuses the
	// stranger.
	sl, err := NewStreamLayer(Config{Host: server.Raw(), Allowed: func(p peer.ID) bool { return p == client.ID() }}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sl.Close() })
	dialer := func(h *protocol.Host) *StreamLayer {
		h.AddPeer(peer.AddrInfo{ID: server.ID(), Addrs: server.Raw().Addrs()})
		d, err := NewStreamLayer(Config{Host: h.Raw(), Allowed: func(peer.ID) bool { return false }}, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = d.Close() })
		return d
	}

	accepted := make(chan net.Conn, 2)
	go func() {
		for {
			c, err := sl.Accept()
			if err != nil {
				close(accepted)
				return
			}
			accepted <- c
		}
	}()

	t.Run("member stream is accepted", func(t *testing.T) {
		c, err := dialer(client).Dial(raft.ServerAddress(server.ID().String()), 5*time.Second)
		if err != nil {
			t.Fatalf("Dial: %v", err)
		}
		defer c.Close()
		if _, err := c.Write([]byte("ping")); err != nil {
			t.Fatal(err)
		}
		var got net.Conn
		select {
		case got = <-accepted:
		case <-time.After(5 * time.Second):
			t.Fatal("Accept returned nothing within 5 s")
		}
		defer got.Close()
		buf := make([]byte, 4)
		_ = got.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.ReadFull(got, buf); err != nil || string(buf) != "ping" {
			t.Fatalf("read %q, %v", buf, err)
		}
		if got.RemoteAddr().String() != client.ID().String() || got.LocalAddr().String() != server.ID().String() || got.RemoteAddr().Network() != "libp2p" {
			t.Errorf("addrs: local %v remote %v", got.LocalAddr(), got.RemoteAddr())
		}
		if sl.Addr().String() != server.ID().String() {
			t.Errorf("Addr() = %v", sl.Addr())
		}
	})

	t.Run("non-member stream is reset", func(t *testing.T) {
		c, err := dialer(stranger).Dial(raft.ServerAddress(server.ID().String()), 5*time.Second)
		if err != nil {
			t.Fatalf("Dial: %v", err) // the stream opens; the handler resets it
		}
		defer c.Close()
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, _ = c.Write([]byte("ping"))
		if _, err := c.Read(make([]byte, 1)); err == nil || errors.Is(err, context.DeadlineExceeded) || isTimeout(err) {
			t.Fatalf("read from a refused stream: %v, want a reset", err)
		}
		select {
		case c := <-accepted:
			t.Fatalf("Accept returned a stream from %v", c.RemoteAddr())
		default:
		}
	})

	t.Run("bad address", func(t *testing.T) {
		if _, err := dialer(client).Dial("127.0.0.1:4001", time.Second); err == nil || !strings.Contains(err.Error(), "not a peer id") {
			t.Fatalf("Dial(host:port) = %v", err)
		}
	})

	t.Run("close unblocks accept", func(t *testing.T) {
		for range 2 {
			if err := sl.Close(); err != nil {
				t.Fatal(err)
			}
		}
		select {
		case _, ok := <-accepted:
			if ok {
				t.Fatal("unexpected stream")
			}
		case <-time.After(5 * time.Second):
			t.Fatal("Accept still blocked 5 s after Close")
		}
		if _, err := sl.Dial(raft.ServerAddress(client.ID().String()), time.Second); !errors.Is(err, ErrClosed) {
			t.Fatalf("Dial after Close: %v", err)
		}
		if protos := server.Raw().Mux().Protocols(); containsID(protos, ProtocolID) {
			t.Fatal("handler still registered after Close")
		}
	})
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func containsID[T comparable](list []T, x T) bool {
	for _, v := range list {
		if v == x {
			return true
		}
	}
	return false
}

func TestProtocolIDMatches(t *testing.T) {
	if ProtocolID != protocol.RaftID {
		t.Fatalf("raftnet.ProtocolID %q != protocol.RaftID %q", ProtocolID, protocol.RaftID)
	}
}

func TestConfigValidate(t *testing.T) {
	h := protocoltest.NewHost(t, protocol.NewPeerSet())
	tests := []struct {
		name    string
		cfg     Config
		wantErr string
	}{
		{"ok", Config{Host: h.Raw(), Allowed: h.Allowed}, ""},
		{"no host", Config{Allowed: h.Allowed}, "Host is required"},
		{"no allowed", Config{Host: h.Raw()}, "Allowed is required"},
		{"negative pool", Config{Host: h.Raw(), Allowed: h.Allowed, MaxPool: -1}, "must not be negative"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.validate()
			if tc.wantErr == "" {
				if err != nil || tc.cfg.MaxPool != DefaultMaxPool || tc.cfg.Timeout != DefaultTimeout {
					t.Fatalf("validate: %v, cfg %+v", err, tc.cfg)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("validate: %v, want %q", err, tc.wantErr)
			}
		})
	}
}

// TestCloseResetsAndDrainWaits: closing the layer resets the streams raft
// is serving, and Drain returns only once the transport has closed them —
// so that a request in flight finishes before raft's stores close.
func TestCloseResetsAndDrainWaits(t *testing.T) {
	all := protocol.MembersFunc(func(peer.ID) bool { return true })
	server, client := protocoltest.NewHost(t, all), protocoltest.NewHost(t, all)
	sl, err := NewStreamLayer(Config{Host: server.Raw(), Allowed: func(peer.ID) bool { return true }}, nil)
	if err != nil {
		t.Fatal(err)
	}
	client.AddPeer(peer.AddrInfo{ID: server.ID(), Addrs: server.Raw().Addrs()})
	d, err := NewStreamLayer(Config{Host: client.Raw(), Allowed: func(peer.ID) bool { return false }}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Close() })
	out, err := d.Dial(raft.ServerAddress(server.ID().String()), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	if _, err := out.Write([]byte{1}); err != nil {
		t.Fatal(err)
	}
	in, err := sl.Accept()
	if err != nil {
		t.Fatal(err)
	}
	sl.Close()
	if _, err := in.Read(make([]byte, 8)); err == nil {
		// The first byte may already be buffered; the next read must fail.
		if _, err := in.Read(make([]byte, 8)); err == nil {
			t.Fatal("an accepted stream still reads after Close")
		}
	}
	if err := sl.Drain(50 * time.Millisecond); err == nil {
		t.Fatal("Drain returned while the transport still held an accepted conn")
	}
	in.Close()
	if err := sl.Drain(time.Second); err != nil {
		t.Fatalf("Drain after the conn closed: %v", err)
	}
}

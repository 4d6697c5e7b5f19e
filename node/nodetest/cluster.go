// Package nodetest runs whole cxnet nodes in one process for tests: real
// Badger on disk, real libp2p hosts on loopback, real raft with short
// timeouts and short background loops, each node's log in t.Log,
// everything stopped by t.Cleanup. Tests drive the nodes through their
// local API, as the CLI does; the helpers that wait for the cluster to
// agree wake at each node's change (node.Node.Changed), within a bounded
// time, instead of sleeping.
package nodetest

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/cxnet/cxnet/node"
	"github.com/cxnet/cxnet/node/client"
)

// Options tune a cluster.
type Options struct {
	// Heartbeat is raft's heartbeat timeout; default 300ms.
	Heartbeat time.Duration
	// Orgs names the organisations; default org-0, org-1 …
	Orgs []string
	// DeadVoterAfter is raft's dead-voter threshold; default 2s.
	DeadVoterAfter time.Duration
	// SnapshotThreshold, TrailingLogs and SnapshotInterval: the node's
	// defaults when zero.
	SnapshotThreshold, TrailingLogs uint64
	SnapshotInterval                time.Duration
	// RoundTimeout bounds rounds; the node's default when zero.
	RoundTimeout time.Duration
	// Configure, when set, changes each node's config last (after the
	// fields above and the test loops' intervals), e.g. to put it on
	// libp2p's mock network (node.Config.Underlay): simulations/sim does.
	Configure func(*node.Config)
}

// TB is what the harness needs of a test. testing.TB satisfies it, and so
// does a simulation run outside `go test` (simulations/sim.Env).
type TB interface {
	Helper()
	Log(args ...any)
	Fatal(args ...any)
	Fatalf(format string, args ...any)
	TempDir() string
	Cleanup(func())
}

// Loops are the nodes' background loops in a cluster: short, so that a
// scheduled round, a dial or a retry happens within a test's patience.
var Loops = node.LoopConfig{Schedule: 500 * time.Millisecond, Dial: time.Second, StaleRounds: 250 * time.Millisecond, Keys: 500 * time.Millisecond}

// Cluster is n nodes, not yet in a consortium (see Form).
type Cluster struct {
	t     TB
	Nodes []*Member
}

// Member is one running node of a cluster.
type Member struct {
	Org    string
	Home   string
	Node   *node.Node
	Client *client.Client

	t      TB
	cfg    node.Config
	cancel context.CancelFunc
	done   chan error
}

// NewCluster starts n nodes and waits until their APIs are ready.
func NewCluster(t TB, n int, opts Options) *Cluster {
	t.Helper()
	if opts.Heartbeat == 0 {
		opts.Heartbeat = 300 * time.Millisecond
	}
	if opts.DeadVoterAfter == 0 {
		opts.DeadVoterAfter = 2 * time.Second
	}
	c := &Cluster{t: t}
	for i := 0; i < n; i++ {
		org := fmt.Sprintf("org-%d", i)
		if i < len(opts.Orgs) {
			org = opts.Orgs[i]
		}
		c.Nodes = append(c.Nodes, c.start(org, opts))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, m := range c.Nodes {
		if _, err := m.Client.WaitReady(ctx); err != nil {
			t.Fatalf("nodetest: %s not ready: %v", m.Org, err)
		}
	}
	return c
}

func (c *Cluster) start(org string, opts Options) *Member {
	t := c.t
	home := filepath.Join(t.TempDir(), org)
	cfg := node.Config{Org: org, Kind: "hospital", API: "127.0.0.1:0", Listen: []string{"/ip4/127.0.0.1/tcp/0"},
		Raft: node.RaftConfig{Heartbeat: opts.Heartbeat, DeadVoterAfter: opts.DeadVoterAfter,
			SnapshotThreshold: opts.SnapshotThreshold, TrailingLogs: opts.TrailingLogs, SnapshotInterval: opts.SnapshotInterval},
		Round: node.RoundConfig{Timeout: opts.RoundTimeout},
		Log:   node.LogConfig{Level: "debug"}, Loops: Loops}
	if opts.Configure != nil {
		opts.Configure(&cfg)
	}
	if _, err := node.Init(home, cfg); err != nil {
		t.Fatalf("nodetest: init %s: %v", org, err)
	}
	m := &Member{t: t, Org: org, Home: home, cfg: cfg}
	m.run()
	t.Cleanup(m.Stop)
	return m
}

// run starts the member's node on its home.
func (m *Member) run() {
	t := m.t
	h, err := node.LoadHome(m.Home)
	if err != nil {
		t.Fatalf("nodetest: home of %s: %v", m.Org, err)
	}
	log := slog.New(slog.NewTextHandler(&tWriter{t: t, prefix: m.Org + ": "}, &slog.HandlerOptions{Level: slog.LevelInfo}))
	n, err := node.New(h, m.cfg, log)
	if err != nil {
		t.Fatalf("nodetest: %s: %v", m.Org, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	m.Node, m.cancel, m.done = n, cancel, make(chan error, 1)
	go func() { m.done <- n.Run(ctx) }()
	if m.Client, err = client.Open(m.Home, ""); err != nil {
		t.Fatalf("nodetest: client of %s: %v", m.Org, err)
	}
}

// Restart starts a stopped member again on the same home and waits until
// its API is ready: it recovers from its own disk.
func (m *Member) Restart() {
	m.t.Helper()
	m.Stop()
	m.run()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := m.Client.WaitReady(ctx); err != nil {
		m.t.Fatalf("nodetest: %s not ready after restart: %v", m.Org, err)
	}
}

// Stop shuts the node down and waits for it; it is safe to call twice.
func (m *Member) Stop() {
	if m.cancel == nil {
		return
	}
	m.cancel()
	m.cancel = nil
	select {
	case <-m.done:
	case <-time.After(30 * time.Second):
		panic("nodetest: node did not stop within 30s of cancel")
	}
}

// Status returns the member's status, failing the test on error.
func (c *Cluster) Status(m *Member) *client.Status {
	c.t.Helper()
	s, err := m.Client.Status(context.Background())
	if err != nil {
		c.t.Fatalf("nodetest: status of %s: %v", m.Org, err)
	}
	return s
}

// Form founds a consortium on the first node and admits, approves and
// joins every other node in turn, as the README's flow does.
func (c *Cluster) Form(name string) {
	c.t.Helper()
	ctx := context.Background()
	first := c.Nodes[0]
	if _, err := first.Client.CreateConsortium(ctx, client.CreateRequest{Name: name, MinCohort: 11}); err != nil {
		c.t.Fatalf("nodetest: create: %v", err)
	}
	via := c.Status(first).Listen[0]
	for i, m := range c.Nodes[1:] {
		desc, err := m.Client.Identity(ctx)
		if err != nil {
			c.t.Fatal(err)
		}
		if _, err := first.Client.Admit(ctx, desc); err != nil {
			c.t.Fatalf("nodetest: admit %s: %v", m.Org, err)
		}
		// Approvals from a strict majority of the admitted members
		// (i+1 of them; the proposer's counts).
		for _, a := range c.Nodes[1 : (i+1)/2+1] {
			if _, err := a.Client.Approve(ctx, m.Org); err != nil {
				c.t.Fatalf("nodetest: %s approves %s: %v", a.Org, m.Org, err)
			}
		}
		if _, err := m.Client.Join(ctx, client.JoinRequest{Via: via}); err != nil {
			c.t.Fatalf("nodetest: %s joins: %v", m.Org, err)
		}
	}
}

// WaitForLeader waits until the given members agree on a leader among
// them and returns it.
func (c *Cluster) WaitForLeader(members ...*Member) *Member {
	c.t.Helper()
	if len(members) == 0 {
		members = c.Nodes
	}
	var leader *Member
	agreed := c.WaitFor(20*time.Second, func() bool {
		leaders := map[string]bool{}
		for _, m := range members {
			if s, err := m.Client.Status(context.Background()); err == nil {
				leaders[s.Raft.Leader] = true
			}
		}
		for _, m := range members {
			if len(leaders) == 1 && leaders[m.Node.PeerID()] {
				leader = m
			}
		}
		return leader != nil
	})
	if !agreed {
		c.t.Fatalf("nodetest: no leader agreed among %d members within 20s", len(members))
	}
	return leader
}

// WaitFor returns true once cond holds, checking it now and at each
// change of any member's node (node.Node.Changed: a governance entry
// applied, a new raft leader, a change of raft's servers on the leader, a
// key built), or false when it still does not hold after d.
func (c *Cluster) WaitFor(d time.Duration, cond func() bool) bool {
	timeout := time.After(d)
	for {
		// The members' signals are taken before cond reads their state:
		// a change in between wakes the wait.
		cases := []reflect.SelectCase{{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(timeout)}}
		for _, m := range c.Nodes {
			if m.cancel != nil {
				cases = append(cases, reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(m.Node.Changed())})
			}
		}
		if cond() {
			return true
		}
		if i, _, _ := reflect.Select(cases); i == 0 {
			return cond()
		}
	}
}

// Partition cuts the cluster into the given groups: nodes of different
// groups refuse each other's connections until Heal.
func (c *Cluster) Partition(groups ...[]*Member) {
	for i, g := range groups {
		var others []string
		for j, h := range groups {
			if i != j {
				for _, m := range h {
					others = append(others, m.Node.PeerID())
				}
			}
		}
		for _, m := range g {
			m.Node.BlockPeers(others...)
		}
	}
}

// Heal undoes Partition.
func (c *Cluster) Heal() {
	var all []string
	for _, m := range c.Nodes {
		all = append(all, m.Node.PeerID())
	}
	for _, m := range c.Nodes {
		m.Node.UnblockPeers(all...)
	}
}

// RequireSameState waits until every given member reports the same
// members and contracts (ids, versions, states, hashes) and fails the test
// otherwise.
func (c *Cluster) RequireSameState(members ...*Member) {
	c.t.Helper()
	if len(members) == 0 {
		members = c.Nodes
	}
	var last map[string]string
	same := c.WaitFor(20*time.Second, func() bool {
		last = map[string]string{}
		for _, m := range members {
			last[m.Org] = c.view(m)
		}
		for _, v := range last {
			if v != last[members[0].Org] {
				return false
			}
		}
		return true
	})
	if same {
		return
	}
	c.t.Fatalf("nodetest: members disagree:\n%s", dumpViews(last))
}

func (c *Cluster) view(m *Member) string {
	ctx := context.Background()
	ms, err1 := m.Client.Members(ctx)
	cs, err2 := m.Client.Contracts(ctx)
	if err1 != nil || err2 != nil {
		return fmt.Sprintf("error: %v %v", err1, err2)
	}
	type mv struct{ Org, State string }
	type cv struct {
		ID, State, Hash string
		Version         int
	}
	var v struct {
		Members   []mv
		Contracts []cv
	}
	for _, x := range ms.Members {
		v.Members = append(v.Members, mv{x.Org, x.State})
	}
	for _, x := range cs.Contracts {
		v.Contracts = append(v.Contracts, cv{x.ID, x.State, x.Hash, x.Version})
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func dumpViews(v map[string]string) string {
	keys := make([]string, 0, len(v))
	for k := range v {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := ""
	for _, k := range keys {
		out += k + ": " + v[k] + "\n"
	}
	return out
}

// tWriter sends a node's log lines to t.Log until the test ends.
type tWriter struct {
	t      TB
	prefix string
	mu     sync.Mutex
}

func (w *tWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	defer func() { recover() }() // a late line after the test ended
	w.t.Log(w.prefix + string(p[:len(p)-1]))
	return len(p), nil
}

// WaitForKeys waits until every given member (default: all) reports the
// same keyed epoch over all of them, the same collective public key, and
// its own threshold key, with no epoch pending; it returns that key state.
func (c *Cluster) WaitForKeys(members ...*Member) *client.Keys {
	c.t.Helper()
	if len(members) == 0 {
		members = c.Nodes
	}
	want := make([]string, len(members))
	for i, m := range members {
		want[i] = m.Org
	}
	slices.Sort(want)
	var last []*client.Keys
	agreed := c.WaitFor(30*time.Second, func() bool {
		last = last[:0]
		for _, m := range members {
			s, err := m.Client.Status(context.Background())
			if err != nil || s.Keys == nil {
				return false
			}
			k := s.Keys
			last = append(last, k)
			if k.Epoch == 0 || !slices.Equal(k.Members, want) || k.PublicKey == "" || !k.ThresholdKey || k.Pending != nil ||
				k.PublicKey != last[0].PublicKey || k.Epoch != last[0].Epoch {
				return false
			}
		}
		return true
	})
	if agreed {
		return last[0]
	}
	b, _ := json.Marshal(last)
	c.t.Fatalf("nodetest: no common key among %v within 30s: %s", want, b)
	return nil
}

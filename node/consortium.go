package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/cxnet/cxnet/contracts"
	"github.com/cxnet/cxnet/kpi"
	"github.com/cxnet/cxnet/protocol"
	"github.com/cxnet/cxnet/protocol/raftnet"
	"github.com/cxnet/cxnet/protocol/round"
	"github.com/cxnet/cxnet/protocol/rpc"
	"github.com/cxnet/cxnet/store"
)

// maxVoters is how many members vote in raft; further members replicate
// the log as non-voters.
const maxVoters = 5

// RaftConfig are the governance raft's timeouts. Links between
// organisations cross the internet: the defaults are WAN-safe, tests use
// shorter ones.
type RaftConfig struct {
	Heartbeat   time.Duration `yaml:"heartbeat"`
	Election    time.Duration `yaml:"election"`
	LeaderLease time.Duration `yaml:"leader_lease"`
	// DeadVoterAfter is how long a voter may miss the leader's heartbeats
	// before a healthy non-voter takes its vote (it stays a member, as a
	// non-voter, and catches up when it comes back).
	DeadVoterAfter time.Duration `yaml:"dead_voter_after"`
	// SnapshotThreshold is how many entries raft writes before it takes a
	// snapshot of the governance state; TrailingLogs how many it keeps
	// after one (a member further behind receives the snapshot).
	SnapshotThreshold uint64 `yaml:"snapshot_threshold"`
	TrailingLogs      uint64 `yaml:"trailing_logs"`
	// SnapshotInterval is how often raft checks whether to snapshot.
	SnapshotInterval time.Duration `yaml:"snapshot_interval"`
}

func (c *RaftConfig) fill() {
	if c.Heartbeat <= 0 {
		c.Heartbeat = 2 * time.Second
	}
	if c.Election <= 0 {
		c.Election = 2 * c.Heartbeat
	}
	if c.LeaderLease <= 0 || c.LeaderLease > c.Heartbeat {
		c.LeaderLease = c.Heartbeat / 2
	}
	if c.DeadVoterAfter <= 0 {
		c.DeadVoterAfter = 5 * time.Minute
	}
	if c.SnapshotThreshold == 0 {
		c.SnapshotThreshold = 1024
	}
	if c.TrailingLogs == 0 {
		c.TrailingLogs = 4096
	}
	if c.SnapshotInterval <= 0 {
		c.SnapshotInterval = 2 * time.Minute
	}
}

// consortium is the node's part in a consortium: its libp2p host, the
// governance state machine and, once the node has created or joined a
// consortium, the raft that replicates it.
type consortium struct {
	home *Home
	cfg  Config
	log  *slog.Logger
	db   *store.DB

	fsm     *contracts.FSM
	host    *protocol.Host
	keys    *keyManager
	metrics *metrics // nil in handler tests
	// known are peers allowed before this node's state machine knows them:
	// the members a join reply named, and every server in raft's
	// configuration (a restarted node learns members from the log).
	known *protocol.PeerSet
	// blocked are peers refused whatever their membership (fault
	// injection: BlockPeers).
	blocked *protocol.PeerSet
	srvs    []*rpc.Server

	mu    sync.Mutex // guards raft, trans, failing
	raft  *raft.Raft
	trans *raftnet.Transport
	// failing maps a server the leader cannot reach to its last contact.
	failing map[raft.ServerID]time.Time

	snaps raft.SnapshotStore // opened by start

	// readTerm is the raft term in which this node, as leader, committed
	// the barrier that readIndex needs once per term.
	readTerm atomic.Uint64

	// rounds serialises and limits the round protocol on this node.
	rounds roundGuard
	// appliedCh is closed (and replaced) when the state machine applies
	// a command entry: it wakes waitApplied.
	appliedMu sync.Mutex
	appliedCh chan struct{}
	// deviate makes the node deviate from the protocol (adversarial
	// tests only: export_test.go).
	deviate deviationHooks

	// loseReplies > 0 makes lead answer that many applied entries with
	// raft.ErrLeadershipLost (fault injection for tests: export_test.go).
	loseReplies atomic.Int32

	ctx    context.Context // ends when stop begins
	cancel context.CancelFunc
	wg     sync.WaitGroup
	// unwatch stops the heartbeat watcher of the running raft.
	unwatch func()
}

func newConsortium(home *Home, cfg Config, db *store.DB, log *slog.Logger, onEvent func(contracts.Event)) *consortium {
	c := &consortium{home: home, cfg: cfg, db: db, log: log, fsm: contracts.NewFSM(),
		known: protocol.NewPeerSet(), blocked: protocol.NewPeerSet()}
	c.keys = newKeyManager(c)
	c.fsm.OnEvent = func(e contracts.Event) {
		onEvent(e)
		c.learnMembers()
		c.keys.poke()
		if e.Type == contracts.EventRoundOpened {
			c.rounds.firstSeen(e.Object, time.Now()) // the round timeout runs from here
		}
	}
	c.fsm.OnSettled = c.notifyApplied
	return c
}

// allowed says whether p may connect: an admitted member, or a peer raft
// or a join told us about.
func (c *consortium) allowed(p peer.ID) bool {
	if c.blocked.Allowed(p) {
		return false
	}
	return c.known.Allowed(p) || c.admittedPeer(p)
}

// inRaft says whether p may speak raft and the governance protocol to
// this node: a server of raft's configuration, or a peer a join or the
// local log named. An admitted member that has not joined yet may only
// use the join protocol.
func (c *consortium) inRaft(p peer.ID) bool {
	if c.blocked.Allowed(p) {
		return false
	}
	if c.known.Allowed(p) {
		return true
	}
	r := c.getRaft()
	if r == nil {
		return false
	}
	f := r.GetConfiguration()
	if f.Error() != nil {
		return false
	}
	for _, s := range f.Configuration().Servers {
		if string(s.ID) == p.String() {
			return true
		}
	}
	return false
}

// start opens the libp2p host, serves the node's protocols and, when the
// store holds raft state, starts raft.
func (c *consortium) start(ctx context.Context) error {
	c.ctx, c.cancel = context.WithCancel(ctx)
	if err := c.openSnapshots(); err != nil {
		return err
	}
	if err := c.startHost(); err != nil {
		return err
	}
	existing, err := raft.HasExistingState(c.db.RaftLog(), c.db.RaftLog(), c.snaps)
	if err != nil {
		return fmt.Errorf("consortium: read raft state: %w", err)
	}
	if existing {
		if err := c.startRaft(nil); err != nil {
			return err
		}
		c.seedPeers()
	}
	rc := c.cfg.Raft
	rc.fill()
	c.wg.Go(func() { c.keys.run(c.ctx) })
	c.wg.Go(func() { every(c.ctx, min(5*time.Second, rc.DeadVoterAfter/2), c.manageVoters) })
	c.wg.Go(func() { every(c.ctx, connectInterval, func() { c.connectMembers(c.ctx) }) })
	seen := map[kpi.ContractID]time.Time{} // when this node first saw each scheduled contract active
	c.wg.Go(func() { every(c.ctx, roundsInterval, func() { c.tendRounds(c.ctx, seen) }) })
	c.wg.Go(func() { every(c.ctx, time.Second, func() { c.failStaleRounds(c.ctx, time.Now()) }) })
	return nil
}

// every calls fn now and then every d until ctx ends.
func every(ctx context.Context, d time.Duration, fn func()) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		fn()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (c *consortium) startHost() error {
	psk, err := c.home.PSK()
	if err != nil {
		return err
	}
	h, err := protocol.NewHost(protocol.HostConfig{
		Key: c.home.NodeKey, Listen: c.cfg.Listen, Announce: c.cfg.Announce, PSK: psk,
		Members: protocol.MembersFunc(c.allowed), Underlay: c.cfg.Underlay,
	}, c.log.With("component", "libp2p"))
	if err != nil {
		return err
	}
	c.host = h
	c.srvs = []*rpc.Server{
		rpc.Serve(h.Raw(), protocol.JoinID, c.handleJoin, c.allowed, c.log),
		rpc.Serve(h.Raw(), protocol.GovID, c.handleGov, c.inRaft, c.log),
		c.keys.serveKeys(h.Raw()),
		round.Serve(h.Raw(), c.roundServer(), round.Options{Authorize: c.roundSender, Limits: roundLimits, Log: c.log}),
	}
	return nil
}

// usePSK stores the consortium's private-network key and restarts the
// host with it. Only before raft runs (consortium create or join).
func (c *consortium) usePSK(psk []byte) error {
	if c.getRaft() != nil {
		return inputError{"the private-network key can only be set before the node creates or joins a consortium"}
	}
	if err := c.home.SetPSK(psk); err != nil {
		return err
	}
	for _, s := range c.srvs {
		s.Close()
	}
	c.host.Close()
	return c.startHost()
}

// stop shuts raft, the protocols and the host down, in that order.
func (c *consortium) stop() {
	if c.cancel != nil {
		c.cancel()
	}
	c.stopRaft()
	c.wg.Wait()
	for _, s := range c.srvs {
		s.Close()
	}
	if c.host != nil {
		c.host.Close()
	}
}

// stopRaft shuts raft down; the node keeps its raft state on disk.
func (c *consortium) stopRaft() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.raft == nil {
		return
	}
	c.unwatch()
	if err := c.raft.Shutdown().Error(); err != nil {
		c.log.Warn("raft shutdown", "err", err)
	}
	// Closing the transport waits for inbound requests in flight: raft
	// writes terms and votes while handling them, and the store closes
	// after this.
	if err := c.trans.Close(); err != nil {
		c.log.Warn("raft transport close", "err", err)
	}
	c.raft, c.trans = nil, nil
}

// openSnapshots opens raft's snapshot store, home/raft.
func (c *consortium) openSnapshots() error {
	dir := filepath.Join(c.home.Dir, "raft")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("consortium: raft snapshots: %w", err)
	}
	s, err := raft.NewFileSnapshotStoreWithLogger(dir, 2, raftnet.HCLog(c.log.With("component", "raft-snapshots")))
	if err != nil {
		return fmt.Errorf("consortium: raft snapshots in %s: %w", dir, err)
	}
	c.snaps = s
	return nil
}

// startRaft starts raft on the node's store. bootstrap, when set, is the
// first configuration (consortium create).
func (c *consortium) startRaft(bootstrap *raft.Configuration) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.raft != nil {
		return errors.New("this node already takes part in a consortium")
	}
	rc := c.cfg.Raft
	rc.fill()
	conf := raft.DefaultConfig()
	conf.LocalID = raft.ServerID(c.host.ID().String())
	conf.HeartbeatTimeout = rc.Heartbeat
	conf.ElectionTimeout = rc.Election
	conf.LeaderLeaseTimeout = rc.LeaderLease
	conf.CommitTimeout = 50 * time.Millisecond
	// Key epochs put ~260 KB public-key shares in the log: 16 entries per
	// append bound one RPC to a few MB (raft's default of 64 could make
	// 16 MB ones for a member catching up).
	conf.MaxAppendEntries = 16
	conf.SnapshotThreshold = rc.SnapshotThreshold
	conf.TrailingLogs = rc.TrailingLogs
	conf.SnapshotInterval = rc.SnapshotInterval
	conf.Logger = raftnet.HCLog(c.log.With("component", "raft"))
	trans, err := raftnet.NewTransport(raftnet.Config{Host: c.host.Raw(), Allowed: c.inRaft, Timeout: 2 * rc.Election}, c.log)
	if err != nil {
		return err
	}
	if bootstrap != nil {
		if err := raft.BootstrapCluster(conf, c.db.RaftLog(), c.db.RaftLog(), c.snaps, trans.NetworkTransport, *bootstrap); err != nil {
			trans.Close()
			return fmt.Errorf("consortium: bootstrap raft: %w", err)
		}
	}
	r, err := raft.NewRaft(conf, c.fsm, c.db.RaftLog(), c.db.RaftLog(), c.snaps, trans.NetworkTransport)
	if err != nil {
		trans.Close()
		return fmt.Errorf("consortium: start raft: %w", err)
	}
	c.raft, c.trans = r, trans
	c.learnServers()
	c.unwatch = c.watchHeartbeats(r)
	return nil
}

// watchHeartbeats records, while this node leads, which servers miss its
// heartbeats and since when, until the returned function is called.
func (c *consortium) watchHeartbeats(r *raft.Raft) (stop func()) {
	ch := make(chan raft.Observation, 64)
	obs := raft.NewObserver(ch, false, func(o *raft.Observation) bool {
		switch o.Data.(type) {
		case raft.FailedHeartbeatObservation, raft.ResumedHeartbeatObservation:
			return true
		}
		return false
	})
	r.RegisterObserver(obs)
	c.failing = map[raft.ServerID]time.Time{}
	done := make(chan struct{})
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		for {
			select {
			case <-done:
				return
			case o := <-ch:
				c.mu.Lock()
				switch d := o.Data.(type) {
				case raft.FailedHeartbeatObservation:
					c.failing[d.PeerID] = d.LastContact
				case raft.ResumedHeartbeatObservation:
					delete(c.failing, d.PeerID)
				}
				c.mu.Unlock()
			}
		}
	}()
	return func() {
		r.DeregisterObserver(obs)
		close(done)
	}
}

func (c *consortium) getRaft() *raft.Raft {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.raft
}

// learnServers allows every server of raft's configuration to connect, so
// a restarted node talks to members its state machine has not replayed
// yet.
func (c *consortium) learnServers() {
	if c.raft == nil {
		return
	}
	f := c.raft.GetConfiguration()
	if f.Error() != nil {
		return
	}
	for _, s := range f.Configuration().Servers {
		if id, err := peer.Decode(string(s.ID)); err == nil && id != c.host.ID() {
			c.known.Add(id)
			c.host.Protect(id)
		}
	}
}

// learnMembers puts every admitted member's addresses in the peerstore
// and protects its connections.
func (c *consortium) learnMembers() {
	if c.host == nil {
		return
	}
	var members []contracts.Membership
	c.fsm.Read(func(s *contracts.State) { members = s.Members() })
	for _, m := range members {
		if m.State != contracts.MemberAdmitted || m.Member.PeerID == c.host.ID().String() {
			continue
		}
		info, err := protocol.AddrInfo(m.Member)
		if err != nil {
			c.log.Warn("member descriptor", "org", string(m.Member.Org), "err", err)
			continue
		}
		c.host.AddPeer(info)
		c.host.Protect(info.ID)
	}
}

// identity is this node's member descriptor, signed with its governance
// key.
func (c *consortium) identity(cfg Config) kpi.Member {
	m := kpi.Member{
		Org: kpi.OrgID(cfg.Org), Name: cfg.Name, Kind: cfg.Kind,
		PeerID: c.host.ID().String(),
	}
	for _, a := range c.host.Addrs() {
		m.Addrs = append(m.Addrs, a.String())
	}
	m.Sign(c.home.GovernanceKey)
	return m
}

// raftIndexes are raft's log positions for status: the last index, the
// last applied to the governance state and the last snapshot's.
func (c *consortium) raftIndexes() (last, applied, snapshot uint64) {
	r := c.getRaft()
	if r == nil {
		return 0, 0, 0
	}
	st := r.Stats()
	last, _ = strconv.ParseUint(st["last_log_index"], 10, 64)
	snapshot, _ = strconv.ParseUint(st["last_snapshot_index"], 10, 64)
	return last, c.fsm.Index(), snapshot
}

// raftState is the node's view of raft for status.
func (c *consortium) raftState() (state, leader string) {
	r := c.getRaft()
	if r == nil {
		return "none", ""
	}
	_, id := r.LeaderWithID()
	switch r.State() {
	case raft.Leader:
		state = "leader"
	case raft.Candidate:
		state = "candidate"
	case raft.Shutdown:
		state = "none"
	default:
		state = "follower"
	}
	return state, string(id)
}

// voters returns raft's servers by suffrage.
func (c *consortium) servers() (voters, nonvoters map[string]bool) {
	voters, nonvoters = map[string]bool{}, map[string]bool{}
	r := c.getRaft()
	if r == nil {
		return
	}
	f := r.GetConfiguration()
	if f.Error() != nil {
		return
	}
	for _, s := range f.Configuration().Servers {
		if s.Suffrage == raft.Voter {
			voters[string(s.ID)] = true
		} else {
			nonvoters[string(s.ID)] = true
		}
	}
	return
}

// addServer adds an admitted member's node to raft, as a voter while there
// are fewer than maxVoters. Only the leader can.
func (c *consortium) addServer(p peer.ID) error {
	r := c.getRaft()
	if r == nil || r.State() != raft.Leader {
		return raft.ErrNotLeader
	}
	if !c.admittedPeer(p) {
		return fmt.Errorf("peer %s is not an admitted member: admit its organisation first (cxnet consortium admit)", p)
	}
	voters, nonvoters := c.servers()
	id := raft.ServerID(p.String())
	if voters[p.String()] || nonvoters[p.String()] {
		return nil
	}
	c.known.Add(p)
	var f raft.IndexFuture
	if len(voters) < maxVoters {
		f = r.AddVoter(id, raft.ServerAddress(p.String()), 0, 30*time.Second)
	} else {
		f = r.AddNonvoter(id, raft.ServerAddress(p.String()), 0, 30*time.Second)
	}
	if err := f.Error(); err != nil {
		return err
	}
	c.keys.poke() // every member may have joined now: time for a key epoch
	return nil
}

func (c *consortium) admittedPeer(p peer.ID) bool {
	ok := false
	c.fsm.Read(func(s *contracts.State) { ok = s.PeerAllowed(p.String()) })
	return ok
}

// manageVoters keeps maxVoters healthy voters while the node leads: a
// non-voter is promoted when voters are missing, and takes the vote of a
// voter that has missed heartbeats for longer than DeadVoterAfter (which is
// demoted to non-voter and catches up if it returns).
func (c *consortium) manageVoters() {
	rc := c.cfg.Raft
	rc.fill()
	r := c.getRaft()
	if r == nil {
		return
	}
	if r.State() != raft.Leader {
		c.mu.Lock()
		clear(c.failing) // another leader's view will be different
		c.mu.Unlock()
		return
	}
	voters, nonvoters := c.servers()
	c.mu.Lock()
	dead, healthy := []string{}, []string{}
	for id := range voters {
		if last, ok := c.failing[raft.ServerID(id)]; ok && time.Since(last) > rc.DeadVoterAfter {
			dead = append(dead, id)
		}
	}
	for id := range nonvoters {
		if _, failing := c.failing[raft.ServerID(id)]; !failing {
			healthy = append(healthy, id)
		}
	}
	c.mu.Unlock()
	// Promote first, so that the vote count never drops while a dead
	// voter is replaced; then demote dead voters beyond maxVoters. The
	// two steps are separate so that a demotion that failed (the lead
	// moved, a timeout) is taken up again by whoever leads next.
	for len(healthy) > 0 && len(voters)-len(dead) < maxVoters {
		id := healthy[0]
		healthy = healthy[1:]
		if err := r.AddVoter(raft.ServerID(id), raft.ServerAddress(id), 0, 10*time.Second).Error(); err != nil {
			c.log.Warn("promote non-voter", "peer", id, "err", err)
			break
		}
		c.log.Info("promoted non-voter to voter", "peer", id)
		voters[id] = true
	}
	for len(voters) > maxVoters && len(dead) > 0 {
		gone := dead[0]
		dead = dead[1:]
		if err := r.DemoteVoter(raft.ServerID(gone), 0, 10*time.Second).Error(); err != nil {
			c.log.Warn("demote unreachable voter", "peer", gone, "err", err)
			break
		}
		c.log.Warn("demoted a voter that missed heartbeats", "peer", gone, "for", rc.DeadVoterAfter)
		delete(voters, gone)
	}
}

// freshen is sync for reads: it tries for up to 10s (a restarted node may
// wait for the leader's replication backoff), and a read falls back to
// this node's own copy of the state when the leader is out of reach (a
// partitioned node still answers, possibly stale).
func (c *consortium) freshen(ctx context.Context) {
	if c.getRaft() == nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := c.sync(ctx); err != nil {
		c.log.Debug("reading possibly stale governance state", "err", err)
	}
}

// seedPeers tells the host where the members are before raft has replayed
// the log (raft applies entries only once it hears of the commit index, and
// it cannot hear without addresses): the members of the restored snapshot
// and of every governance entry in the local log, applied to a scratch
// state.
func (c *consortium) seedPeers() {
	c.learnMembers()
	logs := c.db.RaftLog()
	first, err1 := logs.FirstIndex()
	last, err2 := logs.LastIndex()
	if err1 != nil || err2 != nil || last == 0 {
		return
	}
	// The scratch state starts from this node's own (a restored snapshot,
	// whose entries the log may no longer hold) and takes the log from
	// there.
	var snap []byte
	c.fsm.Read(func(s *contracts.State) { snap, _ = json.Marshal(s) })
	from := max(first, c.fsm.Index()+1)
	scratch := contracts.NewState()
	if err := json.Unmarshal(snap, scratch); err != nil {
		c.log.Warn("seed peers from the local log", "err", err)
		return
	}
	var l raft.Log
	for i := from; i <= last; i++ {
		if logs.GetLog(i, &l) != nil || l.Type != raft.LogCommand {
			continue
		}
		scratch.Apply(i, l.Data) // refusals are the log's business, not ours
	}
	for _, m := range scratch.Members() {
		if m.State != contracts.MemberAdmitted || m.Member.PeerID == c.host.ID().String() {
			continue
		}
		if info, err := protocol.AddrInfo(m.Member); err == nil {
			c.known.Add(info.ID)
			c.host.AddPeer(info)
			c.host.Protect(info.ID)
		}
	}
}

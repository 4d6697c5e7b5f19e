package node

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/cxnet/cxnet/contracts"
	"github.com/cxnet/cxnet/protocol"
	"github.com/cxnet/cxnet/protocol/raftnet"
	"github.com/cxnet/cxnet/store"
)

// maxVoters is how many members vote in raft; further members replicate
// the log as non-voters.
const maxVoters = 5

// raftManager runs the raft that replicates the governance log, once the
// node has created or joined a consortium: it starts and stops raft, adds
// servers, keeps maxVoters healthy voters while it leads, and submits
// entries and reads through the leader (governance.go). What it needs of
// the rest of the node it gets as functions.
type raftManager struct {
	cfg  RaftConfig
	now  func() time.Time
	log  *slog.Logger
	fsm  *contracts.FSM
	logs *store.RaftLog
	dir  string // raft's snapshots
	// host is the node's libp2p host (set before raft starts).
	host *protocol.Host
	// inRaft says whether a peer may speak raft to this node; admitted
	// whether a peer is an admitted member's node.
	inRaft, admitted func(peer.ID) bool
	// onServers learns the servers of raft's configuration (at start),
	// onAdded a server this leader added.
	onServers func([]peer.ID)
	onAdded   func(peer.ID)
	// onChange is called when raft starts, stops, sees a new leader or
	// (on the leader) changes its servers.
	onChange func()

	snaps raft.SnapshotStore // opened by open

	mu    sync.Mutex // guards raft, trans, failing
	raft  *raft.Raft
	trans *raftnet.Transport
	// failing maps a server the leader cannot reach to its last contact.
	failing map[raft.ServerID]time.Time
	// unwatch stops the heartbeat watcher of the running raft.
	unwatch func()
	wg      sync.WaitGroup

	// readTerm is the raft term in which this node, as leader, committed
	// the barrier that readIndex needs once per term.
	readTerm atomic.Uint64
	// applied wakes waitApplied when the state machine applies a
	// command entry.
	applied broadcast
	// nudger carries each commit to the followers at once.
	nudger *commitNudger
	// loseReplies > 0 makes lead answer that many applied entries with
	// raft.ErrLeadershipLost (fault injection for tests: export_test.go).
	loseReplies atomic.Int32
}

// open opens raft's snapshot store and reports whether the node's store
// holds raft state (the node created or joined a consortium before).
func (m *raftManager) open() (existing bool, err error) {
	if err := os.MkdirAll(m.dir, 0o700); err != nil {
		return false, fmt.Errorf("consortium: raft snapshots: %w", err)
	}
	s, err := raft.NewFileSnapshotStoreWithLogger(m.dir, 2, raftnet.HCLog(m.log.With("component", "raft-snapshots")))
	if err != nil {
		return false, fmt.Errorf("consortium: raft snapshots in %s: %w", m.dir, err)
	}
	m.snaps = s
	existing, err = raft.HasExistingState(m.logs, m.logs, m.snaps)
	if err != nil {
		return false, fmt.Errorf("consortium: read raft state: %w", err)
	}
	return existing, nil
}

// start starts raft on the node's store. bootstrap, when set, is the
// first configuration (consortium create).
func (m *raftManager) start(bootstrap *raft.Configuration) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.raft != nil {
		return errors.New("this node already takes part in a consortium")
	}
	rc := m.cfg
	conf := raft.DefaultConfig()
	conf.LocalID = raft.ServerID(m.host.ID().String())
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
	conf.Logger = raftnet.HCLog(m.log.With("component", "raft"))
	trans, err := raftnet.NewTransport(raftnet.Config{Host: m.host.Raw(), Allowed: m.inRaft, Timeout: 2 * rc.Election}, m.log)
	if err != nil {
		return err
	}
	if bootstrap != nil {
		if err := raft.BootstrapCluster(conf, m.logs, m.logs, m.snaps, trans.NetworkTransport, *bootstrap); err != nil {
			trans.Close()
			return fmt.Errorf("consortium: bootstrap raft: %w", err)
		}
	}
	r, err := raft.NewRaft(conf, m.fsm, m.logs, m.logs, m.snaps, trans.NetworkTransport)
	if err != nil {
		trans.Close()
		return fmt.Errorf("consortium: start raft: %w", err)
	}
	m.raft, m.trans = r, trans
	// Every server of raft's configuration may connect, so a restarted
	// node talks to members its state machine has not replayed yet.
	var servers []peer.ID
	for _, s := range configuration(r).Servers {
		if id, err := peer.Decode(string(s.ID)); err == nil && id != m.host.ID() {
			servers = append(servers, id)
		}
	}
	m.onServers(servers)
	m.unwatch = m.watch(r)
	m.onChange()
	return nil
}

// stop shuts raft down; the node keeps its raft state on disk.
func (m *raftManager) stop() {
	defer m.wg.Wait()
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.raft == nil {
		return
	}
	m.unwatch()
	if err := m.raft.Shutdown().Error(); err != nil {
		m.log.Warn("raft shutdown", "err", err)
	}
	// Closing the transport waits for inbound requests in flight: raft
	// writes terms and votes while handling them, and the store closes
	// after this.
	if err := m.trans.Close(); err != nil {
		m.log.Warn("raft transport close", "err", err)
	}
	m.raft, m.trans = nil, nil
	m.onChange()
}

// get is the running raft, nil before the node creates or joins a
// consortium.
func (m *raftManager) get() *raft.Raft {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.raft
}

// leads reports whether this node leads raft.
func (m *raftManager) leads() bool {
	r := m.get()
	return r != nil && r.State() == raft.Leader
}

// configuration is raft's latest configuration (empty when it cannot
// tell).
func configuration(r *raft.Raft) raft.Configuration {
	f := r.GetConfiguration()
	if f.Error() != nil {
		return raft.Configuration{}
	}
	return f.Configuration()
}

// watch records, while this node leads, which servers miss its
// heartbeats and since when, and tells onChange of each new leader, until
// the returned function is called.
func (m *raftManager) watch(r *raft.Raft) (stop func()) {
	ch := make(chan raft.Observation, 64)
	obs := raft.NewObserver(ch, false, func(o *raft.Observation) bool {
		switch o.Data.(type) {
		case raft.FailedHeartbeatObservation, raft.ResumedHeartbeatObservation, raft.LeaderObservation:
			return true
		}
		return false
	})
	r.RegisterObserver(obs)
	m.failing = map[raft.ServerID]time.Time{}
	done := make(chan struct{})
	m.wg.Go(func() {
		for {
			select {
			case <-done:
				return
			case o := <-ch:
				m.mu.Lock()
				switch d := o.Data.(type) {
				case raft.FailedHeartbeatObservation:
					m.failing[d.PeerID] = d.LastContact
				case raft.ResumedHeartbeatObservation:
					delete(m.failing, d.PeerID)
				}
				m.mu.Unlock()
				if _, ok := o.Data.(raft.LeaderObservation); ok {
					m.onChange()
				}
			}
		}
	})
	return func() {
		r.DeregisterObserver(obs)
		close(done)
	}
}

// indexes are raft's log positions for status: the last index, the last
// applied to the governance state and the last snapshot's.
func (m *raftManager) indexes() (last, applied, snapshot uint64) {
	r := m.get()
	if r == nil {
		return 0, 0, 0
	}
	st := r.Stats()
	last, _ = strconv.ParseUint(st["last_log_index"], 10, 64)
	snapshot, _ = strconv.ParseUint(st["last_snapshot_index"], 10, 64)
	return last, m.fsm.Index(), snapshot
}

// state is the node's view of raft for status.
func (m *raftManager) state() (state, leader string) {
	r := m.get()
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

// servers returns raft's servers by suffrage.
func (m *raftManager) servers() (voters, nonvoters map[string]bool) {
	voters, nonvoters = map[string]bool{}, map[string]bool{}
	r := m.get()
	if r == nil {
		return
	}
	for _, s := range configuration(r).Servers {
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
func (m *raftManager) addServer(p peer.ID) error {
	r := m.get()
	if r == nil || r.State() != raft.Leader {
		return raft.ErrNotLeader
	}
	if !m.admitted(p) {
		return fmt.Errorf("peer %s is not an admitted member: admit its organisation first (cxnet consortium admit)", p)
	}
	voters, nonvoters := m.servers()
	id := raft.ServerID(p.String())
	if voters[p.String()] || nonvoters[p.String()] {
		return nil
	}
	var f raft.IndexFuture
	if len(voters) < maxVoters {
		f = r.AddVoter(id, raft.ServerAddress(p.String()), 0, 30*time.Second)
	} else {
		f = r.AddNonvoter(id, raft.ServerAddress(p.String()), 0, 30*time.Second)
	}
	if err := f.Error(); err != nil {
		return err
	}
	m.onAdded(p)
	m.onChange()
	return nil
}

// manageVoters keeps maxVoters healthy voters while the node leads: a
// non-voter is promoted when voters are missing, and takes the vote of a
// voter that has missed heartbeats for longer than DeadVoterAfter (which is
// demoted to non-voter and catches up if it returns).
func (m *raftManager) manageVoters() {
	r := m.get()
	if r == nil {
		return
	}
	if r.State() != raft.Leader {
		m.mu.Lock()
		clear(m.failing) // another leader's view will be different
		m.mu.Unlock()
		return
	}
	voters, nonvoters := m.servers()
	now := m.now()
	m.mu.Lock()
	dead, healthy := []string{}, []string{}
	for id := range voters {
		if last, ok := m.failing[raft.ServerID(id)]; ok && now.Sub(last) > m.cfg.DeadVoterAfter {
			dead = append(dead, id)
		}
	}
	for id := range nonvoters {
		if _, failing := m.failing[raft.ServerID(id)]; !failing {
			healthy = append(healthy, id)
		}
	}
	m.mu.Unlock()
	// Promote first, so that the vote count never drops while a dead
	// voter is replaced; then demote dead voters beyond maxVoters. The
	// two steps are separate so that a demotion that failed (the lead
	// moved, a timeout) is taken up again by whoever leads next.
	for len(healthy) > 0 && len(voters)-len(dead) < maxVoters {
		id := healthy[0]
		healthy = healthy[1:]
		if err := r.AddVoter(raft.ServerID(id), raft.ServerAddress(id), 0, 10*time.Second).Error(); err != nil {
			m.log.Warn("promote non-voter", "peer", id, "err", err)
			break
		}
		m.log.Info("promoted non-voter to voter", "peer", id)
		voters[id] = true
		m.onChange()
	}
	for len(voters) > maxVoters && len(dead) > 0 {
		gone := dead[0]
		dead = dead[1:]
		if err := r.DemoteVoter(raft.ServerID(gone), 0, 10*time.Second).Error(); err != nil {
			m.log.Warn("demote unreachable voter", "peer", gone, "err", err)
			break
		}
		m.log.Warn("demoted a voter that missed heartbeats", "peer", gone, "for", m.cfg.DeadVoterAfter)
		delete(voters, gone)
		m.onChange()
	}
}

package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/raft"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/cxnet/cxnet/contracts"
	"github.com/cxnet/cxnet/node/api"
	"github.com/cxnet/cxnet/protocol/gov"
	"github.com/cxnet/cxnet/protocol/rpc"
)

// errNoConsortium: the node has neither created nor joined a consortium.
var errNoConsortium = inputError{"this node is not in a consortium yet: found one with `cxnet consortium create`, or join one with `cxnet consortium join --via ADDR` once admitted"}

// rejected is a governance entry the state machine refused (on this node
// or on the leader); its message says why.
type rejected struct{ msg string }

func (e rejected) Error() string        { return e.msg }
func (e rejected) Is(target error) bool { return target == api.ErrInput }

// sync waits until this node's state machine has applied everything the
// leader had committed when sync was called, so that a command that reads
// the state (approve, show) sees what another member just did. It writes
// nothing to the log (see readIndex).
func (m *raftManager) sync(ctx context.Context) error {
	ev, err := m.toLeader(ctx, gov.Request{Op: gov.OpBarrier}, nil)
	if err != nil {
		return err
	}
	return m.waitApplied(ctx, ev.Index)
}

// readIndex is raft's read index (§6.4 of Ongaro's thesis), on the
// leader: an index that covers every entry committed before the call,
// confirmed by a heartbeat round that this node still leads, so a read
// costs no log entry. A new leader's commit index may lag what its
// predecessor committed until it commits an entry of its own term, so
// once per term it commits a barrier first.
func (m *raftManager) readIndex(r *raft.Raft) (uint64, error) {
	term := r.CurrentTerm()
	if m.readTerm.Load() != term {
		if err := r.Barrier(10 * time.Second).Error(); err != nil {
			return 0, err
		}
		m.readTerm.Store(term)
	}
	idx := r.CommitIndex()
	if err := r.VerifyLeader().Error(); err != nil {
		return 0, err
	}
	if r.CurrentTerm() != term {
		return 0, raft.ErrLeadershipLost
	}
	return idx, nil
}

// waitApplied waits until this node's state machine has applied every
// command entry up to raft index idx.
func (m *raftManager) waitApplied(ctx context.Context, idx uint64) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var last uint64 // the last command entry at or before idx, once known
	known := false
	for {
		r := m.get()
		if r == nil {
			return errNoConsortium
		}
		woken := m.applied.wait() // taken before the index is read: no wake-up is missed
		applied := m.fsm.Index()
		if applied >= idx {
			return nil
		}
		// Only command entries count: idx itself may be a barrier, a
		// no-op or a configuration change, which the state machine never
		// sees. Which entries up to idx are commands is known once raft
		// has handed them to the state machine, or as soon as this
		// node's log holds the leader's entry at idx (of the current
		// term: by raft's log matching, every entry before it is the
		// leader's too), so that a barrier the leader appended last (a
		// nudge, a read index) is not waited for.
		if !known && (r.AppliedIndex() >= idx || m.holdsLeaderEntry(r, idx)) {
			last, known = m.lastCommand(idx, applied), true
		}
		if known && applied >= last {
			return nil
		}
		// The state machine wakes us when it applies a command entry;
		// raft's applied index (non-command entries) is polled.
		select {
		case <-ctx.Done():
			return fmt.Errorf("this node has not caught up with the governance log (at %d of %d): %w", applied, idx, ctx.Err())
		case <-woken:
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// holdsLeaderEntry says whether this node's log holds, at idx, an entry
// of raft's current term (the current leader's).
func (m *raftManager) holdsLeaderEntry(r *raft.Raft, idx uint64) bool {
	if r.LastIndex() < idx {
		return false
	}
	var l raft.Log
	return m.logs.GetLog(idx, &l) == nil && l.Term == r.CurrentTerm()
}

// lastCommand returns the index of the last command entry of the local
// log in (floor, idx], or floor when there is none. An entry compacted
// away counts as applied: a snapshot of this node's state machine holds
// it.
func (m *raftManager) lastCommand(idx, floor uint64) uint64 {
	var l raft.Log
	for i := idx; i > floor; i-- {
		if err := m.logs.GetLog(i, &l); err != nil {
			return floor
		}
		if l.Type == raft.LogCommand {
			return i
		}
	}
	return floor
}

// submit applies a signed governance entry through raft: directly on the
// leader, otherwise forwarded to it. It retries while leadership moves
// but never puts the entry in the log twice: an attempt whose reply was
// lost (the leader stepped down or the stream broke after the entry was
// sent) may still commit, so before sending again it syncs with the
// current leader and looks the entry up among those this node applied
// since the first attempt.
func (m *raftManager) submit(ctx context.Context, entry []byte) (contracts.Event, error) {
	start := m.fsm.Index()
	ev, err := m.toLeader(ctx, gov.Request{Op: gov.OpApply, Entry: entry}, func() (contracts.Event, bool, error) {
		if err := m.sync(ctx); err != nil {
			return contracts.Event{}, true, fmt.Errorf("the raft leader changed while the entry was submitted, and whether it was applied is not known yet (%w); look at `cxnet audit` before submitting it again", err)
		}
		res, ok := m.fsm.Applied(entry, start)
		if !ok {
			return contracts.Event{}, false, nil // not in the log: send it again
		}
		if res.Err != nil {
			return res.Event, true, rejected{res.Err.Error()}
		}
		return res.Event, true, nil
	})
	if ev.Index > 0 {
		// Read-your-writes: the caller's next command on this node sees it.
		if werr := m.waitApplied(ctx, ev.Index); werr != nil && err == nil {
			err = werr
		}
	}
	return ev, err
}

// toLeader carries out req on the raft leader, retrying while leadership
// moves. Before each retry it calls settle, when not nil: settle reports
// done when the earlier attempt turns out to have taken effect, with its
// outcome, or when it cannot tell.
func (m *raftManager) toLeader(ctx context.Context, req gov.Request, settle func() (contracts.Event, bool, error)) (contracts.Event, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var lastErr error
	var hint peer.ID // the leader a follower named, while this node knows none
	for attempt := 0; ; attempt++ {
		if attempt > 0 && settle != nil {
			if ev, done, err := settle(); done {
				return ev, err
			}
		}
		var ev contracts.Event
		var err error
		r := m.get()
		if r == nil {
			return contracts.Event{}, errNoConsortium
		}
		_, lid := r.LeaderWithID()
		leader, _ := peer.Decode(string(lid)) // raft's server ids are peer ids
		switch {
		case r.State() == raft.Leader:
			ev, err = m.lead(req)
		case leader != "":
			hint = ""
			ev, err = m.forward(ctx, leader, req)
		case hint != "":
			ev, err = m.forward(ctx, hint, req)
		default:
			err = raft.ErrNotLeader
		}
		var unreachable *gov.UnreachableError
		var notLeader *gov.NotLeaderError
		switch {
		case errors.As(err, &unreachable):
			lastErr, hint = err, "" // the leader may be gone; raft elects another
		case errors.As(err, &notLeader):
			hint = notLeader.Leader
		case errors.Is(err, raft.ErrNotLeader), errors.Is(err, raft.ErrLeadershipLost):
		default:
			return ev, err
		}
		select {
		case <-ctx.Done():
			if lastErr != nil {
				return contracts.Event{}, fmt.Errorf("no raft leader reachable (is a majority of voting members up?): %w", lastErr)
			}
			return contracts.Event{}, fmt.Errorf("no raft leader reachable (is a majority of voting members up?): %w", ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// lead carries out a request on this node, the leader.
func (m *raftManager) lead(req gov.Request) (contracts.Event, error) {
	r := m.get()
	if r == nil {
		return contracts.Event{}, errNoConsortium
	}
	switch req.Op {
	case gov.OpApply:
		f := r.Apply(req.Entry, 10*time.Second)
		if err := f.Error(); err != nil {
			return contracts.Event{}, err
		}
		m.nudger.nudge()
		if m.loseReplies.Load() > 0 && m.loseReplies.Add(-1) >= 0 {
			return contracts.Event{}, raft.ErrLeadershipLost
		}
		res, ok := f.Response().(*contracts.ApplyResult)
		if !ok {
			return contracts.Event{}, errors.New("governance: unexpected apply result")
		}
		if res.Err != nil {
			return res.Event, rejected{res.Err.Error()}
		}
		return res.Event, nil
	case gov.OpBarrier:
		// The index a reader must reach (a raft index: waitApplied).
		idx, err := m.readIndex(r)
		return contracts.Event{Index: idx}, err
	case gov.OpAddServer:
		p, err := peer.Decode(req.Peer)
		if err != nil {
			return contracts.Event{}, fmt.Errorf("add server: %w", err)
		}
		return contracts.Event{}, m.addServer(p)
	}
	return contracts.Event{}, fmt.Errorf("unknown governance operation %q", req.Op)
}

// forward carries out req on the raft leader, another node.
func (m *raftManager) forward(ctx context.Context, leader peer.ID, req gov.Request) (contracts.Event, error) {
	cl := gov.NewClient(m.host.Raw(), rpc.Limits{})
	switch req.Op {
	case gov.OpBarrier:
		idx, err := cl.Barrier(ctx, leader)
		return contracts.Event{Index: idx}, err
	case gov.OpAddServer:
		p, _ := peer.Decode(req.Peer)
		return contracts.Event{}, cl.AddServer(ctx, leader, p)
	}
	a, err := cl.Apply(ctx, leader, req.Entry)
	if err != nil {
		return contracts.Event{}, err
	}
	var ev contracts.Event
	if err := json.Unmarshal(a.Event, &ev); err != nil {
		return contracts.Event{}, fmt.Errorf("the raft leader %s's event: %w", leader, err)
	}
	if a.Rejected != "" {
		return ev, rejected{a.Rejected}
	}
	return ev, nil
}

// govBackend is the leader's side of /cxnet/gov (package protocol/gov):
// what this node does for the other servers of raft while it leads.
type govBackend struct{ m *raftManager }

var _ gov.Backend = govBackend{}

// leadFor carries out req for another server; a node that does not lead
// answers with the leader it knows.
func (b govBackend) leadFor(req gov.Request) (contracts.Event, error) {
	r := b.m.get()
	notLeader := func() error {
		nl := &gov.NotLeaderError{}
		if r != nil {
			_, lid := r.LeaderWithID()
			nl.Leader, _ = peer.Decode(string(lid))
		}
		return nl
	}
	if r == nil || r.State() != raft.Leader {
		return contracts.Event{}, notLeader()
	}
	ev, err := b.m.lead(req)
	if errors.Is(err, raft.ErrNotLeader) || errors.Is(err, raft.ErrLeadershipLost) {
		return ev, notLeader()
	}
	return ev, err
}

func (b govBackend) Apply(_ context.Context, _ peer.ID, entry []byte) (gov.Applied, error) {
	ev, err := b.leadFor(gov.Request{Op: gov.OpApply, Entry: entry})
	var rej rejected
	if err != nil && !errors.As(err, &rej) {
		return gov.Applied{}, err
	}
	raw, merr := json.Marshal(ev)
	if merr != nil {
		return gov.Applied{}, merr
	}
	return gov.Applied{Event: raw, Rejected: rej.msg}, nil
}

func (b govBackend) Barrier(context.Context, peer.ID) (uint64, error) {
	ev, err := b.leadFor(gov.Request{Op: gov.OpBarrier})
	return ev.Index, err
}

func (b govBackend) AddServer(_ context.Context, _, p peer.ID) error {
	_, err := b.leadFor(gov.Request{Op: gov.OpAddServer, Peer: p.String()})
	return err
}

// freshen is sync for reads: it tries for up to 10s (a restarted node may
// wait for the leader's replication backoff), and a read falls back to
// this node's own copy of the state when the leader is out of reach (a
// partitioned node still answers, possibly stale).
func (m *raftManager) freshen(ctx context.Context) {
	if m.get() == nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := m.sync(ctx); err != nil {
		m.log.Debug("reading possibly stale governance state", "err", err)
	}
}

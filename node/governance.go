package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/raft"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/cxnet/cxnet/contracts"
	"github.com/cxnet/cxnet/kpi"
	"github.com/cxnet/cxnet/protocol"
	"github.com/cxnet/cxnet/protocol/gov"
	"github.com/cxnet/cxnet/protocol/join"
	"github.com/cxnet/cxnet/protocol/rpc"
)

// errNoConsortium: the node has neither created nor joined a consortium.
var errNoConsortium = inputError{"this node is not in a consortium yet: found one with `cxnet consortium create`, or join one with `cxnet consortium join --via ADDR` once admitted"}

// rejected is a governance entry the state machine refused (on this node
// or on the leader); its message says why.
type rejected struct{ msg string }

func (e rejected) Error() string        { return e.msg }
func (e rejected) Is(target error) bool { return target == errInput }

// sync waits until this node's state machine has applied everything the
// leader had committed when sync was called, so that a command that reads
// the state (approve, show) sees what another member just did. It writes
// nothing to the log (see readIndex).
func (c *consortium) sync(ctx context.Context) error {
	ev, err := c.toLeader(ctx, gov.Request{Op: gov.OpBarrier}, nil)
	if err != nil {
		return err
	}
	return c.waitApplied(ctx, ev.Index)
}

// readIndex is raft's read index (§6.4 of Ongaro's thesis), on the
// leader: an index that covers every entry committed before the call,
// confirmed by a heartbeat round that this node still leads, so a read
// costs no log entry. A new leader's commit index may lag what its
// predecessor committed until it commits an entry of its own term, so
// once per term it commits a barrier first.
func (c *consortium) readIndex(r *raft.Raft) (uint64, error) {
	term := r.CurrentTerm()
	if c.readTerm.Load() != term {
		if err := r.Barrier(10 * time.Second).Error(); err != nil {
			return 0, err
		}
		c.readTerm.Store(term)
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
func (c *consortium) waitApplied(ctx context.Context, idx uint64) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var last uint64 // the last command entry at or before idx, once known
	known := false
	for {
		r := c.getRaft()
		if r == nil {
			return errNoConsortium
		}
		woken := c.appliedSignal() // taken before the index is read: no wake-up is missed
		applied := c.fsm.Index()
		if applied >= idx {
			return nil
		}
		// Once raft has handed every entry up to idx to the state
		// machine, only command entries count: idx itself may be a
		// barrier, a no-op or a configuration change, which the state
		// machine never sees.
		if !known && r.AppliedIndex() >= idx {
			last, known = c.lastCommand(idx, applied), true
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

// appliedSignal returns a channel closed the next time the state machine
// applies a command entry.
func (c *consortium) appliedSignal() <-chan struct{} {
	c.appliedMu.Lock()
	defer c.appliedMu.Unlock()
	if c.appliedCh == nil {
		c.appliedCh = make(chan struct{})
	}
	return c.appliedCh
}

// notifyApplied wakes every waitApplied: the state machine applied a
// command entry.
func (c *consortium) notifyApplied() {
	c.appliedMu.Lock()
	defer c.appliedMu.Unlock()
	if c.appliedCh != nil {
		close(c.appliedCh)
		c.appliedCh = nil
	}
}

// lastCommand returns the index of the last command entry of the local
// log in (floor, idx], or floor when there is none. An entry compacted
// away counts as applied: a snapshot of this node's state machine holds
// it.
func (c *consortium) lastCommand(idx, floor uint64) uint64 {
	var l raft.Log
	for i := idx; i > floor; i-- {
		if err := c.db.RaftLog().GetLog(i, &l); err != nil {
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
func (c *consortium) submit(ctx context.Context, entry []byte) (contracts.Event, error) {
	start := c.fsm.Index()
	ev, err := c.toLeader(ctx, gov.Request{Op: gov.OpApply, Entry: entry}, func() (contracts.Event, bool, error) {
		if err := c.sync(ctx); err != nil {
			return contracts.Event{}, true, fmt.Errorf("the raft leader changed while the entry was submitted, and whether it was applied is not known yet (%w); look at `cxnet audit` before submitting it again", err)
		}
		res, ok := c.fsm.Applied(entry, start)
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
		if werr := c.waitApplied(ctx, ev.Index); werr != nil && err == nil {
			err = werr
		}
	}
	return ev, err
}

// toLeader carries out req on the raft leader, retrying while leadership
// moves. Before each retry it calls settle, when not nil: settle reports
// done when the earlier attempt turns out to have taken effect, with its
// outcome, or when it cannot tell.
func (c *consortium) toLeader(ctx context.Context, req gov.Request, settle func() (contracts.Event, bool, error)) (contracts.Event, error) {
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
		r := c.getRaft()
		if r == nil {
			return contracts.Event{}, errNoConsortium
		}
		_, lid := r.LeaderWithID()
		leader, _ := peer.Decode(string(lid)) // raft's server ids are peer ids
		switch {
		case r.State() == raft.Leader:
			ev, err = c.lead(req)
		case leader != "":
			hint = ""
			ev, err = c.forward(ctx, leader, req)
		case hint != "":
			ev, err = c.forward(ctx, hint, req)
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
func (c *consortium) lead(req gov.Request) (contracts.Event, error) {
	r := c.getRaft()
	if r == nil {
		return contracts.Event{}, errNoConsortium
	}
	switch req.Op {
	case gov.OpApply:
		f := r.Apply(req.Entry, 10*time.Second)
		if err := f.Error(); err != nil {
			return contracts.Event{}, err
		}
		if c.loseReplies.Load() > 0 && c.loseReplies.Add(-1) >= 0 {
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
		idx, err := c.readIndex(r)
		return contracts.Event{Index: idx}, err
	case gov.OpAddServer:
		p, err := peer.Decode(req.Peer)
		if err != nil {
			return contracts.Event{}, fmt.Errorf("add server: %w", err)
		}
		return contracts.Event{}, c.addServer(p)
	}
	return contracts.Event{}, fmt.Errorf("unknown governance operation %q", req.Op)
}

// forward carries out req on the raft leader, another node.
func (c *consortium) forward(ctx context.Context, leader peer.ID, req gov.Request) (contracts.Event, error) {
	cl := gov.NewClient(c.host.Raw(), rpc.Limits{})
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
type govBackend struct{ c *consortium }

var _ gov.Backend = govBackend{}

// leadFor carries out req for another server; a node that does not lead
// answers with the leader it knows.
func (b govBackend) leadFor(req gov.Request) (contracts.Event, error) {
	r := b.c.getRaft()
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
	ev, err := b.c.lead(req)
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

// joinBackend is a member's side of /cxnet/join (package protocol/join):
// an admitted member's node asks to take part in raft.
type joinBackend struct{ c *consortium }

var _ join.Backend = joinBackend{}

// Join answers when the descriptor is the admitted one (the protocol
// checked it is signed and names the peer asking).
func (b joinBackend) Join(ctx context.Context, from peer.ID, req *join.Request) (*join.Reply, error) {
	c, m := b.c, req.Member
	reply := &join.Reply{Members: []kpi.Member{}}
	var admitted bool
	c.fsm.Read(func(s *contracts.State) {
		ms, ok := s.Member(m.Org)
		admitted = ok && ms.State == contracts.MemberAdmitted && ms.Member.PeerID == m.PeerID && ms.Member.GovernanceKey == m.GovernanceKey
		if cons, ok := s.Consortium(); ok {
			reply.Consortium = cons.Name
		}
		for _, x := range s.Members() {
			if x.State == contracts.MemberAdmitted {
				reply.Members = append(reply.Members, x.Member)
			}
		}
	})
	if !admitted {
		return nil, fmt.Errorf("organisation %s (peer %s) is not an admitted member of this consortium: a member proposes it with `cxnet consortium admit`, a majority approves", m.Org, from)
	}
	if req.Add {
		if _, err := c.toLeader(ctx, gov.Request{Op: gov.OpAddServer, Peer: from.String()}, nil); err != nil {
			return nil, fmt.Errorf("add to raft: %w", err)
		}
	}
	if r := c.getRaft(); r != nil {
		_, lid := r.LeaderWithID()
		reply.Leader = string(lid)
	}
	return reply, nil
}

// create founds a consortium on this node: raft is bootstrapped with this
// node as the only voter and the genesis entry is applied.
func (c *consortium) create(ctx context.Context, cfg Config, name string, minCohort int) (contracts.Event, error) {
	if c.getRaft() != nil {
		return contracts.Event{}, inputError{"this node already takes part in a consortium; a node belongs to one consortium"}
	}
	self := raft.ServerID(c.host.ID().String())
	boot := raft.Configuration{Servers: []raft.Server{{Suffrage: raft.Voter, ID: self, Address: raft.ServerAddress(self)}}}
	if err := c.startRaft(&boot); err != nil {
		return contracts.Event{}, err
	}
	entry, err := contracts.Sign(contracts.EntryGenesis, contracts.Genesis{
		Name: name, MinCohort: minCohort, AdmissionRule: contracts.AdmissionMajority, Founder: c.identity(cfg),
	}, kpi.OrgID(cfg.Org), c.home.GovernanceKey, "")
	if err != nil {
		return contracts.Event{}, err
	}
	return c.submit(ctx, entry)
}

// join makes this admitted member's node take part in the consortium that
// the node at via belongs to, and waits until it has caught up.
func (c *consortium) join(ctx context.Context, cfg Config, via string) (string, error) {
	if c.getRaft() != nil {
		return "", inputError{"this node already takes part in a consortium"}
	}
	addr, err := ma.NewMultiaddr(via)
	if err != nil {
		return "", inputError{fmt.Sprintf("--via %q is not a multiaddr: %v", via, err)}
	}
	info, err := peer.AddrInfoFromP2pAddr(addr)
	if err != nil {
		return "", inputError{fmt.Sprintf("--via %q must end in /p2p/<peer id> (copy an address from the member's `cxnet identity`): %v", via, err)}
	}
	// The member we join through is not in our (empty) member list yet:
	// the allow-list makes a time-bounded exception for it.
	revoke := c.host.Allowlist().AllowFor(info.ID, 2*time.Minute)
	defer revoke()
	// An admission just committed may not have reached that member's
	// state yet (its allow-list follows its state): retry a refusal
	// for a few seconds.
	for wait := time.Now().Add(10 * time.Second); ; {
		err := c.host.Connect(ctx, *info)
		if err == nil {
			break
		}
		if !errors.Is(err, protocol.ErrRefused) || time.Now().After(wait) {
			return "", err
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	// Raft runs before we ask, so the leader finds us ready. If the join
	// fails, raft stops again and the user can simply retry.
	if err := c.startRaft(nil); err != nil {
		return "", err
	}
	joined := false
	defer func() {
		if !joined {
			c.stopRaft()
		}
	}()
	// Learn the members first, so that the leader's first append from
	// whichever member leads is accepted; then ask to be added.
	var reply *join.Reply
	cl := join.NewClient(c.host.Raw(), rpc.Limits{})
	for _, add := range []bool{false, true} {
		if reply, err = cl.Join(ctx, info.ID, join.Request{Member: c.identity(cfg), Add: add}); err != nil {
			return "", err
		}
		for _, m := range reply.Members {
			if mi, err := protocol.AddrInfo(m); err == nil && mi.ID != c.host.ID() {
				c.known.Add(mi.ID)
				c.host.AddPeer(mi)
				c.host.Protect(mi.ID)
			}
		}
	}
	// Wait until our own copy of the state machine knows us as a member.
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		caught := false
		c.fsm.Read(func(s *contracts.State) { caught = s.IsAdmitted(kpi.OrgID(cfg.Org)) })
		if caught {
			joined = true
			return reply.Consortium, nil
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return "", errors.New("joined raft but did not receive the governance log within 60s; check that the members can reach this node's announced addresses")
}

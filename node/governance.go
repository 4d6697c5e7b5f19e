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
	"github.com/cxnet/cxnet/protocol/rpc"
)

// errNoConsortium: the node has neither created nor joined a consortium.
var errNoConsortium = inputError{"this node is not in a consortium yet: found one with `cxnet consortium create`, or join one with `cxnet consortium join --via ADDR` once admitted"}

// rejected is a governance entry the state machine refused (on this node
// or on the leader); its message says why.
type rejected struct{ msg string }

func (e rejected) Error() string        { return e.msg }
func (e rejected) Is(target error) bool { return target == errInput }

// govRequest is a message of the /cxnet/gov protocol, sent to the leader.
type govRequest struct {
	Op    string `json:"op"`              // "apply" | "add_server"
	Entry []byte `json:"entry,omitempty"` // apply: a signed governance entry
	Peer  string `json:"peer,omitempty"`  // add_server: the admitted member's peer id
}

type govReply struct {
	Event    *contracts.Event `json:"event,omitempty"`
	Rejected string           `json:"rejected,omitempty"`
}

// sync waits until this node's state machine has applied everything the
// leader had committed when sync was called, so that a command that reads
// the state (approve, show) sees what another member just did. It writes
// nothing to the log (see readIndex).
func (c *consortium) sync(ctx context.Context) error {
	ev, err := c.toLeader(ctx, govRequest{Op: "barrier"}, nil)
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
		// Only command entries count: idx itself may be a barrier, a
		// no-op or a configuration change, which the state machine never
		// sees. Which entries up to idx are commands is known once raft
		// has handed them to the state machine, or as soon as this
		// node's log holds the leader's entry at idx (of the current
		// term: by raft's log matching, every entry before it is the
		// leader's too), so that a barrier the leader appended last (a
		// nudge, a read index) is not waited for.
		if !known && (r.AppliedIndex() >= idx || c.holdsLeaderEntry(r, idx)) {
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

// holdsLeaderEntry says whether this node's log holds, at idx, an entry
// of raft's current term (the current leader's).
func (c *consortium) holdsLeaderEntry(r *raft.Raft, idx uint64) bool {
	if r.LastIndex() < idx {
		return false
	}
	var l raft.Log
	return c.db.RaftLog().GetLog(idx, &l) == nil && l.Term == r.CurrentTerm()
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

// errLeaderUnreachable: the node raft names as leader did not answer; it
// may have died, and a new leader is being elected.
type errLeaderUnreachable struct{ error }

func (e errLeaderUnreachable) Unwrap() error { return e.error }

// errNotLeaderText marks a gov reply from a node that lost the lead.
const errNotLeaderText = "not the raft leader"

// submit applies a signed governance entry through raft: directly on the
// leader, otherwise forwarded to it. It retries while leadership moves
// but never puts the entry in the log twice: an attempt whose reply was
// lost (the leader stepped down or the stream broke after the entry was
// sent) may still commit, so before sending again it syncs with the
// current leader and looks the entry up among those this node applied
// since the first attempt.
func (c *consortium) submit(ctx context.Context, entry []byte) (contracts.Event, error) {
	start := c.fsm.Index()
	ev, err := c.toLeader(ctx, govRequest{Op: "apply", Entry: entry}, func() (contracts.Event, bool, error) {
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
func (c *consortium) toLeader(ctx context.Context, req govRequest, settle func() (contracts.Event, bool, error)) (contracts.Event, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var lastErr error
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
		if r.State() == raft.Leader {
			ev, err = c.lead(req)
		} else if _, lid := r.LeaderWithID(); lid != "" {
			ev, err = c.forward(ctx, string(lid), req)
		} else {
			err = raft.ErrNotLeader
		}
		var unreachable errLeaderUnreachable
		if errors.As(err, &unreachable) {
			lastErr = err // the leader may be gone; raft elects another
		} else if !errors.Is(err, raft.ErrNotLeader) && !errors.Is(err, raft.ErrLeadershipLost) {
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
func (c *consortium) lead(req govRequest) (contracts.Event, error) {
	r := c.getRaft()
	if r == nil {
		return contracts.Event{}, errNoConsortium
	}
	switch req.Op {
	case "apply":
		f := r.Apply(req.Entry, 10*time.Second)
		if err := f.Error(); err != nil {
			return contracts.Event{}, err
		}
		c.nudger.nudge()
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
	case "barrier":
		// The index a reader must reach (a raft index: waitApplied).
		idx, err := c.readIndex(r)
		return contracts.Event{Index: idx}, err
	case "add_server":
		p, err := peer.Decode(req.Peer)
		if err != nil {
			return contracts.Event{}, fmt.Errorf("add server: %w", err)
		}
		return contracts.Event{}, c.addServer(p)
	}
	return contracts.Event{}, fmt.Errorf("unknown governance operation %q", req.Op)
}

func (c *consortium) forward(ctx context.Context, leader string, req govRequest) (contracts.Event, error) {
	lid, err := peer.Decode(leader)
	if err != nil {
		return contracts.Event{}, err
	}
	b, _ := json.Marshal(req)
	out, err := rpc.Call(ctx, c.host.Raw(), lid, protocol.GovID, b)
	var re *rpc.RemoteError
	if errors.As(err, &re) && re.Msg == errNotLeaderText {
		return contracts.Event{}, raft.ErrNotLeader
	}
	if errors.As(err, &re) {
		return contracts.Event{}, fmt.Errorf("the raft leader %s: %w", lid, err)
	}
	if err != nil {
		return contracts.Event{}, errLeaderUnreachable{fmt.Errorf("forward to the raft leader %s: %w", lid, err)}
	}
	var reply govReply
	if err := json.Unmarshal(out, &reply); err != nil {
		return contracts.Event{}, fmt.Errorf("leader's reply: %w", err)
	}
	var ev contracts.Event
	if reply.Event != nil {
		ev = *reply.Event
	}
	if reply.Rejected != "" {
		return ev, rejected{reply.Rejected}
	}
	return ev, nil
}

// handleGov serves /cxnet/gov on the leader: members forward entries and
// add-server requests here.
func (c *consortium) handleGov(ctx context.Context, from peer.ID, b []byte) ([]byte, error) {
	var req govRequest
	if err := json.Unmarshal(b, &req); err != nil {
		return nil, fmt.Errorf("bad governance request: %v", err)
	}
	if r := c.getRaft(); r == nil || r.State() != raft.Leader {
		return nil, errors.New(errNotLeaderText)
	}
	ev, err := c.lead(req)
	var rej rejected
	switch {
	case errors.As(err, &rej):
		return json.Marshal(govReply{Event: &ev, Rejected: rej.msg})
	case errors.Is(err, raft.ErrNotLeader), errors.Is(err, raft.ErrLeadershipLost):
		return nil, errors.New(errNotLeaderText)
	case err != nil:
		return nil, err
	}
	return json.Marshal(govReply{Event: &ev})
}

// joinRequest and joinReply are the /cxnet/join protocol.
type joinRequest struct {
	Member kpi.Member `json:"member"`
	// Add asks to be added to raft. The joining node first asks without it,
	// to learn the members it must accept raft traffic from.
	Add bool `json:"add"`
}

type joinReply struct {
	Consortium string       `json:"consortium"`
	Members    []kpi.Member `json:"members"`
	Leader     string       `json:"leader"`
}

// handleJoin serves an admitted member's node that asks to take part in
// raft: the descriptor must be the admitted one and the connection must
// come from its peer.
func (c *consortium) handleJoin(ctx context.Context, from peer.ID, b []byte) ([]byte, error) {
	var req joinRequest
	if err := json.Unmarshal(b, &req); err != nil {
		return nil, fmt.Errorf("bad join request: %v", err)
	}
	m := req.Member
	if err := m.Verify(); err != nil {
		return nil, err
	}
	if m.PeerID != from.String() {
		return nil, fmt.Errorf("the descriptor names peer %s but the request comes from %s", m.PeerID, from)
	}
	var reply joinReply
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
		if _, err := c.toLeader(ctx, govRequest{Op: "add_server", Peer: from.String()}, nil); err != nil {
			return nil, fmt.Errorf("add to raft: %w", err)
		}
	}
	if r := c.getRaft(); r != nil {
		_, lid := r.LeaderWithID()
		reply.Leader = string(lid)
	}
	return json.Marshal(reply)
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
	var reply joinReply
	for _, add := range []bool{false, true} {
		req, _ := json.Marshal(joinRequest{Member: c.identity(cfg), Add: add})
		out, err := rpc.Call(ctx, c.host.Raw(), info.ID, protocol.JoinID, req)
		if err != nil {
			return "", fmt.Errorf("join via %s: %w", info.ID, err)
		}
		if err := json.Unmarshal(out, &reply); err != nil {
			return "", fmt.Errorf("join reply: %w", err)
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

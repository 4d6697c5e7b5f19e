package node

import (
	"context"
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
		reply.Members = append(reply.Members, admittedOf(s)...)
	})
	if !admitted {
		return nil, fmt.Errorf("organisation %s (peer %s) is not an admitted member of this consortium: a member proposes it with `cxnet consortium admit`, a majority approves", m.Org, from)
	}
	if req.Add {
		if _, err := c.raft.toLeader(ctx, gov.Request{Op: gov.OpAddServer, Peer: from.String()}, nil); err != nil {
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
func (c *consortium) create(ctx context.Context, name string, minCohort int) (contracts.Event, error) {
	if c.getRaft() != nil {
		return contracts.Event{}, inputError{"this node already takes part in a consortium; a node belongs to one consortium"}
	}
	self := raft.ServerID(c.host.ID().String())
	boot := raft.Configuration{Servers: []raft.Server{{Suffrage: raft.Voter, ID: self, Address: raft.ServerAddress(self)}}}
	if err := c.raft.start(&boot); err != nil {
		return contracts.Event{}, err
	}
	entry, err := c.sign(contracts.EntryGenesis, contracts.Genesis{
		Name: name, MinCohort: minCohort, AdmissionRule: contracts.AdmissionMajority, Founder: c.identity(),
	})
	if err != nil {
		return contracts.Event{}, err
	}
	return c.submit(ctx, entry)
}

// join makes this admitted member's node take part in the consortium that
// the node at via belongs to, and waits until it has caught up.
func (c *consortium) join(ctx context.Context, via string) (string, error) {
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
	if err := c.raft.start(nil); err != nil {
		return "", err
	}
	joined := false
	defer func() {
		if !joined {
			c.raft.stop()
		}
	}()
	// Learn the members first, so that the leader's first append from
	// whichever member leads is accepted; then ask to be added.
	var reply *join.Reply
	cl := join.NewClient(c.host.Raw(), rpc.Limits{})
	for _, add := range []bool{false, true} {
		if reply, err = cl.Join(ctx, info.ID, join.Request{Member: c.identity(), Add: add}); err != nil {
			return "", err
		}
		c.peers.learn(reply.Members, true)
	}
	// Wait until our own copy of the state machine knows us as a member:
	// the state machine wakes us at each entry it applies.
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	for {
		woken := c.raft.applied.wait() // taken before the state is read: no wake-up is missed
		caught := false
		c.fsm.Read(func(s *contracts.State) { caught = s.IsAdmitted(kpi.OrgID(c.cfg.Org)) })
		if caught {
			joined = true
			return reply.Consortium, nil
		}
		select {
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return "", errors.New("joined raft but did not receive the governance log within 60s; check that the members can reach this node's announced addresses")
			}
			return "", ctx.Err()
		case <-woken:
		}
	}
}

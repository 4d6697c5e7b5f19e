package gov

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/cxnet/cxnet/protocol/rpc"
)

// NotLeaderError: the peer asked does not lead raft. Leader is the one it
// knows as leader, "" while an election is under way.
type NotLeaderError struct {
	Peer   peer.ID // the peer that answered
	Leader peer.ID
}

func (e *NotLeaderError) Error() string {
	if e.Leader == "" {
		return fmt.Sprintf("gov: %s is not the raft leader and knows of none (an election is under way?)", e.Peer)
	}
	return fmt.Sprintf("gov: %s is not the raft leader; %s is", e.Peer, e.Leader)
}

// UnreachableError: the request did not get an answer from the peer (it
// could not be reached, or the stream broke). The leader may have died
// and another be elected; an entry sent may still have been committed.
type UnreachableError struct {
	Peer peer.ID
	Err  error
}

func (e *UnreachableError) Error() string {
	return fmt.Sprintf("gov: the raft leader %s did not answer: %v", e.Peer, e.Err)
}

func (e *UnreachableError) Unwrap() error { return e.Err }

// Applied is what the leader made of an entry: the state machine's event
// (as the node encodes it) and, when it refused the entry, why.
type Applied struct {
	Event    json.RawMessage
	Rejected string
}

// Client asks the raft leader over /cxnet/gov.
type Client struct {
	h   host.Host
	lim rpc.Limits
}

// NewClient returns a client on h. Zero fields of lim take rpc's
// defaults. It does no I/O.
func NewClient(h host.Host, lim rpc.Limits) *Client { return &Client{h: h, lim: lim} }

// Apply asks leader to append a signed governance entry to the log.
func (c *Client) Apply(ctx context.Context, leader peer.ID, entry []byte) (Applied, error) {
	r, err := c.call(ctx, leader, &Request{Op: OpApply, Entry: entry})
	if err != nil {
		return Applied{}, err
	}
	return Applied{Event: r.Event, Rejected: r.Rejected}, nil
}

// Barrier asks leader for a read index: once a node has applied the log
// up to it, it has seen everything committed before the call.
func (c *Client) Barrier(ctx context.Context, leader peer.ID) (uint64, error) {
	r, err := c.call(ctx, leader, &Request{Op: OpBarrier})
	if err != nil {
		return 0, err
	}
	return r.Index, nil
}

// AddServer asks leader to add p, an admitted member's node, to raft.
func (c *Client) AddServer(ctx context.Context, leader, p peer.ID) error {
	_, err := c.call(ctx, leader, &Request{Op: OpAddServer, Peer: p.String()})
	return err
}

// call sends req and decodes the reply. It returns a *NotLeaderError for
// a not-leader reply, a *rpc.RemoteError for the leader's refusal and an
// *UnreachableError when no answer came.
func (c *Client) call(ctx context.Context, to peer.ID, req *Request) (*Reply, error) {
	if err := req.Check(); err != nil {
		return nil, err
	}
	b, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	out, err := rpc.CallWithLimits(ctx, c.h, to, ID, b, c.lim)
	if re := (*rpc.RemoteError)(nil); errors.As(err, &re) {
		return nil, fmt.Errorf("gov: %s: %w", req.Op, err)
	}
	if err != nil {
		return nil, &UnreachableError{Peer: to, Err: err}
	}
	r, err := DecodeReply(out, req.Op)
	if err != nil {
		return nil, fmt.Errorf("gov: reply of %s: %w", to, err)
	}
	if r.NotLeader {
		nl := &NotLeaderError{Peer: to}
		nl.Leader, _ = peer.Decode(r.Leader) // checked by DecodeReply
		return nil, nl
	}
	return r, nil
}

// Package gov is the /cxnet/gov wire protocol: a member of raft that is
// not the leader hands the leader what only the leader can do — append a
// signed governance entry to the log, give a read index (a barrier: the
// log position a reader must reach to see everything committed before),
// add an admitted member's node to raft. One [Request] goes out per
// stream and one [Reply] comes back, framed by package rpc.
//
// A server that is not the leader (any more) answers with a not-leader
// reply that names the leader it knows; the [Client] returns it as a
// [*NotLeaderError], so the caller retries there without matching error
// text. An entry the state machine refused is not a protocol error: the
// reply carries the refusal and the state machine's event.
//
// The [Client] and the [Server] live side by side here; what the server
// needs from the node is the small [Backend] interface, declared here and
// implemented by the node. The server refuses a peer its ServerConfig
// does not admit before reading a byte of its request.
//
// It imports only the standard library, protocol/rpc and go-libp2p. It
// must not import contracts, store, privacy, ingest, node or cli: the
// state machine's event crosses it as opaque JSON.
package gov

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/libp2p/go-libp2p/core/peer"
	p2pproto "github.com/libp2p/go-libp2p/core/protocol"

	"github.com/cxnet/cxnet/protocol/rpc"
)

// ID is the protocol ID of /cxnet/gov. Version 2 has typed operations and
// a not-leader reply naming the leader (version 1 matched error text).
const ID p2pproto.ID = "/cxnet/gov/2.0.0"

// Op is a request's operation.
type Op string

// The operations.
const (
	// OpApply appends Entry, a signed governance entry, to the log.
	OpApply Op = "apply"
	// OpBarrier asks for a read index.
	OpBarrier Op = "barrier"
	// OpAddServer adds Peer, an admitted member's node, to raft.
	OpAddServer Op = "add_server"
)

// Ops are the operations this version speaks.
var Ops = []Op{OpApply, OpBarrier, OpAddServer}

// Request is what a member sends the leader. Which fields an operation
// carries is Check's business.
type Request struct {
	Op    Op     `json:"op"`
	Entry []byte `json:"entry,omitempty"` // apply
	Peer  string `json:"peer,omitempty"`  // add_server: a peer id
}

// Reply is the leader's answer: for a server that is not the leader,
// NotLeader (and Leader, when it knows one) alone.
type Reply struct {
	// NotLeader: the server does not lead raft; Leader is the peer it
	// knows as leader, "" when it knows none (an election is under way).
	NotLeader bool   `json:"not_leader,omitempty"`
	Leader    string `json:"leader,omitempty"`
	// Index is the read index (barrier).
	Index uint64 `json:"index,omitempty"`
	// Event is what the state machine made of the entry, as the node
	// encodes it (apply); Rejected says why it refused the entry, "" when
	// it applied it.
	Event    json.RawMessage `json:"event,omitempty"`
	Rejected string          `json:"rejected,omitempty"`
}

// Errors of the message decoding, for errors.Is.
var (
	// ErrBadRequest: a request is not the JSON encoding of a Request, or
	// lacks or carries fields its operation does not.
	ErrBadRequest = errors.New("gov: bad request")
	// ErrBadReply: a reply is not a Reply that answers its request.
	ErrBadReply = errors.New("gov: bad reply")
)

// Check checks a request carries what its operation needs and nothing
// else, so that a backend gets only well-formed requests.
func (r *Request) Check() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s %s", ErrBadRequest, r.Op, fmt.Sprintf(format, args...))
	}
	switch r.Op {
	case OpApply:
		if len(r.Entry) == 0 || r.Peer != "" {
			return bad("carries an entry and nothing else")
		}
	case OpBarrier:
		if len(r.Entry) > 0 || r.Peer != "" {
			return bad("carries nothing")
		}
	case OpAddServer:
		if len(r.Entry) > 0 {
			return bad("carries a peer id and nothing else")
		}
		if _, err := peer.Decode(r.Peer); err != nil {
			return bad("names peer %q, not a peer id: %v", r.Peer, err)
		}
	default:
		return fmt.Errorf("%w: unknown operation %q (this node speaks %v)", ErrBadRequest, r.Op, Ops)
	}
	return nil
}

// Check checks a reply answers a request of operation op.
func (r *Reply) Check(op Op) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: to %s: %s", ErrBadReply, op, fmt.Sprintf(format, args...))
	}
	if r.NotLeader {
		if r.Index != 0 || r.Event != nil || r.Rejected != "" {
			return bad("a not-leader reply carries more than the leader")
		}
		if r.Leader != "" {
			if _, err := peer.Decode(r.Leader); err != nil {
				return bad("leader %q is not a peer id", r.Leader)
			}
		}
		return nil
	}
	if r.Leader != "" {
		return bad("names a leader without saying it is not the leader")
	}
	switch op {
	case OpApply:
		if len(r.Event) == 0 || r.Index != 0 {
			return bad("want the state machine's event and nothing else")
		}
	case OpBarrier:
		if r.Index == 0 || r.Event != nil || r.Rejected != "" {
			return bad("want a read index and nothing else")
		}
	case OpAddServer:
		if r.Index != 0 || r.Event != nil || r.Rejected != "" {
			return bad("want an empty reply")
		}
	}
	return nil
}

// DecodeRequest decodes a request strictly (no unknown fields, nothing
// after it) and checks it.
func DecodeRequest(b []byte) (*Request, error) {
	var r Request
	if err := rpc.DecodeJSON(b, &r); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadRequest, err)
	}
	if err := r.Check(); err != nil {
		return nil, err
	}
	return &r, nil
}

// DecodeReply decodes a reply to a request of operation op strictly and
// checks it.
func DecodeReply(b []byte, op Op) (*Reply, error) {
	var r Reply
	if err := rpc.DecodeJSON(b, &r); err != nil {
		return nil, fmt.Errorf("%w: to %s: %v", ErrBadReply, op, err)
	}
	if err := r.Check(op); err != nil {
		return nil, err
	}
	return &r, nil
}

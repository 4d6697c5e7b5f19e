// Package join is the /cxnet/join wire protocol: the node of an admitted
// member asks a member's node to let it take part in the consortium's
// raft. It sends its signed member descriptor ([Request]); the answer
// ([Reply]) names the consortium, its admitted members (whose raft
// traffic the joining node must accept) and the raft leader. The joining
// node asks twice: first without Add, to learn the members before any of
// them replicates to it, then with Add, to be added to raft.
//
// The [Client] and the [Server] live side by side here; what the server
// needs from the node is the small [Backend] interface, declared here and
// implemented by the node, which checks that the descriptor is the one
// the consortium admitted. The server checks the request itself — a
// descriptor signed by its own governance key, naming the peer the
// request comes from — and refuses a peer its ServerConfig does not
// admit before reading a byte of its request.
//
// It imports only the standard library, kpi, protocol/rpc and go-libp2p.
// It must not import contracts, store, privacy, ingest, node or cli.
package join

import (
	"errors"
	"fmt"

	"github.com/libp2p/go-libp2p/core/peer"
	p2pproto "github.com/libp2p/go-libp2p/core/protocol"

	"github.com/cxnet/cxnet/kpi"
	"github.com/cxnet/cxnet/protocol/rpc"
)

// ID is the protocol ID of /cxnet/join. Version 2 decodes strictly and
// checks the reply.
const ID p2pproto.ID = "/cxnet/join/2.0.0"

// Request is what the joining node sends.
type Request struct {
	// Member is the joining organisation's descriptor, signed.
	Member kpi.Member `json:"member"`
	// Add asks to be added to raft; without it the reply only names the
	// members.
	Add bool `json:"add"`
}

// Reply is what the member's node answers.
type Reply struct {
	Consortium string `json:"consortium"`
	// Members are the consortium's admitted members' descriptors.
	Members []kpi.Member `json:"members"`
	// Leader is the raft leader's peer id, "" while an election is under
	// way.
	Leader string `json:"leader"`
}

// Errors of the message decoding, for errors.Is.
var (
	// ErrBadRequest: a request is not a Request, or its descriptor does
	// not verify or names another peer than the sender.
	ErrBadRequest = errors.New("join: bad request")
	// ErrBadReply: a reply is not a Reply of a consortium.
	ErrBadReply = errors.New("join: bad reply")
)

// Check checks the request comes from the peer its descriptor names and
// that the descriptor is signed by its own governance key.
func (r *Request) Check(from peer.ID) error {
	if err := r.Member.Verify(); err != nil {
		return fmt.Errorf("%w: %v", ErrBadRequest, err)
	}
	if r.Member.PeerID != from.String() {
		return fmt.Errorf("%w: the descriptor of %s names peer %s but the request comes from %s", ErrBadRequest, r.Member.Org, r.Member.PeerID, from)
	}
	return nil
}

// Check checks the reply names a consortium, a leader that is a peer id
// when it names one, and members whose descriptors verify.
func (r *Reply) Check() error {
	if r.Consortium == "" {
		return fmt.Errorf("%w: it names no consortium", ErrBadReply)
	}
	if r.Leader != "" {
		if _, err := peer.Decode(r.Leader); err != nil {
			return fmt.Errorf("%w: leader %q is not a peer id", ErrBadReply, r.Leader)
		}
	}
	for _, m := range r.Members {
		if err := m.Verify(); err != nil {
			return fmt.Errorf("%w: member %s: %v", ErrBadReply, m.Org, err)
		}
	}
	return nil
}

// DecodeRequest decodes a request from peer from strictly (no unknown
// fields, nothing after it) and checks it.
func DecodeRequest(b []byte, from peer.ID) (*Request, error) {
	var r Request
	if err := rpc.DecodeJSON(b, &r); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadRequest, err)
	}
	if err := r.Check(from); err != nil {
		return nil, err
	}
	return &r, nil
}

// DecodeReply decodes a reply strictly and checks it.
func DecodeReply(b []byte) (*Reply, error) {
	var r Reply
	if err := rpc.DecodeJSON(b, &r); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadReply, err)
	}
	if err := r.Check(); err != nil {
		return nil, err
	}
	return &r, nil
}

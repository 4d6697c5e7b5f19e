package gov

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/cxnet/cxnet/protocol/rpc"
)

// Backend is what the leader's node does for the other members of raft.
// Each method returns a *NotLeaderError when this node does not lead
// raft (any more): the server turns it into a not-leader reply.
type Backend interface {
	// Apply appends a signed governance entry to the log and returns
	// what the state machine made of it; a refusal by the state machine
	// is an Applied with Rejected set, not an error.
	Apply(ctx context.Context, from peer.ID, entry []byte) (Applied, error)
	// Barrier returns a read index (see Client.Barrier).
	Barrier(ctx context.Context, from peer.ID) (uint64, error)
	// AddServer adds p, an admitted member's node, to raft.
	AddServer(ctx context.Context, from, p peer.ID) error
}

// ServerConfig configures NewServer.
type ServerConfig struct {
	// Allowed reports whether p may ask: a server of raft's
	// configuration, or a peer the node knows to be one. Required. It
	// runs for every stream before anything is read, so it must be cheap
	// and must not block.
	Allowed func(p peer.ID) bool
	// Timeout bounds each stream. Default rpc.DefaultTimeout.
	Timeout time.Duration
	// Log gets refusals at debug (see rpc.ServerOptions). Nil discards.
	Log *slog.Logger
}

// Server is the leader's side of /cxnet/gov.
type Server struct {
	backend Backend
	cfg     ServerConfig
}

// NewServer returns a server that hands requests to b. It does no I/O;
// Serve registers it on a host.
func NewServer(b Backend, cfg ServerConfig) (*Server, error) {
	var errs []error
	if b == nil {
		errs = append(errs, errors.New("gov: server config: Backend is required (the node's raft)"))
	}
	if cfg.Allowed == nil {
		errs = append(errs, errors.New("gov: server config: Allowed is required (the node's raft-member lookup)"))
	}
	if cfg.Timeout < 0 {
		errs = append(errs, fmt.Errorf("gov: server config: Timeout is %v; leave it 0 for the default", cfg.Timeout))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return &Server{backend: b, cfg: cfg}, nil
}

// Serve registers the server for ID on h. Close the returned rpc.Server
// to unregister it.
func (s *Server) Serve(h host.Host) *rpc.Server {
	return rpc.ServeWith(h, ID, s.Handle, rpc.ServerOptions{
		Authorize: s.authorize,
		Limits:    rpc.Limits{Timeout: s.cfg.Timeout},
		Log:       s.cfg.Log,
	})
}

func (s *Server) authorize(from peer.ID) (int, error) {
	if !s.cfg.Allowed(from) {
		return 0, fmt.Errorf("%s is not a server of this consortium's raft; an admitted member joins first (cxnet consortium join)", from)
	}
	return rpc.DefaultMaxMsgSize, nil
}

// Handle serves one encoded request from peer from and returns the
// encoded reply: what the server does for each stream.
func (s *Server) Handle(ctx context.Context, from peer.ID, body []byte) ([]byte, error) {
	req, err := DecodeRequest(body)
	if err != nil {
		return nil, err
	}
	var reply Reply
	switch req.Op {
	case OpApply:
		var a Applied
		a, err = s.backend.Apply(ctx, from, req.Entry)
		reply.Event, reply.Rejected = a.Event, a.Rejected
	case OpBarrier:
		reply.Index, err = s.backend.Barrier(ctx, from)
	case OpAddServer:
		p, _ := peer.Decode(req.Peer) // checked by DecodeRequest
		err = s.backend.AddServer(ctx, from, p)
	}
	if nl := (*NotLeaderError)(nil); errors.As(err, &nl) {
		reply = Reply{NotLeader: true}
		if nl.Leader != "" {
			reply.Leader = nl.Leader.String()
		}
	} else if err != nil {
		return nil, err
	}
	if err := reply.Check(req.Op); err != nil {
		return nil, fmt.Errorf("gov: this node's answer: %w", err) // a backend bug, said so
	}
	return json.Marshal(reply)
}

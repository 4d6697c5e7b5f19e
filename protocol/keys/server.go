package keys

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

// Backend is what the server needs from the node.
type Backend interface {
	// AcceptDeal stores the share that member from dealt this node, or
	// says why it is refused; the error goes back to the dealer, so it
	// should say what is wrong and what to do. The server calls it only
	// for peers ServerConfig.Admitted admits and for deals of the right
	// shape (an epoch, a share of 1..MaxShareSize bytes); whether the
	// dealer and this node are members of the epoch and whether the
	// share is one is the backend's to check. Receiving the share it
	// already stored is not an error; a different one is.
	AcceptDeal(ctx context.Context, from peer.ID, d Deal) error
}

// ServerConfig configures NewServer.
type ServerConfig struct {
	// Admitted reports whether p is an admitted member of the
	// consortium; no one else may deal. Required. It runs for every
	// stream before anything is read, so it must be cheap and must not
	// block (read an in-memory view).
	Admitted func(p peer.ID) bool
	// MaxShareSize is the length of a dealt share under the node's
	// homomorphic parameters; a request longer than the largest Deal of
	// such a share is refused unread. Required.
	MaxShareSize int
	// Timeout bounds each stream. Default rpc.DefaultTimeout.
	Timeout time.Duration
	// Log gets refusals at debug (see rpc.ServerOptions). Nil discards.
	Log *slog.Logger
}

func (c *ServerConfig) validate() error {
	var errs []error
	if c.Admitted == nil {
		errs = append(errs, errors.New("keys: server config: Admitted is required (the node's admitted-member lookup)"))
	}
	if c.MaxShareSize <= 0 {
		errs = append(errs, fmt.Errorf("keys: server config: MaxShareSize is %d; set it to the size of a dealt share", c.MaxShareSize))
	}
	if c.Timeout < 0 {
		errs = append(errs, fmt.Errorf("keys: server config: Timeout is %v; leave it 0 for the default", c.Timeout))
	}
	if c.Timeout == 0 {
		c.Timeout = rpc.DefaultTimeout
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	return errors.Join(errs...)
}

// Server is the receiving side of /cxnet/keys: it hands each well-formed
// Deal from an admitted member to its Backend.
type Server struct {
	backend Backend
	cfg     ServerConfig
}

// NewServer returns a server that hands deals to b. It does no I/O; Serve
// registers it on a host.
func NewServer(b Backend, cfg ServerConfig) (*Server, error) {
	if b == nil {
		return nil, errors.New("keys: server config: Backend is required (the node's key manager)")
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return &Server{backend: b, cfg: cfg}, nil
}

// Serve registers the server for ID on h. Close the returned rpc.Server
// to unregister it; it waits for running deals to return.
func (s *Server) Serve(h host.Host) *rpc.Server {
	return rpc.ServeWith(h, ID, s.handle, rpc.ServerOptions{
		Authorize: s.authorize,
		Limits:    rpc.Limits{MaxMsgSize: MaxDealSize(s.cfg.MaxShareSize), Timeout: s.cfg.Timeout},
		Log:       s.cfg.Log,
	})
}

// authorize admits the consortium's admitted members, with the size of
// the largest Deal; it refuses everyone else before their request is read.
func (s *Server) authorize(from peer.ID) (int, error) {
	if !s.cfg.Admitted(from) {
		return 0, fmt.Errorf("%s is not an admitted member of this consortium; only members deal key shares", from)
	}
	return MaxDealSize(s.cfg.MaxShareSize), nil
}

// handle serves one Deal: decode, hand to the backend, acknowledge.
func (s *Server) handle(ctx context.Context, from peer.ID, req []byte) ([]byte, error) {
	d, err := decodeDeal(req, s.cfg.MaxShareSize)
	if err != nil {
		return nil, fmt.Errorf("keys: %w", err)
	}
	if err := s.backend.AcceptDeal(ctx, from, d); err != nil {
		return nil, err
	}
	return json.Marshal(Ack{Epoch: d.Epoch})
}

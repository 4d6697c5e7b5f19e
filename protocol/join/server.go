package join

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

// Backend is what a member's node does for a joining node.
type Backend interface {
	// Join answers a checked request: the descriptor verifies and names
	// the peer from. The backend refuses it unless the descriptor is the
	// one the consortium admitted (its error goes back to the joining
	// node, so it should say what to do), and with req.Add has the node
	// added to raft.
	Join(ctx context.Context, from peer.ID, req *Request) (*Reply, error)
}

// ServerConfig configures NewServer.
type ServerConfig struct {
	// Allowed reports whether p may ask: an admitted member's node.
	// Required. It runs for every stream before anything is read, so it
	// must be cheap and must not block.
	Allowed func(p peer.ID) bool
	// Timeout bounds each stream. Default rpc.DefaultTimeout.
	Timeout time.Duration
	// Log gets refusals at debug. Nil discards.
	Log *slog.Logger
}

// maxRequestSize bounds a request: a member descriptor with its
// addresses.
const maxRequestSize = 64 << 10

// Server is a member node's side of /cxnet/join.
type Server struct {
	backend Backend
	cfg     ServerConfig
}

// NewServer returns a server that hands checked requests to b. It does
// no I/O; Serve registers it on a host.
func NewServer(b Backend, cfg ServerConfig) (*Server, error) {
	var errs []error
	if b == nil {
		errs = append(errs, errors.New("join: server config: Backend is required (the node's membership check)"))
	}
	if cfg.Allowed == nil {
		errs = append(errs, errors.New("join: server config: Allowed is required (the node's allow-list)"))
	}
	if cfg.Timeout < 0 {
		errs = append(errs, fmt.Errorf("join: server config: Timeout is %v; leave it 0 for the default", cfg.Timeout))
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
		Authorize: func(from peer.ID) (int, error) {
			if !s.cfg.Allowed(from) {
				return 0, fmt.Errorf("%s is not an admitted member of this consortium: a member proposes it with `cxnet consortium admit`, a majority approves", from)
			}
			return maxRequestSize, nil
		},
		Limits: rpc.Limits{Timeout: s.cfg.Timeout},
		Log:    s.cfg.Log,
	})
}

// Handle serves one encoded request from peer from and returns the
// encoded reply: what the server does for each stream.
func (s *Server) Handle(ctx context.Context, from peer.ID, body []byte) ([]byte, error) {
	req, err := DecodeRequest(body, from)
	if err != nil {
		return nil, err
	}
	reply, err := s.backend.Join(ctx, from, req)
	if err != nil {
		return nil, err
	}
	if err := reply.Check(); err != nil {
		return nil, fmt.Errorf("join: this node's answer: %w", err) // a backend bug, said so
	}
	return json.Marshal(reply)
}

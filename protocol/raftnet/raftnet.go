// Package raftnet carries hashicorp/raft traffic over libp2p streams
// (protocol /cxnet/raft/1.0.0), so raft uses the same authenticated,
// allow-listed connections as every other cxnet protocol. A raft server's
// ServerID and ServerAddress are both its libp2p peer ID string; the
// peer's network addresses live in the libp2p peerstore.
//
// It imports only the standard library, go-libp2p, hashicorp/raft and its
// logger (go-hclog). It must not import store, contracts, privacy, ingest,
// node or cli.
package raftnet

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/raft"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	p2pproto "github.com/libp2p/go-libp2p/core/protocol"
)

// ProtocolID is the libp2p protocol of raft streams (protocol.RaftID).
const ProtocolID p2pproto.ID = "/cxnet/raft/1.0.0"

// Defaults of Config.
const (
	DefaultTimeout = 10 * time.Second
	DefaultMaxPool = 3
)

// ErrClosed is returned by Accept and Dial after Close.
var ErrClosed = errors.New("raftnet: stream layer closed")

// Config configures a StreamLayer and its transport.
type Config struct {
	// Host is the node's libp2p host. Required.
	Host host.Host
	// Allowed says which peers may send raft traffic; streams from others
	// are reset. Required (the node passes its allow-list).
	Allowed func(peer.ID) bool
	// Timeout is raft's I/O deadline for RPCs (not for snapshots).
	// Default DefaultTimeout.
	Timeout time.Duration
	// MaxPool is how many idle streams per peer raft keeps for reuse.
	// Default DefaultMaxPool; must be > 0.
	MaxPool int
}

func (c *Config) validate() error {
	if c.Host == nil {
		return errors.New("raftnet: config: Host is required")
	}
	if c.Allowed == nil {
		return errors.New("raftnet: config: Allowed is required (pass the host's allow-list check)")
	}
	if c.Timeout < 0 || c.MaxPool < 0 {
		return errors.New("raftnet: config: Timeout and MaxPool must not be negative")
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.MaxPool == 0 {
		c.MaxPool = DefaultMaxPool
	}
	return nil
}

// StreamLayer is a raft.StreamLayer over libp2p streams. Its handler is
// registered by NewStreamLayer and removed by Close.
type StreamLayer struct {
	h       host.Host
	allowed func(peer.ID) bool
	log     *slog.Logger

	incoming  chan network.Stream
	closed    chan struct{}
	closeOnce sync.Once

	// The inbound conns raft's transport is serving: on Close they are
	// reset, and Drain waits until the transport has let go of them.
	mu       sync.Mutex
	accepted map[*conn]struct{}
	active   sync.WaitGroup
}

var _ raft.StreamLayer = (*StreamLayer)(nil)

// NewStreamLayer registers the raft protocol handler on cfg.Host.
func NewStreamLayer(cfg Config, log *slog.Logger) (*StreamLayer, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	s := &StreamLayer{
		h:        cfg.Host,
		allowed:  cfg.Allowed,
		log:      log,
		incoming: make(chan network.Stream),
		closed:   make(chan struct{}),
		accepted: map[*conn]struct{}{},
	}
	cfg.Host.SetStreamHandler(ProtocolID, s.handle)
	return s, nil
}

// Transport is raft's network transport over a StreamLayer.
type Transport struct {
	*raft.NetworkTransport
	Layer *StreamLayer
}

// NewTransport returns a raft transport over a new StreamLayer on
// cfg.Host.
func NewTransport(cfg Config, log *slog.Logger) (*Transport, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	sl, err := NewStreamLayer(cfg, log)
	if err != nil {
		return nil, err
	}
	nt := raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		Stream:  sl,
		MaxPool: cfg.MaxPool,
		Timeout: cfg.Timeout,
		Logger:  HCLog(log.With("component", "raft-transport")),
	})
	return &Transport{NetworkTransport: nt, Layer: sl}, nil
}

// Close closes the transport and its stream layer, and waits (up to 5 s)
// until the handlers of inbound raft requests have returned, so that raft's
// stores may be closed safely afterwards.
func (t *Transport) Close() error {
	err := t.NetworkTransport.Close()
	if derr := t.Layer.Drain(5 * time.Second); derr != nil && err == nil {
		err = derr
	}
	return err
}

// handle hands an incoming stream to Accept, or resets it when the peer is
// not allowed or the layer is closed.
func (s *StreamLayer) handle(st network.Stream) {
	from := st.Conn().RemotePeer()
	if !s.allowed(from) {
		s.log.Debug("reset raft stream from non-member", "peer", from.String())
		_ = st.Reset()
		return
	}
	select {
	case s.incoming <- st:
	case <-s.closed:
		_ = st.Reset()
	}
}

// Accept waits for the next raft stream from a peer.
func (s *StreamLayer) Accept() (net.Conn, error) {
	select {
	case st := <-s.incoming:
		c := newConn(st)
		s.mu.Lock()
		defer s.mu.Unlock()
		select {
		case <-s.closed:
			_ = st.Reset()
			return nil, ErrClosed
		default:
		}
		s.accepted[c] = struct{}{}
		s.active.Add(1)
		c.onClose = func() {
			s.mu.Lock()
			delete(s.accepted, c)
			s.mu.Unlock()
			s.active.Done()
		}
		return c, nil
	case <-s.closed:
		return nil, ErrClosed
	}
}

// Close unregisters the handler, unblocks Accept and resets the inbound
// streams, so that the transport's handlers stop reading. It is safe to
// call more than once.
func (s *StreamLayer) Close() error {
	s.closeOnce.Do(func() {
		s.h.RemoveStreamHandler(ProtocolID)
		s.mu.Lock()
		close(s.closed)
		for c := range s.accepted {
			_ = c.Stream.Reset()
		}
		s.mu.Unlock()
	})
	return nil
}

// Drain waits, up to timeout, until raft's transport has closed every
// inbound conn it accepted: a handler in the middle of a request (raft
// writes the term and vote to the log store while handling one) has then
// finished. Call it after Close and before closing raft's stores.
func (s *StreamLayer) Drain(timeout time.Duration) error {
	done := make(chan struct{})
	go func() {
		s.active.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-time.After(timeout):
		return fmt.Errorf("raftnet: raft handlers still running %v after close", timeout)
	}
}

// Addr is this node's raft address: its peer ID.
func (s *StreamLayer) Addr() net.Addr { return Addr(s.h.ID()) }

// Dial opens a raft stream to the peer whose ID is address, bypassing
// libp2p's dial backoff so that a restarted peer is reached at once.
func (s *StreamLayer) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	select {
	case <-s.closed:
		return nil, ErrClosed
	default:
	}
	p, err := peer.Decode(string(address))
	if err != nil {
		return nil, fmt.Errorf("raftnet: dial %q: raft server address is not a peer id: %w", address, err)
	}
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	// Without force-direct, a peer that was down stays in dial backoff
	// (5 s and more) after it is back, and catching up takes seconds.
	ctx = network.WithForceDirectDial(ctx, "raft")
	st, err := s.h.NewStream(ctx, p, ProtocolID)
	if err != nil {
		return nil, fmt.Errorf("raftnet: dial %s: %w", p, err)
	}
	return newConn(st), nil
}

// Addr is a net.Addr naming a libp2p peer.
type Addr peer.ID

// Network returns "libp2p".
func (a Addr) Network() string { return "libp2p" }

// String returns the peer ID.
func (a Addr) String() string { return peer.ID(a).String() }

// conn adapts a libp2p stream to net.Conn.
type conn struct {
	network.Stream
	onClose   func() // set for accepted conns
	closeOnce sync.Once
}

func newConn(st network.Stream) *conn { return &conn{Stream: st} }

// Close closes the stream and, for an accepted conn, tells the layer.
func (c *conn) Close() error {
	err := c.Stream.Close()
	c.closeOnce.Do(func() {
		if c.onClose != nil {
			c.onClose()
		}
	})
	return err
}

func (c *conn) LocalAddr() net.Addr  { return Addr(c.Conn().LocalPeer()) }
func (c *conn) RemoteAddr() net.Addr { return Addr(c.Conn().RemotePeer()) }

var _ net.Conn = (*conn)(nil)

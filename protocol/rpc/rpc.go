package rpc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime/debug"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	p2pproto "github.com/libp2p/go-libp2p/core/protocol"
)

// DefaultTimeout bounds a whole exchange (dial, request, handler, reply)
// when the caller's context has no deadline, and every served stream.
const DefaultTimeout = 30 * time.Second

// maxErrorLen caps the message of an error frame.
const maxErrorLen = 4 << 10

// replyLimit is the largest reply frame a caller with message limit limit
// reads: the reply plus its status byte, and error frames even when max is
// smaller than an error message.
func replyLimit(limit int) int {
	return 1 + max(limit, maxErrorLen+len("…"))
}

// Limits bound one side of an exchange. Zero fields take the defaults.
type Limits struct {
	// MaxMsgSize caps each request and reply payload. Default
	// DefaultMaxMsgSize.
	MaxMsgSize int
	// Timeout caps an exchange. Default DefaultTimeout.
	Timeout time.Duration
}

func (l Limits) withDefaults() Limits {
	if l.MaxMsgSize <= 0 {
		l.MaxMsgSize = DefaultMaxMsgSize
	}
	if l.Timeout <= 0 {
		l.Timeout = DefaultTimeout
	}
	return l
}

// Handler serves one request from a peer. Its error goes back to the
// caller as a RemoteError, so its message should make sense there. ctx
// ends at the stream's deadline or when the server closes.
type Handler func(ctx context.Context, from peer.ID, req []byte) ([]byte, error)

// Call sends req to peer p over protocol id and returns the reply, with
// the default limits. See CallWithLimits.
func Call(ctx context.Context, h host.Host, p peer.ID, id p2pproto.ID, req []byte) ([]byte, error) {
	return CallWithLimits(ctx, h, p, id, req, Limits{})
}

// CallWithLimits sends req to peer p over protocol id and returns the
// reply. The stream is opened with a direct dial (no libp2p dial backoff)
// and reset on any error. A handler's error comes back as *RemoteError.
func CallWithLimits(ctx context.Context, h host.Host, p peer.ID, id p2pproto.ID, req []byte, lim Limits) (reply []byte, err error) {
	lim = lim.withDefaults()
	if len(req) > lim.MaxMsgSize {
		return nil, fmt.Errorf("rpc: call %s on %s: %w: request is %d bytes, limit %d", id, p, ErrTooLarge, len(req), lim.MaxMsgSize)
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, lim.Timeout)
		defer cancel()
	}
	s, err := h.NewStream(network.WithForceDirectDial(ctx, "cxnet rpc"), p, id)
	if err != nil {
		return nil, fmt.Errorf("rpc: call %s on %s: open stream: %w", id, p, err)
	}
	stop := context.AfterFunc(ctx, func() { _ = s.Reset() })
	read := false
	defer func() {
		stop()
		if read {
			_ = s.Close()
			return
		}
		_ = s.Reset()
		// The stream's deadline can fire a moment before ctx's timer.
		if cerr := ctx.Err(); cerr != nil {
			err = fmt.Errorf("%w (%w)", err, cerr)
		} else if dl, ok := ctx.Deadline(); ok && !time.Now().Before(dl) {
			err = fmt.Errorf("%w (%w)", err, context.DeadlineExceeded)
		}
	}()
	deadline, _ := ctx.Deadline()
	if err := s.SetDeadline(deadline); err != nil {
		return nil, fmt.Errorf("rpc: call %s on %s: set deadline: %w", id, p, err)
	}
	// The request goes out while the reply is awaited: a server that
	// refuses a caller or a size answers before reading the request, and
	// waiting for a large request to drain would only end at the deadline
	// (the server never reads it, so the stream's window never reopens).
	sent := make(chan error, 1)
	go func() {
		err := WriteMsg(s, req)
		if err == nil {
			err = s.CloseWrite()
		}
		sent <- err
	}()
	payload, rerr := ReadMsg(s, replyLimit(lim.MaxMsgSize))
	if rerr == nil {
		reply, err = decodeReply(p, payload)
		if re := (*RemoteError)(nil); errors.As(err, &re) {
			// A refusal can come before the whole request was sent; the
			// rest is not wanted.
			_ = s.Reset()
			<-sent
			return nil, err
		}
	}
	var werr error
	if rerr == nil {
		werr = <-sent // a reply came: the server read the whole request
	} else {
		select {
		case werr = <-sent:
		default:
			_ = s.Reset() // the reply failed first; stop sending
			<-sent
		}
	}
	switch {
	case werr != nil:
		return nil, fmt.Errorf("rpc: call %s on %s: send request: %w", id, p, werr)
	case rerr != nil:
		return nil, fmt.Errorf("rpc: call %s on %s: read reply: %w", id, p, rerr)
	}
	read = true
	if err == nil && len(reply) > lim.MaxMsgSize {
		return nil, fmt.Errorf("rpc: call %s on %s: read reply: %w: %d bytes, limit %d", id, p, ErrTooLarge, len(reply), lim.MaxMsgSize)
	}
	return reply, err
}

// Server serves one protocol ID. Create it with ServeWith (or Serve);
// Close unregisters it.
type Server struct {
	h         host.Host
	id        p2pproto.ID
	handler   Handler
	authorize Authorize
	log       *slog.Logger
	lim       Limits

	ctx    context.Context
	cancel context.CancelFunc

	mu     sync.Mutex
	closed bool
	wg     sync.WaitGroup
}

// Authorize decides, before a single byte of a request is read, whether
// peer from may call a protocol and how large its request may be. A
// non-nil error refuses the peer; its message goes back to the caller
// after "permission denied: ", so it should say what the peer lacks.
// Otherwise maxMsgSize is the largest request the peer may send (capped
// by the server's Limits.MaxMsgSize); a size ≤ 0 with a nil error is a
// bug in the Authorize and refuses the request.
//
// It runs on the stream's goroutine for every stream, so it should be
// cheap and must not block (read an in-memory view, do no I/O).
type Authorize func(from peer.ID) (maxMsgSize int, err error)

// ServerOptions configure ServeWith.
type ServerOptions struct {
	// Authorize sorts peers before their requests are read (see
	// Authorize). Nil refuses every peer.
	Authorize Authorize
	// Limits: MaxMsgSize is the ceiling on every request, whatever
	// Authorize grants, and on every reply; Timeout bounds each stream.
	// Zero fields take the defaults.
	Limits Limits
	// Log gets refusals and stream failures at debug, handler panics
	// and Authorize bugs at error. Nil discards.
	Log *slog.Logger
}

// Serve registers handler for protocol id on h with the default limits:
// peers for which allowed returns true may send requests of up to
// DefaultMaxMsgSize. See ServeWith.
func Serve(h host.Host, id p2pproto.ID, handler Handler, allowed func(peer.ID) bool, log *slog.Logger) *Server {
	return ServeWithLimits(h, id, handler, allowed, log, Limits{})
}

// ServeWithLimits registers handler for protocol id on h: peers for which
// allowed returns true (nil allows no one) may send requests of up to
// lim.MaxMsgSize, the others get an error reply and their request is not
// read. It is ServeWith with one size for every allowed peer.
func ServeWithLimits(h host.Host, id p2pproto.ID, handler Handler, allowed func(peer.ID) bool, log *slog.Logger, lim Limits) *Server {
	lim = lim.withDefaults()
	var auth Authorize
	if allowed != nil {
		auth = func(from peer.ID) (int, error) {
			if !allowed(from) {
				return 0, fmt.Errorf("%s is not a member of this consortium", from)
			}
			return lim.MaxMsgSize, nil
		}
	}
	return ServeWith(h, id, handler, ServerOptions{Authorize: auth, Limits: lim, Log: log})
}

// ServeWith registers handler for protocol id on h. Each stream is served
// in three steps, and each step bounds the work of the next:
//
//  1. opt.Authorize is called with the remote peer before anything is
//     read. A refused peer gets a "permission denied: …" error reply and
//     not one byte of its request is read.
//  2. The request's 4-byte length prefix is read. A length over the size
//     Authorize granted gets a "request too large" error reply; the body
//     is not read.
//  3. The body is read (memory grows with the bytes that arrive, not
//     with the announced length) and handler runs; a panicking handler is
//     recovered and reported to the caller as an internal error.
//
// Give each role the size its requests need, so that a member that may
// only send small messages cannot make the node read a large one. For
// example, on a protocol whose big messages only the current aggregator
// sends (isAggregator and isMember being the node's own lookups):
//
//	srv := rpc.ServeWith(h, round.ID, handleRound, rpc.ServerOptions{
//		Authorize: func(from peer.ID) (int, error) {
//			switch {
//			case isAggregator(from):
//				return 64 << 20, nil
//			case isMember(from):
//				return 64 << 10, nil
//			}
//			return 0, fmt.Errorf("%s is not an admitted member", from)
//		},
//		Limits: rpc.Limits{MaxMsgSize: 64 << 20, Timeout: 2 * time.Minute},
//		Log:    log,
//	})
//
// Authorize sees only the peer: the handler must still check that the
// request itself is one the peer may make.
func ServeWith(h host.Host, id p2pproto.ID, handler Handler, opt ServerOptions) *Server {
	log := opt.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	auth := opt.Authorize
	if auth == nil {
		auth = func(from peer.ID) (int, error) {
			return 0, fmt.Errorf("%s may not call %s on this node", from, id)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{h: h, id: id, handler: handler, authorize: auth, log: log.With("protocol", string(id)),
		lim: opt.Limits.withDefaults(), ctx: ctx, cancel: cancel}
	h.SetStreamHandler(id, s.handle)
	return s
}

// Close unregisters the handler, cancels running handlers' contexts and
// waits for them to return. It is safe to call more than once.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	s.h.RemoveStreamHandler(s.id)
	s.cancel()
	s.wg.Wait()
	return nil
}

func (s *Server) handle(st network.Stream) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		_ = st.Reset()
		return
	}
	s.wg.Add(1)
	s.mu.Unlock()
	defer s.wg.Done()

	from := st.Conn().RemotePeer()
	ctx, cancel := context.WithTimeout(s.ctx, s.lim.Timeout)
	defer cancel()
	stop := context.AfterFunc(ctx, func() { _ = st.Reset() })
	defer stop()
	deadline, _ := ctx.Deadline()
	_ = st.SetDeadline(deadline)

	if err := s.serve(ctx, st, from); err != nil {
		s.log.Debug("rpc stream failed", "peer", from.String(), "err", err)
		_ = st.Reset()
		return
	}
	// Close, not reset: the reply (maybe a refusal) reaches the caller;
	// whatever it still sends is discarded by the muxer, unread.
	_ = st.Close()
}

// authorized asks Authorize how large a request from may be, capped by
// the server's limit. Its error is the message the caller gets.
func (s *Server) authorized(from peer.ID) (limit int, err error) {
	defer func() {
		if r := recover(); r != nil {
			s.log.Error("rpc Authorize panicked; request refused", "peer", from.String(), "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			limit, err = 0, errors.New("internal error in the remote server's authorization (see its log)")
		}
	}()
	limit, err = s.authorize(from)
	switch {
	case err != nil:
		s.log.Debug("rpc refused before reading the request", "peer", from.String(), "reason", err.Error())
		return 0, fmt.Errorf("permission denied: %w", err)
	case limit <= 0:
		s.log.Error("rpc Authorize granted no request size and no error; request refused", "peer", from.String(), "size", limit)
		return 0, errors.New("internal error in the remote server's authorization (see its log)")
	}
	return min(limit, s.lim.MaxMsgSize), nil
}

// serve authorizes the peer, reads one request from rw within the size it
// was granted, runs the handler and writes the reply. An error means the
// stream should be reset.
func (s *Server) serve(ctx context.Context, rw io.ReadWriter, from peer.ID) error {
	limit, err := s.authorized(from)
	if err != nil {
		return writeError(rw, err.Error())
	}
	req, err := ReadMsg(rw, limit)
	if err != nil {
		if errors.Is(err, ErrTooLarge) {
			// Say why before giving up; the rest of the request is not read.
			_ = writeError(rw, fmt.Sprintf("request too large: %v", err))
			return nil
		}
		return err
	}
	reply, err := s.call(ctx, from, req)
	if err != nil {
		return writeError(rw, err.Error())
	}
	if len(reply) > s.lim.MaxMsgSize {
		s.log.Error("rpc handler reply exceeds the message limit", "peer", from.String(), "bytes", len(reply), "limit", s.lim.MaxMsgSize)
		return writeError(rw, fmt.Sprintf("internal error: reply of %d bytes exceeds the limit of %d", len(reply), s.lim.MaxMsgSize))
	}
	return writeFrame(rw, []byte{statusOK}, reply)
}

// call runs the handler, turning a panic into an error.
func (s *Server) call(ctx context.Context, from peer.ID, req []byte) (reply []byte, err error) {
	defer func() {
		if r := recover(); r != nil {
			s.log.Error("rpc handler panicked", "peer", from.String(), "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			reply, err = nil, errors.New("internal error in the remote handler (see its log)")
		}
	}()
	return s.handler(ctx, from, req)
}

// writeError writes an error reply, truncating long messages at a rune
// boundary.
func writeError(w io.Writer, msg string) error {
	if len(msg) > maxErrorLen {
		cut := maxErrorLen
		for cut > 0 && !utf8.RuneStart(msg[cut]) {
			cut--
		}
		msg = msg[:cut] + "…"
	}
	return writeFrame(w, []byte{statusError}, []byte(msg))
}

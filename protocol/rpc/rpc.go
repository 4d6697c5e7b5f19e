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
	if err := WriteMsg(s, req); err != nil {
		return nil, fmt.Errorf("rpc: call %s on %s: send request: %w", id, p, err)
	}
	if err := s.CloseWrite(); err != nil {
		return nil, fmt.Errorf("rpc: call %s on %s: close request: %w", id, p, err)
	}
	payload, err := ReadMsg(s, replyLimit(lim.MaxMsgSize))
	if err != nil {
		return nil, fmt.Errorf("rpc: call %s on %s: read reply: %w", id, p, err)
	}
	read = true
	reply, err = decodeReply(p, payload)
	if err == nil && len(reply) > lim.MaxMsgSize {
		return nil, fmt.Errorf("rpc: call %s on %s: read reply: %w: %d bytes, limit %d", id, p, ErrTooLarge, len(reply), lim.MaxMsgSize)
	}
	return reply, err
}

// Server serves one protocol ID. Create it with Serve; Close unregisters
// it.
type Server struct {
	h       host.Host
	id      p2pproto.ID
	handler Handler
	allowed func(peer.ID) bool
	log     *slog.Logger
	lim     Limits

	ctx    context.Context
	cancel context.CancelFunc

	mu     sync.Mutex
	closed bool
	wg     sync.WaitGroup
}

// Serve registers handler for protocol id on h with the default limits.
// See ServeWithLimits.
func Serve(h host.Host, id p2pproto.ID, handler Handler, allowed func(peer.ID) bool, log *slog.Logger) *Server {
	return ServeWithLimits(h, id, handler, allowed, log, Limits{})
}

// ServeWithLimits registers handler for protocol id on h. Peers for which
// allowed returns false (nil allows no one) get an error reply and their
// request is not read. Oversized or truncated requests are refused, a
// panicking handler is recovered and reported to the caller as an internal
// error.
func ServeWithLimits(h host.Host, id p2pproto.ID, handler Handler, allowed func(peer.ID) bool, log *slog.Logger, lim Limits) *Server {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if allowed == nil {
		allowed = func(peer.ID) bool { return false }
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{h: h, id: id, handler: handler, allowed: allowed, log: log.With("protocol", string(id)),
		lim: lim.withDefaults(), ctx: ctx, cancel: cancel}
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

	if !s.allowed(from) {
		s.log.Debug("refused rpc from non-member", "peer", from.String())
		_ = writeError(st, fmt.Sprintf("permission denied: %s is not a member of this consortium", from))
		_ = st.Close()
		return
	}
	if err := s.serve(ctx, st, from); err != nil {
		s.log.Debug("rpc stream failed", "peer", from.String(), "err", err)
		_ = st.Reset()
		return
	}
	_ = st.Close()
}

// serve reads one request from rw, runs the handler and writes the reply.
// An error means the stream should be reset.
func (s *Server) serve(ctx context.Context, rw io.ReadWriter, from peer.ID) error {
	req, err := ReadMsg(rw, s.lim.MaxMsgSize)
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

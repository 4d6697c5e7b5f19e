package rpc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	p2pproto "github.com/libp2p/go-libp2p/core/protocol"

	"github.com/cxnet/cxnet/protocol"
	"github.com/cxnet/cxnet/protocol/protocoltest"
)

// Protocol IDs of the tests' servers.
const (
	testID  p2pproto.ID = "/cxnet/test/1.0.0"
	otherID p2pproto.ID = "/cxnet/test-other/1.0.0"
)

// logBuffer collects log output for assertions.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// pair returns a client and a server host that admit each other.
func pair(t *testing.T) (client, server *protocol.Host) {
	t.Helper()
	set := protocol.NewPeerSet()
	client, server = protocoltest.NewHost(t, set), protocoltest.NewHost(t, set)
	set.Add(client.ID(), server.ID())
	client.AddPeer(peer.AddrInfo{ID: server.ID(), Addrs: server.Raw().Addrs()})
	return client, server
}

func TestCallServe(t *testing.T) {
	client, server := pair(t)
	var logs logBuffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))

	handler := func(ctx context.Context, from peer.ID, req []byte) ([]byte, error) {
		switch {
		case string(req) == "fail":
			return nil, errors.New("not admitted: sign the descriptor first")
		case string(req) == "panic":
			panic("boom")
		case string(req) == "block":
			<-ctx.Done()
			return nil, ctx.Err()
		case string(req) == "big":
			return bytes.Repeat([]byte{1}, 100), nil
		case from != client.ID():
			return nil, fmt.Errorf("wrong caller %s", from)
		}
		return append([]byte("hello "), req...), nil
	}
	srv := ServeWithLimits(server.Raw(), testID, handler, server.Allowed, log, Limits{MaxMsgSize: 1 << 10})
	t.Cleanup(func() { _ = srv.Close() })

	tests := []struct {
		name       string
		req        []byte
		lim        Limits
		ctxTimeout time.Duration
		want       string
		remote     string // a substring of the RemoteError message
		wantErr    error
	}{
		{"happy path", []byte("join"), Limits{}, 0, "hello join", "", nil},
		{"empty request", []byte{}, Limits{}, 0, "hello ", "", nil},
		{"remote error", []byte("fail"), Limits{}, 0, "", "not admitted: sign the descriptor first", nil},
		{"handler panic", []byte("panic"), Limits{}, 0, "", "internal error in the remote handler", nil},
		{"served after the panic", []byte("again"), Limits{}, 0, "hello again", "", nil},
		{"request over the server's limit", make([]byte, 2<<10), Limits{}, 0, "", "request too large", nil},
		{"request over the caller's limit", make([]byte, 2<<10), Limits{MaxMsgSize: 1 << 10}, 0, "", "", ErrTooLarge},
		{"reply over the caller's limit", []byte("big"), Limits{MaxMsgSize: 16}, 0, "", "", ErrTooLarge},
		{"caller deadline", []byte("block"), Limits{}, 300 * time.Millisecond, "", "", context.DeadlineExceeded},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			if tc.ctxTimeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tc.ctxTimeout)
				defer cancel()
			}
			start := time.Now()
			got, err := CallWithLimits(ctx, client.Raw(), server.ID(), testID, tc.req, tc.lim)
			var re *RemoteError
			switch {
			case tc.remote != "":
				if !errors.As(err, &re) || !strings.Contains(re.Msg, tc.remote) || re.Peer != server.ID() {
					t.Fatalf("Call: %v, want a RemoteError from %s containing %q", err, server.ID(), tc.remote)
				}
			case tc.wantErr != nil:
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("Call: %v, want %v", err, tc.wantErr)
				}
				if took := time.Since(start); took > 5*time.Second {
					t.Fatalf("Call took %v", took)
				}
			default:
				if err != nil || string(got) != tc.want {
					t.Fatalf("Call = %q, %v; want %q", got, err, tc.want)
				}
			}
		})
	}
	if !strings.Contains(logs.String(), "rpc handler panicked") {
		t.Error("the handler's panic was not logged")
	}
}

func TestCallNotAllowed(t *testing.T) {
	client, server := pair(t)
	var logs logBuffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	called := false
	srv := Serve(server.Raw(), otherID, func(context.Context, peer.ID, []byte) ([]byte, error) {
		called = true
		return nil, nil
	}, func(p peer.ID) bool { return p != client.ID() }, log)
	t.Cleanup(func() { _ = srv.Close() })

	_, err := Call(context.Background(), client.Raw(), server.ID(), otherID, []byte("entry"))
	var re *RemoteError
	if !errors.As(err, &re) || !strings.Contains(re.Msg, "permission denied") {
		t.Fatalf("Call from a non-allowed peer: %v, want a permission-denied RemoteError", err)
	}
	if called {
		t.Error("handler ran for a non-allowed peer")
	}
	if !strings.Contains(logs.String(), "rpc refused before reading the request") || !strings.Contains(logs.String(), client.ID().String()) {
		t.Errorf("refusal not logged with the peer id: %s", logs.String())
	}
}

func TestBadFramesOnTheWire(t *testing.T) {
	client, server := pair(t)
	srv := Serve(server.Raw(), testID, func(_ context.Context, _ peer.ID, req []byte) ([]byte, error) {
		return req, nil
	}, server.Allowed, nil)
	t.Cleanup(func() { _ = srv.Close() })

	tests := []struct {
		name      string
		send      []byte
		wantReply string // a substring of the error reply; "" means the stream is reset
	}{
		{"oversize header", frame(DefaultMaxMsgSize+1, nil), "request too large"},
		{"truncated body", frame(100, []byte("short")), ""},
		{"truncated header", []byte{0, 0}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			s, err := client.Raw().NewStream(ctx, server.ID(), testID)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Reset()
			_ = s.SetDeadline(time.Now().Add(5 * time.Second))
			if _, err := s.Write(tc.send); err != nil {
				t.Fatal(err)
			}
			_ = s.CloseWrite()
			payload, err := ReadMsg(s, 0)
			if tc.wantReply == "" {
				if err == nil {
					t.Fatalf("got a reply %q to a bad frame", payload)
				}
				return
			}
			if err != nil {
				t.Fatalf("no error reply: %v", err)
			}
			_, err = decodeReply(server.ID(), payload)
			if err == nil || !strings.Contains(err.Error(), tc.wantReply) {
				t.Fatalf("reply %v, want %q", err, tc.wantReply)
			}
		})
	}
	// The server is still there.
	if got, err := Call(context.Background(), client.Raw(), server.ID(), testID, []byte("ok")); err != nil || string(got) != "ok" {
		t.Fatalf("Call after bad frames = %q, %v", got, err)
	}
}

func TestServerClose(t *testing.T) {
	client, server := pair(t)
	started := make(chan struct{})
	srv := Serve(server.Raw(), otherID, func(ctx context.Context, _ peer.ID, _ []byte) ([]byte, error) {
		close(started)
		<-ctx.Done() // Close must cancel this
		return nil, ctx.Err()
	}, server.Allowed, nil)

	errc := make(chan error, 1)
	go func() {
		_, err := Call(context.Background(), client.Raw(), server.ID(), otherID, nil)
		errc <- err
	}()
	select {
	case <-started:
	case <-time.After(5 * time.Second):
		t.Fatal("handler did not start within 5 s")
	}
	closed := make(chan struct{})
	go func() {
		_ = srv.Close()
		_ = srv.Close()
		close(closed)
	}()
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not return within 5 s")
	}
	select {
	case err := <-errc:
		if err == nil {
			t.Fatal("Call succeeded against a closed server")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Call still running 5 s after the server closed")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := Call(ctx, client.Raw(), server.ID(), otherID, nil); err == nil {
		t.Fatal("Call succeeded after Close unregistered the protocol")
	}
}

// rw joins a reader and a writer into an io.ReadWriter.
type rw struct {
	io.Reader
	io.Writer
}

// FuzzServe feeds arbitrary bytes to the server's stream logic, from a
// refused peer, a peer granted a small size, or one granted more than the
// server's ceiling: it never panics, never reads more than the header plus
// the size the peer was granted (nothing for a refused peer), and when it
// answers, the answer is one well-formed reply frame.
func FuzzServe(f *testing.F) {
	f.Add(frame(5, []byte("hello")), byte(2))
	f.Add(frame(5, []byte("panic")), byte(2))
	f.Add(frame(4, []byte("fail")), byte(2))
	f.Add(frame(1<<20, nil), byte(2))
	f.Add(frame(17, make([]byte, 17)), byte(1))
	f.Add(frame(5, []byte("hello")), byte(0))
	f.Add([]byte{0}, byte(1))
	granted := map[peer.ID]int{"refused": 0, "small": 16, "large": 1 << 30}
	peers := []peer.ID{"refused", "small", "large"}
	s := &Server{
		handler: func(_ context.Context, _ peer.ID, req []byte) ([]byte, error) {
			switch string(req) {
			case "panic":
				panic("boom")
			case "fail":
				return nil, errors.New("handler error")
			}
			return req, nil
		},
		authorize: func(from peer.ID) (int, error) {
			if granted[from] == 0 {
				return 0, errors.New("not allowed")
			}
			return granted[from], nil
		},
		log: slog.New(slog.DiscardHandler),
		lim: Limits{MaxMsgSize: 64}.withDefaults(),
	}
	f.Fuzz(func(t *testing.T, data []byte, who byte) {
		from := peers[int(who)%len(peers)]
		in := &countingReader{r: bytes.NewReader(data)}
		var out bytes.Buffer
		err := s.serve(context.Background(), rw{in, &out}, from)
		budget := 0
		if granted[from] > 0 {
			budget = headerSize + min(granted[from], s.lim.MaxMsgSize)
		}
		if in.n > budget {
			t.Fatalf("read %d bytes from %s, granted %d", in.n, from, budget)
		}
		if err != nil {
			return // the stream would be reset
		}
		payload, rerr := ReadMsg(&out, replyLimit(s.lim.MaxMsgSize))
		if rerr != nil {
			t.Fatalf("served reply is not a frame: %v", rerr)
		}
		_, derr := decodeReply("fuzz", payload)
		if errors.Is(derr, ErrBadReply) {
			t.Fatalf("served reply is malformed: %v", derr)
		}
		if re := (*RemoteError)(nil); from == "refused" && (!errors.As(derr, &re) || !strings.HasPrefix(re.Msg, "permission denied")) {
			t.Fatalf("refused peer got %v", derr)
		}
		if out.Len() != 0 {
			t.Fatalf("%d bytes after the reply frame", out.Len())
		}
	})
}

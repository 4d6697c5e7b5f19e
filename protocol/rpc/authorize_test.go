package rpc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/cxnet/cxnet/protocol"
	"github.com/cxnet/cxnet/protocol/protocoltest"
)

// roundCeiling is the largest request of the round protocol: the size a
// member who is not allowed could make a node read before the defence.
const roundCeiling = 64 << 20

// admitted returns a server host and n client hosts that all admit each
// other at the libp2p level, so that only the rpc server's Authorize
// tells them apart.
func admitted(t *testing.T, n int) (server *protocol.Host, clients []*protocol.Host) {
	t.Helper()
	set := protocol.NewPeerSet()
	server = protocoltest.NewHost(t, set)
	set.Add(server.ID())
	for range n {
		c := protocoltest.NewHost(t, set)
		set.Add(c.ID())
		c.AddPeer(peer.AddrInfo{ID: server.ID(), Addrs: server.Raw().Addrs()})
		clients = append(clients, c)
	}
	return server, clients
}

// sendRaw opens a stream, writes send as is (without closing its side)
// and returns the reply frame's error message. The caller keeps the
// stream open, so a server that waited for more bytes would time out.
func sendRaw(t *testing.T, from, to *protocol.Host, send []byte) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := from.Raw().NewStream(ctx, to.ID(), testProtocol)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Reset()
	_ = s.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := s.Write(send); err != nil {
		t.Fatal(err)
	}
	payload, err := ReadMsg(s, 0)
	if err != nil {
		t.Fatalf("no reply while the stream stays open: %v (did the server wait for the announced body?)", err)
	}
	_, err = decodeReply(to.ID(), payload)
	return err
}

// TestAttackOversizedRequestBeforeAuthorization is the attack of a
// member that the round protocol does not want to hear from (or wants
// only small messages from): it announces a 64 MiB request. The server
// must refuse it from the peer id, or from the length prefix, without
// waiting for or reading the body.
func TestAttackOversizedRequestBeforeAuthorization(t *testing.T) {
	server, clients := admitted(t, 3)
	outsider, small, large := clients[0], clients[1], clients[2]
	var served atomic.Int32
	var logs logBuffer
	srv := ServeWith(server.Raw(), testProtocol, func(_ context.Context, _ peer.ID, req []byte) ([]byte, error) {
		served.Add(1)
		return []byte(fmt.Sprintf("got %d bytes", len(req))), nil
	}, ServerOptions{
		Authorize: func(from peer.ID) (int, error) {
			switch from {
			case small.ID():
				return 1 << 10, nil
			case large.ID():
				return 1 << 30, nil // more than the ceiling: capped to it
			}
			return 0, fmt.Errorf("%s has no part in this round", from)
		},
		Limits: Limits{MaxMsgSize: roundCeiling, Timeout: time.Minute},
		Log:    slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	t.Cleanup(func() { _ = srv.Close() })

	t.Run("raw frames", func(t *testing.T) {
		tests := []struct {
			name   string
			from   *protocol.Host
			send   []byte
			refuse string
		}{
			{"outsider announces 64 MiB", outsider, frame(roundCeiling, nil), "permission denied: " + outsider.ID().String() + " has no part in this round"},
			{"outsider sends nothing at all", outsider, nil, "permission denied"},
			{"small role announces 64 MiB", small, frame(roundCeiling, nil), "request too large"},
			{"small role announces one byte over its size", small, frame(1<<10+1, nil), "request too large"},
			{"large role announces over the ceiling", large, frame(roundCeiling+1, nil), "request too large"},
			{"anyone announces 4 GiB", large, frame(0xffffffff, nil), "request too large"},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				err := sendRaw(t, tc.from, server, tc.send)
				var re *RemoteError
				if !errors.As(err, &re) || !strings.Contains(re.Msg, tc.refuse) {
					t.Fatalf("reply %v, want a refusal containing %q", err, tc.refuse)
				}
			})
		}
	})

	t.Run("calls", func(t *testing.T) {
		tests := []struct {
			name   string
			from   *protocol.Host
			size   int
			want   string
			refuse string
		}{
			{"outsider with a request larger than the stream window", outsider, 8 << 20, "", "permission denied"},
			{"outsider with an empty request", outsider, 0, "", "permission denied"},
			{"small role over its size", small, 8 << 20, "", "request too large"},
			{"small role within its size", small, 1 << 10, "got 1024 bytes", ""},
			{"large role, a large request", large, 8 << 20, "got 8388608 bytes", ""},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				defer cancel()
				start := time.Now()
				got, err := CallWithLimits(ctx, tc.from.Raw(), server.ID(), testProtocol, make([]byte, tc.size), Limits{MaxMsgSize: roundCeiling})
				if tc.refuse != "" {
					var re *RemoteError
					if !errors.As(err, &re) || !strings.Contains(re.Msg, tc.refuse) {
						t.Fatalf("Call: %v, want a refusal containing %q", err, tc.refuse)
					}
					// The refusal comes back at once, not when the caller's
					// deadline ends a request the server never reads.
					if took := time.Since(start); took > 5*time.Second {
						t.Fatalf("refusal took %v", took)
					}
					return
				}
				if err != nil || string(got) != tc.want {
					t.Fatalf("Call = %q, %v; want %q", got, err, tc.want)
				}
			})
		}
	})
	if got := served.Load(); got != 2 {
		t.Errorf("handler ran %d times, want 2 (only the requests within their size)", got)
	}
	if !strings.Contains(logs.String(), "rpc refused") || !strings.Contains(logs.String(), outsider.ID().String()) {
		t.Errorf("refusal not logged with the peer id:\n%s", logs.String())
	}
}

// countingReader counts the bytes the server took from the stream.
type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

// TestServeReadsNoMoreThanAuthorized measures, byte for byte, how much of
// a request the server reads before it refuses it.
func TestServeReadsNoMoreThanAuthorized(t *testing.T) {
	const (
		outsider peer.ID = "outsider"
		small    peer.ID = "small"
		zero     peer.ID = "zero"
		panics   peer.ID = "panics"
	)
	var logs logBuffer
	s := &Server{
		handler: func(_ context.Context, _ peer.ID, req []byte) ([]byte, error) { return req[:min(len(req), 8)], nil },
		authorize: func(from peer.ID) (int, error) {
			switch from {
			case small:
				return 16, nil
			case zero:
				return 0, nil
			case panics:
				panic("authorize bug")
			}
			return 0, errors.New("not a participant")
		},
		log: slog.New(slog.NewTextHandler(&logs, nil)),
		lim: Limits{MaxMsgSize: roundCeiling}.withDefaults(),
	}
	body := bytes.Repeat([]byte{7}, 64<<10) // what the sender has ready after the header
	tests := []struct {
		name     string
		from     peer.ID
		in       []byte
		wantRead int
		reply    string // reply payload for a served request
		refuse   string
	}{
		{"outsider announcing 64 MiB", outsider, frame(roundCeiling, body), 0, "", "permission denied: not a participant"},
		{"granted no size", zero, frame(4, []byte("abcd")), 0, "", "internal error"},
		{"authorize panics", panics, frame(4, []byte("abcd")), 0, "", "internal error"},
		{"small role announcing 64 MiB", small, frame(roundCeiling, body), headerSize, "", "request too large"},
		{"small role one byte over", small, frame(17, body[:17]), headerSize, "", "request too large"},
		{"small role within its size", small, frame(16, body[:16]), headerSize + 16, string(body[:8]), ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := &countingReader{r: bytes.NewReader(tc.in)}
			var out bytes.Buffer
			if err := s.serve(context.Background(), rw{in, &out}, tc.from); err != nil {
				t.Fatalf("serve: %v", err)
			}
			if in.n > tc.wantRead {
				t.Fatalf("server read %d bytes of the request, want at most %d", in.n, tc.wantRead)
			}
			payload, err := ReadMsg(&out, 0)
			if err != nil {
				t.Fatalf("no reply frame: %v", err)
			}
			got, err := decodeReply("server", payload)
			if tc.refuse != "" {
				var re *RemoteError
				if !errors.As(err, &re) || !strings.Contains(re.Msg, tc.refuse) {
					t.Fatalf("reply %q, %v; want a refusal containing %q", got, err, tc.refuse)
				}
				return
			}
			if err != nil || string(got) != tc.reply {
				t.Fatalf("reply %q, %v; want %q", got, err, tc.reply)
			}
		})
	}
	for _, want := range []string{"authorize bug", "granted no request size"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, logs.String())
		}
	}
}

// testProtocol is the protocol these tests serve.
const testProtocol = "/cxnet/test/authorize/1.0.0"

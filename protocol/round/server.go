package round

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/cxnet/cxnet/protocol/rpc"
)

// Backend is what a member's node does for a round's aggregator. The
// node checks every request against its own state before it answers:
// that from is the round's aggregator, that the round is where the step
// needs it, and the policy of the step.
type Backend interface {
	// Commit computes, pads, encrypts and keeps this participant's input,
	// and commits to it: its signed round.input entry, for the seal.
	Commit(ctx context.Context, from peer.ID, req *Request) (*Commitment, error)
	// Fetch hands over this participant's input once the round is sealed.
	Fetch(ctx context.Context, from peer.ID, req *Request) (*Input, error)
	// Print gives this member's signed fingerprint of its input or its
	// share, against the sum req.Digest names.
	Print(ctx context.Context, from peer.ID, req *Request) (*Print, error)
	// Decrypt gives this decryptor's share of req.Sum, once the inputs'
	// fingerprints show it is the sum of the sealed inputs.
	Decrypt(ctx context.Context, from peer.ID, req *Request) (*Share, error)
	// Attest opens the round's sums with req.Sum, once the shares'
	// fingerprints show it is the sum of the decryptors' shares, and
	// signs what opened.
	Attest(ctx context.Context, from peer.ID, req *Request) ([]byte, error)
	// Pads reveals this participant's pads of the kept cells.
	Pads(ctx context.Context, from peer.ID, req *Request) (*Pads, error)
}

// Options configure a Server.
type Options struct {
	// Authorize sorts peers before a byte of their request is read, and
	// says how large a request each may send (rpc.Authorize).
	Authorize rpc.Authorize
	// Limits bound every request, reply and exchange.
	Limits rpc.Limits
	Log    *slog.Logger
}

// Serve answers the protocol on h with b.
func Serve(h host.Host, b Backend, opt Options) *rpc.Server {
	return rpc.ServeWith(h, ID, func(ctx context.Context, from peer.ID, body []byte) ([]byte, error) {
		req, err := Decode(body)
		if err != nil {
			return nil, err
		}
		reply, err := Dispatch(ctx, b, from, req)
		if err != nil {
			return nil, err
		}
		return Encode(reply)
	}, rpc.ServerOptions{Authorize: opt.Authorize, Limits: opt.Limits, Log: opt.Log})
}

// Decode decodes a request strictly (codec.go) and checks it.
func Decode(body []byte) (*Request, error) {
	var req Request
	if err := decMode.Unmarshal(body, &req); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadRequest, err)
	}
	if err := req.Check(); err != nil {
		return nil, err
	}
	return &req, nil
}

// Dispatch hands a checked request to the backend's method for its
// operation and returns the reply: what the server sends, and what a node
// serving itself gets.
func Dispatch(ctx context.Context, b Backend, from peer.ID, req *Request) (any, error) {
	switch req.Op {
	case OpCommit:
		return b.Commit(ctx, from, req)
	case OpFetch:
		return b.Fetch(ctx, from, req)
	case OpPrint:
		return b.Print(ctx, from, req)
	case OpDecrypt:
		return b.Decrypt(ctx, from, req)
	case OpAttest:
		return b.Attest(ctx, from, req)
	case OpPads:
		return b.Pads(ctx, from, req)
	}
	return nil, fmt.Errorf("%w: unknown operation %q", ErrBadRequest, req.Op)
}

package join

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/cxnet/cxnet/protocol/rpc"
)

// Client is the joining node's side of /cxnet/join.
type Client struct {
	h   host.Host
	lim rpc.Limits
}

// NewClient returns a client on h. Zero fields of lim take rpc's
// defaults. It does no I/O.
func NewClient(h host.Host, lim rpc.Limits) *Client { return &Client{h: h, lim: lim} }

// Join sends req to the member's node via. A refusal (the descriptor is
// not the admitted one, the organisation is not admitted) comes back as
// an error wrapping *rpc.RemoteError, whose message says why.
func (c *Client) Join(ctx context.Context, via peer.ID, req Request) (*Reply, error) {
	if err := req.Check(c.h.ID()); err != nil {
		return nil, err
	}
	b, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	out, err := rpc.CallWithLimits(ctx, c.h, via, ID, b, c.lim)
	if err != nil {
		return nil, fmt.Errorf("join via %s: %w", via, err)
	}
	r, err := DecodeReply(out)
	if err != nil {
		return nil, fmt.Errorf("join via %s: %w", via, err)
	}
	return r, nil
}

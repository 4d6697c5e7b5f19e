package round

import (
	"context"
	"fmt"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/cxnet/cxnet/protocol/rpc"
)

// Client sends a round's requests to members' nodes.
type Client struct {
	h   host.Host
	lim rpc.Limits
	// Tap, when set, sees every request sent and the reply received, as
	// they cross the stream (tests).
	Tap func(to peer.ID, req, reply []byte)
}

// NewClient returns a client on h whose exchanges lim bounds.
func NewClient(h host.Host, lim rpc.Limits) *Client { return &Client{h: h, lim: lim} }

// Call sends req to peer to and decodes the reply into reply.
func (c *Client) Call(ctx context.Context, to peer.ID, req *Request, reply any) error {
	if err := req.Check(); err != nil {
		return err
	}
	b, err := Encode(req)
	if err != nil {
		return err
	}
	out, err := rpc.CallWithLimits(ctx, c.h, to, ID, b, c.lim)
	if c.Tap != nil {
		c.Tap(to, b, out)
	}
	if err != nil {
		return err
	}
	if err := DecodeReply(out, reply); err != nil {
		return fmt.Errorf("round: %s's reply to %s: %w", to, req.Op, err)
	}
	return nil
}

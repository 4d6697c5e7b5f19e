package keys

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/cxnet/cxnet/protocol/rpc"
)

// ClientConfig configures NewClient.
type ClientConfig struct {
	// MaxShareSize is the length of a dealt share under the node's
	// homomorphic parameters: the client refuses to send a longer one,
	// which the receiver would refuse unread. Required.
	MaxShareSize int
	// Timeout bounds a deal whose context has no deadline. Default
	// rpc.DefaultTimeout.
	Timeout time.Duration
}

// Client is the dealing side of /cxnet/keys.
type Client struct {
	h   host.Host
	lim rpc.Limits
	max int
}

// NewClient returns a client that deals over h. It does no I/O.
func NewClient(h host.Host, cfg ClientConfig) (*Client, error) {
	var errs []error
	if h == nil {
		errs = append(errs, errors.New("keys: client config: host is required"))
	}
	if cfg.MaxShareSize <= 0 {
		errs = append(errs, fmt.Errorf("keys: client config: MaxShareSize is %d; set it to the size of a dealt share", cfg.MaxShareSize))
	}
	if cfg.Timeout < 0 {
		errs = append(errs, fmt.Errorf("keys: client config: Timeout is %v; leave it 0 for the default", cfg.Timeout))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return &Client{h: h, lim: rpc.Limits{MaxMsgSize: MaxDealSize(cfg.MaxShareSize), Timeout: cfg.Timeout}, max: cfg.MaxShareSize}, nil
}

// Deal sends d to member to and returns once it acknowledged storing it.
// A refusal by the receiver comes back as an error wrapping
// *rpc.RemoteError, whose message says why.
func (c *Client) Deal(ctx context.Context, to peer.ID, d Deal) error {
	switch {
	case d.Epoch == 0:
		return fmt.Errorf("keys: deal to %s: %w: key epoch 0; epochs count from 1", to, ErrMalformed)
	case len(d.Share) == 0 || len(d.Share) > c.max:
		return fmt.Errorf("keys: deal key epoch %d to %s: %w: share of %d bytes, want 1 to %d", d.Epoch, to, ErrShareSize, len(d.Share), c.max)
	}
	req, err := json.Marshal(d)
	if err != nil {
		return fmt.Errorf("keys: deal key epoch %d to %s: %w", d.Epoch, to, err)
	}
	reply, err := rpc.CallWithLimits(ctx, c.h, to, ID, req, c.lim)
	if err != nil {
		return fmt.Errorf("keys: deal key epoch %d: %w", d.Epoch, err)
	}
	var ack Ack
	if err := decodeStrict(reply, &ack); err != nil {
		return fmt.Errorf("keys: deal key epoch %d to %s: reply: %w", d.Epoch, to, err)
	}
	if ack.Epoch != d.Epoch {
		return fmt.Errorf("keys: deal key epoch %d to %s: %w: acknowledged key epoch %d", d.Epoch, to, ErrMalformed, ack.Epoch)
	}
	return nil
}

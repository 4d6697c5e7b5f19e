package protocol

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/net/swarm"
)

// Errors Connect returns, for callers to branch on with errors.Is. The
// returned error wraps one of them and libp2p's own error, and says what to
// check.
var (
	// ErrNotMember: this node's allow-list refused the dial.
	ErrNotMember = errors.New("peer is not an admitted member")
	// ErrHandshake: the connection was opened but the encrypted handshake
	// failed or stalled, typically a consortium PSK mismatch.
	ErrHandshake = errors.New("handshake failed")
	// ErrRefused: the handshake succeeded, then the remote node closed the
	// connection, typically because this node is not on its allow-list.
	ErrRefused = errors.New("connection refused by the remote node")
	// ErrUnreachable: no TCP connection could be opened to any address.
	ErrUnreachable = errors.New("peer unreachable")
)

// classifyDialError turns libp2p's dial errors into one that says what
// went wrong and what to do. libp2p wraps its upgrade failures with
// fmt.Errorf only, so the stages are recognised by their text; the host
// tests pin that text for the libp2p version in go.mod.
func classifyDialError(p peer.ID, err error, psk []byte) error {
	msg := err.Error()
	var opErr *net.OpError
	switch {
	case errors.Is(err, swarm.ErrGaterDisallowedConnection) || strings.Contains(msg, "gater rejected connection"):
		return fmt.Errorf("protocol: cannot connect to %s: %w: it is not on this node's allow-list (admit it with `cxnet consortium admit`, or wait until this node has synced the member list): %w", p, ErrNotMember, err)
	case errors.Is(err, swarm.ErrNoAddresses) || errors.Is(err, swarm.ErrNoGoodAddresses):
		return fmt.Errorf("protocol: cannot connect to %s: %w: no usable TCP address is known for it (check the member's addrs): %w", p, ErrUnreachable, err)
	case strings.Contains(msg, "failed to negotiate security protocol") || strings.Contains(msg, "private network protector"):
		return handshakeError(p, err, psk)
	case strings.Contains(msg, "failed to negotiate stream multiplexer"):
		return fmt.Errorf("protocol: cannot connect to %s: %w right after the handshake — is this node an admitted member there (its allow-list refuses unknown peers)?: %w", p, ErrRefused, err)
	case errors.As(err, &opErr) && opErr.Op == "dial":
		return fmt.Errorf("protocol: cannot connect to %s: %w: is the node running, the address right and the TCP port open?: %w", p, ErrUnreachable, err)
	case errors.Is(err, context.DeadlineExceeded) && psk != nil:
		// A PSK mismatch often shows as a stall: each side decrypts the
		// other's handshake to noise and waits for more.
		return handshakeError(p, err, psk)
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("protocol: cannot connect to %s: %w: timed out — is the node running and its TCP port reachable? if the consortium uses a private-network PSK (consortium create --psk), this node needs it too: %w", p, ErrUnreachable, err)
	}
	return fmt.Errorf("protocol: cannot connect to %s: %w", p, err)
}

func handshakeError(p peer.ID, err error, psk []byte) error {
	if psk == nil {
		return fmt.Errorf("protocol: cannot connect to %s: %w — does the consortium use a private-network PSK (consortium create --psk)? then this node needs it too: %w", p, ErrHandshake, err)
	}
	return fmt.Errorf("protocol: cannot connect to %s: %w — do both nodes use the same consortium PSK (consortium create --psk)? this node's PSK fingerprint is %s: %w", p, ErrHandshake, PSKFingerprint(psk), err)
}

// Package keys is the /cxnet/keys wire protocol: a member deals one
// Shamir share of its secret key share for a key epoch to another
// member's node. One [Deal] goes out per stream and an [Ack] (or an error
// saying why the share was refused) comes back, framed by package rpc.
//
// The [Client] and the [Server] live side by side here; what the server
// needs from the node is the small [Backend] interface, declared here and
// implemented by the node, which keeps every policy check (the dealer is a
// member of the epoch, the share has the shape of one, a dealer cannot
// change a share it dealt). The server bounds its work before it reads
// anything: a peer that is not an admitted member gets a refusal and not
// one byte of its request is read, and an admitted member may send no more
// than the largest Deal that can carry a share of ServerConfig.MaxShareSize
// bytes.
//
// It imports only the standard library, protocol/rpc and go-libp2p. It
// must not import privacy, store, contracts, ingest, node or cli: the node
// passes in the share size its parameters give and the admitted-member
// lookup.
package keys

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"

	p2pproto "github.com/libp2p/go-libp2p/core/protocol"

	"github.com/cxnet/cxnet/protocol/rpc"
)

// ID is the protocol ID of /cxnet/keys. Version 2 carries the same Deal
// as version 1 and answers with an [Ack] instead of {"ok":true}.
const ID p2pproto.ID = "/cxnet/keys/2.0.0"

// Deal is the request: the dealer's Shamir share for the receiving member
// in key epoch Epoch (epochs count from 1).
type Deal struct {
	Epoch uint64 `json:"epoch"`
	Share []byte `json:"share"`
}

// Ack is the reply to a Deal the receiver has stored (now or before).
type Ack struct {
	Epoch uint64 `json:"epoch"`
}

// Errors of the message decoding, for errors.Is.
var (
	// ErrMalformed: a message is not the JSON encoding of its type.
	ErrMalformed = errors.New("malformed message")
	// ErrShareSize: a Deal carries no share or a share longer than the
	// receiver's limit.
	ErrShareSize = errors.New("share size out of range")
)

// MaxDealSize is the length of the longest encoded Deal whose share has
// at most maxShare bytes: the frame limit of both sides.
func MaxDealSize(maxShare int) int {
	b, _ := json.Marshal(Deal{Epoch: math.MaxUint64}) // cannot fail
	return len(b) - len("null") + len(`""`) + base64.StdEncoding.EncodedLen(maxShare)
}

// decodeDeal decodes a Deal strictly (no unknown fields, nothing after
// it) and checks its shape: an epoch, and a share of 1..maxShare bytes.
func decodeDeal(b []byte, maxShare int) (Deal, error) {
	var d Deal
	if err := decodeStrict(b, &d); err != nil {
		return Deal{}, err
	}
	switch {
	case d.Epoch == 0:
		return Deal{}, fmt.Errorf("%w: deal names key epoch 0; epochs count from 1", ErrMalformed)
	case len(d.Share) == 0 || len(d.Share) > maxShare:
		return Deal{}, fmt.Errorf("%w: deal for key epoch %d carries a share of %d bytes, want 1 to %d", ErrShareSize, d.Epoch, len(d.Share), maxShare)
	}
	return d, nil
}

// decodeStrict decodes one message of this protocol (rpc.DecodeJSON),
// wrapping a failure in ErrMalformed.
func decodeStrict(b []byte, v any) error {
	if err := rpc.DecodeJSON(b, v); err != nil {
		return fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return nil
}

package round

import (
	"errors"
	"fmt"
	"slices"

	p2pproto "github.com/libp2p/go-libp2p/core/protocol"

	"github.com/cxnet/cxnet/kpi"
)

// ID is the protocol's ID. Version 3 checks sums by fingerprints (a
// decryptor receives the sum of the inputs, not every input) and encodes
// messages in CBOR; version 2 nodes cannot take part.
const ID p2pproto.ID = "/cxnet/round/3.0.0"

// Op names a request.
type Op string

// The requests, in the order a round makes them (print twice: of the
// inputs before decrypt, of the shares before attest).
const (
	OpCommit  Op = "commit"
	OpFetch   Op = "fetch"
	OpPrint   Op = "print"
	OpDecrypt Op = "decrypt"
	OpAttest  Op = "attest"
	OpPads    Op = "pads"
)

// Ops are the requests.
var Ops = []Op{OpCommit, OpFetch, OpPrint, OpDecrypt, OpAttest, OpPads}

// Of names what a print request fingerprints.
type Of string

const (
	// OfInput is a participant's input, against the sum of the inputs.
	OfInput Of = "input"
	// OfShare is a decryptor's share, against the sum of the shares.
	OfShare Of = "share"
)

// DigestSize is the size of the digest of a sum a print names.
const DigestSize = 32

// Ciphertexts are encoded ciphertexts or decryption shares (the privacy
// layer's encoding; this package does not read them).
type Ciphertexts = [][]byte

// Input is a participant's encrypted input: one vector of every cell's
// count, then whether the participant feeds each cell, then every padded
// component of every cell, in as many ciphertexts as it takes. A sum of
// inputs, and a sum of decryption shares, have the same shape.
type Input struct {
	Ciphertexts Ciphertexts `json:"ciphertexts"`
}

// Share is a decryptor's share of a round's sum, and its signature.
type Share struct {
	Ciphertexts Ciphertexts `json:"ciphertexts"`
	Sig         []byte      `json:"sig"`
}

// Commitment is a participant's answer to commit: its round.input entry
// (contracts), signed, for the aggregator to carry in the round's seal.
type Commitment struct {
	Entry []byte `json:"entry"`
}

// Print is a member's fingerprint of its input or share, under the
// digest of the sum it is checked against, and its signature.
type Print struct {
	Fingerprint []uint64 `json:"fingerprint"`
	Sig         []byte   `json:"sig"`
}

// Pads are a participant's pads of the kept cells' components, or, for a
// contract with readers, the pads sealed to each reader; or, asked with
// the digest of the inputs' pad sum, the fingerprint of its pads against
// it (decimal: contracts.PadPrint); and its signature.
type Pads struct {
	Pads   []byte               `json:"pads,omitempty"`
	Sealed map[kpi.OrgID][]byte `json:"sealed,omitempty"`
	Print  string               `json:"print,omitempty"`
	Sig    []byte               `json:"sig"`
}

// Request is what the aggregator sends. Which fields an operation carries
// is Check's business.
type Request struct {
	Op    Op     `json:"op"`
	Round string `json:"round"`
	// Active is the threshold set (decrypt, attest, pads).
	Active []kpi.OrgID `json:"active,omitempty"`
	// Of and Digest name what to fingerprint, against which sum (print;
	// pads, Digest alone, once the pads are summed).
	Of     Of     `json:"of,omitempty"`
	Digest []byte `json:"digest,omitempty"`
	// Sum is the sum of the sealed inputs (decrypt) or of the decryptors'
	// shares (attest), and Prints every part's signed fingerprint.
	Sum    *Input              `json:"sum,omitempty"`
	Prints map[kpi.OrgID]Print `json:"prints,omitempty"`
	// Opened is what the decryptors opened, and Attest their signatures
	// over it (pads).
	Opened *kpi.Opened          `json:"opened,omitempty"`
	Attest map[kpi.OrgID][]byte `json:"attest,omitempty"`
}

// MaxRoundID bounds a round id's length.
const MaxRoundID = 200

// ErrBadRequest is wrapped by every error about a request's shape.
var ErrBadRequest = errors.New("round: bad request")

// Check checks a request has the fields its operation needs and no
// others, so that a backend gets only well-formed requests.
func (r *Request) Check() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s %s", ErrBadRequest, r.Op, fmt.Sprintf(format, args...))
	}
	if !slices.Contains(Ops, r.Op) {
		return fmt.Errorf("%w: unknown operation %q (this node speaks %v)", ErrBadRequest, r.Op, Ops)
	}
	if r.Round == "" || len(r.Round) > MaxRoundID {
		return bad("needs a round id of 1 to %d bytes", MaxRoundID)
	}
	need := map[string]bool{
		"active": r.Op == OpDecrypt || r.Op == OpAttest || r.Op == OpPads,
		"of":     r.Op == OpPrint || r.Op == OpPads && len(r.Digest) > 0,
		"sum":    r.Op == OpDecrypt || r.Op == OpAttest,
		"opened": r.Op == OpPads,
	}
	has := map[string]bool{
		"active": len(r.Active) > 0,
		"of":     r.Of != "" || len(r.Digest) > 0,
		"sum":    r.Sum != nil || len(r.Prints) > 0,
		"opened": r.Opened != nil || len(r.Attest) > 0,
	}
	for _, f := range []string{"active", "of", "sum", "opened"} {
		switch {
		case need[f] && !has[f]:
			return bad("needs %s", f)
		case !need[f] && has[f]:
			return bad("carries %s, which it does not use", f)
		}
	}
	if r.Op == OpPads && need["of"] && (r.Of != "" || len(r.Digest) != DigestSize) {
		return bad("may carry only the %d-byte digest of the pad sum", DigestSize)
	}
	if r.Op == OpPrint && (r.Of != OfInput && r.Of != OfShare || len(r.Digest) != DigestSize) {
		return bad("needs what to fingerprint (%s or %s) and the %d-byte digest of the sum", OfInput, OfShare, DigestSize)
	}
	if need["sum"] && (r.Sum == nil || len(r.Prints) == 0) {
		return bad("needs the sum and every part's fingerprint")
	}
	if r.Op == OpPads && (r.Opened == nil || len(r.Attest) == 0) {
		return bad("needs what was opened and the decryptors' signatures over it")
	}
	return nil
}

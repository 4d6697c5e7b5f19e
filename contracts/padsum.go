package contracts

// A release's pads, summed. Every node's state machine needs only the sum
// of the inputs' pads of each kept component, not each input's pads: the
// aggregator sums them (as integers: 16 bytes a component) and each
// participant signs a fingerprint of its own pads against that sum — an
// exact integer Σ r_j·pad_j with 128-bit coefficients r_j drawn from the
// sum's digest. The fingerprints of the parts add up to the sum's, and a
// sum that is not the pads' passes with probability at most 2^-128 for
// the sum the aggregator chose (its coefficients are drawn after it
// chose). The log then holds 16 bytes a kept component and one
// fingerprint an input, instead of 8 bytes a kept component an input.

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math/big"

	"github.com/cxnet/cxnet/kpi"
)

// PadSumSize is the size of one component of a pad sum: an integer below
// 2^128, little-endian (pads are below 2^64, inputs at most MaxMembers).
const PadSumSize = 16

// SumPads adds inputs' pads of the kept components (KeptPads each, 8 bytes
// a component) as integers: PadSumSize bytes a component.
func SumPads(pads [][]byte) ([]byte, error) {
	if len(pads) == 0 {
		return nil, fmt.Errorf("no pads to sum")
	}
	n := len(pads[0])
	if n%8 != 0 {
		return nil, fmt.Errorf("pads of %d bytes: not whole components", n)
	}
	out := make([]byte, n/8*PadSumSize)
	for i, p := range pads {
		if len(p) != n {
			return nil, fmt.Errorf("input %d reveals %d bytes of pads, input 0 %d", i, len(p), n)
		}
		for j := range n / 8 {
			lo := binary.LittleEndian.Uint64(out[j*PadSumSize:])
			hi := binary.LittleEndian.Uint64(out[j*PadSumSize+8:])
			x := binary.LittleEndian.Uint64(p[8*j:])
			lo2 := lo + x
			if lo2 < lo {
				hi++
			}
			binary.LittleEndian.PutUint64(out[j*PadSumSize:], lo2)
			binary.LittleEndian.PutUint64(out[j*PadSumSize+8:], hi)
		}
	}
	return out, nil
}

// PadSumDigest names a pad sum; its fingerprints are drawn from it.
func PadSumDigest(consortiumID string, round kpi.RoundID, sum []byte) []byte {
	h := sha256.Sum256(signedRoundBytes("cxnet/round-padsum/v1", consortiumID, round, sum))
	return h[:]
}

// PadPrint is the fingerprint of pads (KeptPads: 8 bytes a component) or
// of a pad sum (PadSumSize bytes a component) under the sum's digest.
func PadPrint(digest, v []byte, size int) *big.Int {
	block, _ := aes.NewCipher(digest[:32]) // a SHA-256 digest: 32 bytes
	stream := cipher.NewCTR(block, make([]byte, aes.BlockSize))
	var r [16]byte
	acc, x, t, rb := new(big.Int), new(big.Int), new(big.Int), new(big.Int)
	for j := 0; j+size <= len(v); j += size {
		clear(r[:])
		stream.XORKeyStream(r[:], r[:])
		rb.SetBytes(r[:])
		acc.Add(acc, t.Mul(rb, littleEndian(x, v[j:j+size])))
	}
	return acc
}

// littleEndian sets x to the unsigned little-endian integer b (8 or 16
// bytes) and returns it.
func littleEndian(x *big.Int, b []byte) *big.Int {
	x.SetUint64(binary.LittleEndian.Uint64(b))
	if len(b) == 16 {
		hi := new(big.Int).SetUint64(binary.LittleEndian.Uint64(b[8:]))
		x.Or(x, hi.Lsh(hi, 64))
	}
	return x
}

// PadPrintBytes is what a participant signs with its pads' fingerprint:
// the round, the decryptors' attestation it revealed its pads against,
// the pad sum's digest and the fingerprint.
func PadPrintBytes(consortiumID string, round kpi.RoundID, attest, digest []byte, print *big.Int) []byte {
	h := sha256.Sum256(attest)
	body := append(append(h[:], digest...), print.Bytes()...)
	return signedRoundBytes("cxnet/round-padprint/v1", consortiumID, round, body)
}

// SignedPadPrint is a participant's fingerprint of its pads against a
// release's pad sum (decimal), and its signature over PadPrintBytes.
type SignedPadPrint struct {
	Print string `json:"print"`
	Sig   []byte `json:"sig"`
}

// checkPadSum checks a pad sum of the kept components of o against every
// sealed input's signed fingerprint, and returns it reduced modulo 2^64
// (8 bytes a component), as ReleaseOpened subtracts it.
func (s *State) checkPadSum(r *Round, attest, sum []byte, prints map[kpi.OrgID]SignedPadPrint, o *kpi.Opened) ([]byte, error) {
	if len(sum) != len(o.Sums)/8*PadSumSize {
		return nil, fmt.Errorf("a pad sum of %d bytes for %d kept components", len(sum), len(o.Sums)/8)
	}
	if len(prints) != len(r.Sealed) {
		return nil, fmt.Errorf("the pad sum carries %d fingerprints; round %s sums %d inputs (%s)", len(prints), r.ID, len(r.Sealed), joinOrgs(r.Sealed))
	}
	limit := new(big.Int).Lsh(big.NewInt(int64(len(r.Sealed))), 64)
	x := new(big.Int)
	for j := 0; j < len(sum); j += PadSumSize {
		if littleEndian(x, sum[j:j+PadSumSize]).Cmp(limit) >= 0 {
			return nil, fmt.Errorf("pad sum component %d exceeds what %d inputs' pads can add up to", j/PadSumSize, len(r.Sealed))
		}
	}
	digest := PadSumDigest(s.consortium.ID, r.ID, sum)
	total := new(big.Int)
	for _, org := range r.Sealed {
		p, ok := prints[org]
		if !ok {
			return nil, fmt.Errorf("the pad sum lacks the fingerprint of %s, whose input round %s sums", org, r.ID)
		}
		f, ok := new(big.Int).SetString(p.Print, 10)
		if !ok || f.Sign() < 0 {
			return nil, fmt.Errorf("the fingerprint of %s's pads is not a number", org)
		}
		if err := s.VerifyMember(org, PadPrintBytes(s.consortium.ID, r.ID, attest, digest, f), p.Sig); err != nil {
			return nil, fmt.Errorf("the fingerprint of %s's pads is not the one it signed: %v", org, err)
		}
		total.Add(total, f)
	}
	if total.Cmp(PadPrint(digest, sum, PadSumSize)) != 0 {
		return nil, fmt.Errorf("the pad sum is not the sum of the inputs' pads")
	}
	out := make([]byte, len(sum)/PadSumSize*8)
	for j := range len(sum) / PadSumSize {
		copy(out[8*j:8*j+8], sum[j*PadSumSize:])
	}
	return out, nil
}

package privacy

// Fingerprints let a member check that a sum it is asked to decrypt is the
// sum of the ciphertexts it should be, without receiving them: a
// fingerprint is a random linear map of an object's coefficients, modulo
// each prime of the ciphertext modulus, so the fingerprint of a sum is
// the sum of the fingerprints. The map is drawn from a seed that names the
// sum being checked (Fiat–Shamir: whoever chose the sum chose it before
// the map was known), and each part's owner computes its part's
// fingerprint itself. A sum that differs from the parts' sum passes with
// probability at most q^-FingerprintRepeats ≤ 2^-118 per seed: finding
// one by trying sums is a 2^118 search.

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"

	"github.com/tuneinsight/lattigo/v5/mhe"
	"github.com/tuneinsight/lattigo/v5/ring"
)

// FingerprintRepeats is how many independent maps a fingerprint applies
// modulo each prime.
const FingerprintRepeats = 2

// ErrFingerprint is returned when a sum does not match its parts'
// fingerprints.
var ErrFingerprint = errors.New("privacy: the sum is not the sum of its parts")

// Fingerprint is an object's fingerprint under one seed.
type Fingerprint []uint64

// FingerprintCiphertexts is the fingerprint of ciphertexts (a member's
// input, or a sum of inputs) under seed.
func FingerprintCiphertexts(p Params, v Ciphertexts, seed []byte) (Fingerprint, error) {
	var polys []ring.Poly
	for j, b := range v {
		ct, err := decodeCiphertext(p, b)
		if err != nil {
			return nil, fmt.Errorf("ciphertext %d: %w", j, err)
		}
		polys = append(polys, ct.Value...)
	}
	return fingerprint(p, polys, seed), nil
}

// FingerprintShares is the fingerprint of decryption shares (a
// decryptor's share, or a sum of shares: SumShares) under seed.
func FingerprintShares(p Params, v Ciphertexts, seed []byte) (Fingerprint, error) {
	polys, err := decodeShares(p, v)
	if err != nil {
		return nil, err
	}
	return fingerprint(p, polys, seed), nil
}

// CheckSum checks that sum's fingerprint is the sum of parts'. Every
// fingerprint must be of objects of one shape (the same number of
// ciphertexts or shares), under one seed.
func CheckSum(p Params, sum Fingerprint, parts []Fingerprint) error {
	moduli := p.RingQ().AtLevel(p.MaxLevel()).ModuliChain()
	per := len(moduli) * FingerprintRepeats
	if len(sum) == 0 || len(sum)%per != 0 {
		return fmt.Errorf("%w: a fingerprint of %d values (want a multiple of %d)", ErrFingerprint, len(sum), per)
	}
	total := make([]uint64, len(sum))
	for i, f := range parts {
		if len(f) != len(sum) {
			return fmt.Errorf("%w: part %d has a fingerprint of %d values, the sum %d", ErrFingerprint, i, len(f), len(sum))
		}
		for k, x := range f {
			q := moduli[(k/FingerprintRepeats)%len(moduli)]
			if x >= q {
				return fmt.Errorf("%w: part %d: value %d is not reduced", ErrFingerprint, i, k)
			}
			total[k] = ring.CRed(total[k]+x, q)
		}
	}
	for k := range sum {
		if total[k] != sum[k] {
			return ErrFingerprint
		}
	}
	return nil
}

// SumShares adds decryption shares (one Ciphertexts per decryptor, each
// of the same number of parts): Open of the sum alone is Open of the
// shares.
func SumShares(p Params, shares []Ciphertexts) (Ciphertexts, error) {
	if len(shares) == 0 {
		return nil, errors.New("privacy: sum shares: none")
	}
	n := len(shares[0])
	rq := p.RingQ().AtLevel(p.MaxLevel())
	sum := make([]mhe.KeySwitchShare, n)
	for i, s := range shares {
		if len(s) != n {
			return nil, fmt.Errorf("%w: decryption share %d has %d parts, share 0 has %d", ErrBadShare, i, len(s), n)
		}
		polys, err := decodeShares(p, s)
		if err != nil {
			return nil, fmt.Errorf("decryption share %d: %w", i, err)
		}
		for j, pol := range polys {
			if i == 0 {
				sum[j] = mhe.KeySwitchShare{Value: pol}
				continue
			}
			rq.Add(sum[j].Value, pol, sum[j].Value)
		}
	}
	out := make(Ciphertexts, n)
	for j := range sum {
		b, err := sum[j].MarshalBinary()
		if err != nil {
			return nil, fmt.Errorf("privacy: sum shares: %w", err)
		}
		out[j] = b
	}
	return out, nil
}

// decodeShares decodes the parts of a decryption share from another
// member, each at the top level.
func decodeShares(p Params, v Ciphertexts) ([]ring.Poly, error) {
	polys := make([]ring.Poly, len(v))
	for j, b := range v {
		s := mhe.KeySwitchShare{Value: p.RingQ().AtLevel(p.MaxLevel()).NewPoly()}
		if err := decodeKeySwitchShare(p, b, &s); err != nil {
			return nil, fmt.Errorf("share part %d: %w", j, err)
		}
		polys[j] = s.Value
	}
	return polys, nil
}

// fingerprint applies FingerprintRepeats random linear maps drawn from
// seed to each poly's coefficients modulo each prime, in order: poly,
// prime, map. The maps' coefficients come from AES-256-CTR keyed by a
// hash of the seed, uniform modulo each prime by rejection.
func fingerprint(p Params, polys []ring.Poly, seed []byte) Fingerprint {
	moduli := p.RingQ().AtLevel(p.MaxLevel()).ModuliChain()
	key := sha256.Sum256(append([]byte("cxnet fingerprint v1\x00"), seed...))
	block, _ := aes.NewCipher(key[:]) // a 32-byte key never fails
	stream := cipher.NewCTR(block, make([]byte, aes.BlockSize))
	buf := make([]byte, 8<<10)
	pos := len(buf)
	next := func() uint64 {
		if pos == len(buf) {
			clear(buf)
			stream.XORKeyStream(buf, buf)
			pos = 0
		}
		pos += 8
		return binary.LittleEndian.Uint64(buf[pos-8 : pos])
	}
	out := make(Fingerprint, 0, len(polys)*len(moduli)*FingerprintRepeats)
	for _, pol := range polys {
		for i, q := range moduli {
			u := ring.BRedConstant(q)
			mask := uint64(1)<<bits.Len64(q) - 1
			for range FingerprintRepeats {
				var acc uint64
				for _, c := range pol.Coeffs[i] {
					r := next() & mask
					for r >= q {
						r = next() & mask
					}
					acc = ring.CRed(acc+ring.BRed(r, c, q, u), q)
				}
				out = append(out, acc)
			}
		}
	}
	return out
}

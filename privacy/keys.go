package privacy

import (
	"crypto/sha256"
	"encoding"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/tuneinsight/lattigo/v5/core/rlwe"
	"github.com/tuneinsight/lattigo/v5/mhe"
	"github.com/tuneinsight/lattigo/v5/ring"
	"github.com/tuneinsight/lattigo/v5/ring/ringqp"
	"github.com/tuneinsight/lattigo/v5/utils/sampling"
)

// SeedSize is the size of a key epoch's seed: the key of the common
// random string every member samples the same polynomials from.
const SeedSize = 32

// ErrBadShare is wrapped by every error about a share received from
// another member: wrong size, wrong shape, coefficients out of range.
var ErrBadShare = errors.New("privacy: bad share")

// SecretKey is one member's secret key share s_i for one key epoch. It
// never leaves its node.
type SecretKey struct {
	sk *rlwe.SecretKey
}

// NewSecretKey draws a fresh secret key share (ternary, from
// crypto/rand through lattigo's PRNG).
func NewSecretKey(p Params) (*SecretKey, error) {
	return &SecretKey{sk: rlwe.NewKeyGenerator(p.Parameters).GenSecretKeyNew()}, nil
}

// MarshalBinary encodes the secret key share, for the node's encrypted
// store.
func (k *SecretKey) MarshalBinary() ([]byte, error) { return k.sk.MarshalBinary() }

// UnmarshalSecretKey decodes a secret key share written by MarshalBinary.
func UnmarshalSecretKey(p Params, b []byte) (*SecretKey, error) {
	sk, err := decodePoly(p, "secret-key", b, func() (*rlwe.SecretKey, *ringqp.Poly) {
		sk := rlwe.NewSecretKey(p.Parameters)
		return sk, &sk.Value
	})
	if err != nil {
		return nil, fmt.Errorf("privacy: secret key: %w", err)
	}
	return &SecretKey{sk: sk}, nil
}

// crs is the common random string of one protocol instance: a keyed PRNG
// over the epoch's seed and the instance's label, so that every protocol
// samples its own polynomials.
func crs(seed []byte, label string) (sampling.PRNG, error) {
	if len(seed) != SeedSize {
		return nil, fmt.Errorf("privacy: the seed has %d bytes, want %d", len(seed), SeedSize)
	}
	key := sha256.Sum256(append([]byte("cxnet/crs/v1\x00"+label+"\x00"), seed...))
	return sampling.NewKeyedPRNG(key[:])
}

// publicKeyCRP samples the common random polynomial of the collective
// public key of the epoch with this seed.
func publicKeyCRP(p Params, seed []byte) (mhe.PublicKeyGenProtocol, mhe.PublicKeyGenCRP, error) {
	prng, err := crs(seed, "ckg")
	if err != nil {
		return mhe.PublicKeyGenProtocol{}, mhe.PublicKeyGenCRP{}, err
	}
	ckg := mhe.NewPublicKeyGenProtocol(p.Parameters)
	return ckg, ckg.SampleCRP(prng), nil
}

// PublicKeyShare is this member's share of the epoch's collective public
// key: -s_i·a + e_i, for the common polynomial a drawn from the seed. It
// reveals nothing of s_i (RLWE), and goes into the governance log.
func PublicKeyShare(p Params, sk *SecretKey, seed []byte) ([]byte, error) {
	ckg, crp, err := publicKeyCRP(p, seed)
	if err != nil {
		return nil, err
	}
	share := ckg.AllocateShare()
	ckg.GenShare(sk.sk, crp, &share)
	return share.MarshalBinary()
}

// PublicKeyShareSize is the exact size of an encoded public-key share.
func PublicKeyShareSize(p Params) int {
	return mhe.NewPublicKeyGenProtocol(p.Parameters).AllocateShare().BinarySize()
}

// PublicKey is a key epoch's collective public key: anything encrypted
// under it decrypts only with all members (or t of them, with the
// threshold shares).
type PublicKey struct {
	pk *rlwe.PublicKey
}

// CollectivePublicKey aggregates every member's public-key share into the
// epoch's collective public key. shares are the members' encoded shares,
// one per member, in any order. A share that does not decode is reported
// with its position.
func CollectivePublicKey(p Params, seed []byte, shares [][]byte) (*PublicKey, error) {
	if len(shares) == 0 {
		return nil, errors.New("privacy: collective public key: no shares")
	}
	ckg, crp, err := publicKeyCRP(p, seed)
	if err != nil {
		return nil, err
	}
	sum := ckg.AllocateShare()
	for i, b := range shares {
		s, err := decodePoly(p, "public-key-share", b, func() (*mhe.PublicKeyGenShare, *ringqp.Poly) {
			s := ckg.AllocateShare()
			return &s, &s.Value
		})
		if err != nil {
			return nil, fmt.Errorf("privacy: public-key share %d: %w", i, err)
		}
		ckg.AggregateShares(sum, *s, &sum)
	}
	pk := rlwe.NewPublicKey(p.Parameters)
	ckg.GenPublicKey(sum, crp, pk)
	return &PublicKey{pk: pk}, nil
}

// MarshalBinary encodes the public key.
func (k *PublicKey) MarshalBinary() ([]byte, error) { return k.pk.MarshalBinary() }

// Digest is "sha256:" and the hex SHA-256 of the encoded key: members
// compare it to know they encrypt under the same key.
func (k *PublicKey) Digest() string {
	b, _ := k.pk.MarshalBinary() // an allocated key always encodes
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// ShamirPoint is the public evaluation point of the member at position
// i (0-based) of an epoch's sorted member list: i+1, distinct and never
// zero, as Shamir sharing needs.
func ShamirPoint(i int) mhe.ShamirPublicPoint { return mhe.ShamirPublicPoint(i + 1) }

// Deal splits sk into n Shamir shares of threshold t: share j is for the
// member at position j of the epoch's member list, and any t of the
// members' aggregated shares rebuild the sum of the secrets. Each share
// is a long-term secret of its recipient: send it only over an
// authenticated, encrypted stream to that member.
func Deal(p Params, sk *SecretKey, t, n int) ([][]byte, error) {
	if t < 1 || t > n {
		return nil, fmt.Errorf("privacy: deal: threshold %d out of 1..%d", t, n)
	}
	thr := mhe.NewThresholdizer(p.Parameters)
	poly, err := thr.GenShamirPolynomial(t, sk.sk)
	if err != nil {
		return nil, fmt.Errorf("privacy: deal: %w", err)
	}
	out := make([][]byte, n)
	for j := range n {
		share := thr.AllocateThresholdSecretShare()
		thr.GenShamirSecretShare(ShamirPoint(j), poly, &share)
		if out[j], err = share.MarshalBinary(); err != nil {
			return nil, fmt.Errorf("privacy: deal: %w", err)
		}
	}
	return out, nil
}

// ThresholdKey is a member's threshold secret share for one epoch: the
// sum of the Shamir shares every member dealt it. With t-1 others' it
// decrypts; alone it reveals nothing.
type ThresholdKey struct {
	share mhe.ShamirSecretShare
}

// CombineDealt aggregates the Shamir shares a member received, one from
// every member of the epoch (its own included), into its threshold key.
func CombineDealt(p Params, dealt [][]byte) (*ThresholdKey, error) {
	if len(dealt) == 0 {
		return nil, errors.New("privacy: combine: no shares")
	}
	thr := mhe.NewThresholdizer(p.Parameters)
	sum := thr.AllocateThresholdSecretShare()
	for i, b := range dealt {
		s, err := decodeShamir(p, b)
		if err != nil {
			return nil, fmt.Errorf("privacy: dealt share %d: %w", i, err)
		}
		if err := thr.AggregateShares(sum, *s, &sum); err != nil {
			return nil, fmt.Errorf("privacy: combine: %w", err)
		}
	}
	return &ThresholdKey{share: sum}, nil
}

// DealtShareSize is the exact size of an encoded Shamir share.
func DealtShareSize(p Params) int {
	return mhe.NewThresholdizer(p.Parameters).AllocateThresholdSecretShare().BinarySize()
}

// MarshalBinary encodes the threshold key, for the node's encrypted store.
func (k *ThresholdKey) MarshalBinary() ([]byte, error) { return k.share.MarshalBinary() }

// UnmarshalThresholdKey decodes a threshold key written by MarshalBinary.
func UnmarshalThresholdKey(p Params, b []byte) (*ThresholdKey, error) {
	s, err := decodeShamir(p, b)
	if err != nil {
		return nil, fmt.Errorf("privacy: threshold key: %w", err)
	}
	return &ThresholdKey{share: *s}, nil
}

// decodePoly decodes b, an object of kind kind from another member, into
// a fresh object from alloc, whose value poly has the shape b must have:
// the layout of a well-formed encoding (layout.go), then every
// coefficient reduced modulo its prime.
func decodePoly[T encoding.BinaryUnmarshaler](p Params, kind string, b []byte, alloc func() (T, *ringqp.Poly)) (v T, err error) {
	l, err := objectLayout(p, kind, func() (encoding.BinaryMarshaler, []ring.Poly) {
		obj, poly := alloc()
		return any(obj).(encoding.BinaryMarshaler), []ring.Poly{poly.Q, poly.P}
	})
	if err != nil {
		return v, err
	}
	if err := l.check(b); err != nil {
		return v, fmt.Errorf("%w: %v", ErrBadShare, err)
	}
	v, poly := alloc()
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: does not decode: %v", ErrBadShare, r)
		}
	}()
	if err := v.UnmarshalBinary(b); err != nil {
		return v, fmt.Errorf("%w: %v", ErrBadShare, err)
	}
	if err := reduced(poly.Q, p.RingQ()); err != nil {
		return v, err
	}
	if p.RingP() != nil {
		return v, reduced(poly.P, p.RingP())
	}
	return v, nil
}

// reduced checks every coefficient of pol is below its prime.
func reduced(pol ring.Poly, r *ring.Ring) error {
	for i, row := range pol.Coeffs {
		q := r.SubRings[i].Modulus
		for _, c := range row {
			if c >= q {
				return fmt.Errorf("%w: a coefficient is not reduced modulo prime %d", ErrBadShare, i)
			}
		}
	}
	return nil
}

// CheckDealt checks a Shamir share received from another member before it
// is stored: the right size and shape, every coefficient reduced.
func CheckDealt(p Params, b []byte) error {
	_, err := decodeShamir(p, b)
	return err
}

// decodeShamir decodes a Shamir share from another member.
func decodeShamir(p Params, b []byte) (*mhe.ShamirSecretShare, error) {
	thr := mhe.NewThresholdizer(p.Parameters)
	return decodePoly(p, "shamir-share", b, func() (*mhe.ShamirSecretShare, *ringqp.Poly) {
		s := thr.AllocateThresholdSecretShare()
		return &s, &s.Poly
	})
}

package privacy

// A round's arithmetic: each member encrypts its cell components under the
// epoch's collective key; the aggregator adds the ciphertexts; a threshold
// of members each give a decryption share of the aggregate (with smudging
// noise, so a share reveals nothing of its key); anyone combines the shares
// into the plaintext sum. Nothing is multiplied: a decryption's flooding
// margin (flooding.go) is computed for sums of fresh encryptions, and a
// plaintext multiplication would eat it. (A cell under the cohort floor is
// kept from opening by the participants' pads: node/round.go.)
//
// Slots hold integers modulo T (±2^32). A component is an int64 that can
// be far larger (a sum of squares over a million records), so each one
// takes Limbs slots: signed base-2^LimbBits digits, all of the component's
// sign. A slot's sum over members stays within ±members·2^16, far below
// T/2 for any consortium (up to 2^15 members), and the exact sum is rebuilt
// from the digits after decryption.

import (
	"encoding"
	"errors"
	"fmt"
	"math/big"
	"slices"

	"github.com/tuneinsight/lattigo/v5/core/rlwe"
	"github.com/tuneinsight/lattigo/v5/mhe"
	"github.com/tuneinsight/lattigo/v5/ring"
	"github.com/tuneinsight/lattigo/v5/schemes/bgv"
)

// Component encoding.
const (
	LimbBits = 16 // bits of one digit
	Limbs    = 4  // digits of one component: 64 bits
	// MaxMembers is the largest consortium: its inputs' digit sums stay
	// exact modulo T (they would up to 2^15), and a decryption by all of
	// its members keeps MinFloodingMargin bits of flooding margin (40.1
	// at 2^14, 37.6 at 2^15: flooding.go). NewParams checks the latter.
	MaxMembers = 1 << 14
	// SmudgingLog2 is log2 of the standard deviation of the Gaussian
	// lattigo's key-switch protocol adds to each decryption share. It is
	// kept, but the hiding comes from the uniform flooding added on top
	// (flooding.go), whose bound is 2^70 or more within MaxMembers
	// (against 6σ ≈ 2^50.6); both count in the decryption's noise budget. The Gaussian's 6σ bound must stay far
	// below the smallest ciphertext prime (2^60), and lattigo's sampler
	// panics above σ = 2^53.
	SmudgingLog2 = 48
)

// ErrBadCiphertext is wrapped by every error about a ciphertext received
// from another member.
var ErrBadCiphertext = errors.New("privacy: bad ciphertext")

// ComponentsPerCiphertext is how many components one ciphertext carries.
func (p Params) ComponentsPerCiphertext() int { return p.Slots() / Limbs }

// Ciphertexts is an encrypted component vector: as many ciphertexts as
// its length needs, each encoded.
type Ciphertexts [][]byte

// ciphertexts the vector of n components needs.
func (p Params) ciphertexts(n int) int {
	per := p.ComponentsPerCiphertext()
	return (n + per - 1) / per
}

// digits splits x into Limbs signed digits of base 2^LimbBits, all of x's
// sign.
func digits(x int64, out []int64) {
	neg := x < 0
	u := uint64(x)
	if neg {
		u = -u // two's complement: |math.MinInt64| = 2^63 fits in uint64
	}
	for i := range Limbs {
		d := int64(u & (1<<LimbBits - 1))
		if neg {
			d = -d
		}
		out[i] = d
		u >>= LimbBits
	}
}

// Encrypt encrypts a component vector under the epoch's collective key.
func Encrypt(p Params, pk *PublicKey, components []int64) (Ciphertexts, error) {
	enc := rlwe.NewEncryptor(p.Parameters, pk.pk)
	ecd := bgv.NewEncoder(p.Parameters)
	per := p.ComponentsPerCiphertext()
	out := make(Ciphertexts, 0, p.ciphertexts(len(components)))
	slots := make([]int64, p.Slots())
	for start := 0; start < len(components) || start == 0; start += per {
		clear(slots)
		for i, x := range components[start:min(start+per, len(components))] {
			digits(x, slots[i*Limbs:(i+1)*Limbs])
		}
		pt := bgv.NewPlaintext(p.Parameters, p.MaxLevel())
		if err := ecd.Encode(slots, pt); err != nil {
			return nil, fmt.Errorf("privacy: encode: %w", err)
		}
		ct, err := enc.EncryptNew(pt)
		if err != nil {
			return nil, fmt.Errorf("privacy: encrypt: %w", err)
		}
		b, err := ct.MarshalBinary()
		if err != nil {
			return nil, fmt.Errorf("privacy: encrypt: %w", err)
		}
		out = append(out, b)
		if len(components) == 0 {
			break
		}
	}
	return out, nil
}

// freshCiphertext allocates a ciphertext as encryption makes one: degree
// 1, top level, a plaintext's metadata.
func freshCiphertext(p Params) *rlwe.Ciphertext {
	ct := rlwe.NewCiphertext(p.Parameters, 1, p.MaxLevel())
	*ct.MetaData = *bgv.NewPlaintext(p.Parameters, p.MaxLevel()).MetaData
	return ct
}

// decodeCiphertext decodes a ciphertext from another member, checking it
// has the layout of a fresh one (degree, level, metadata: layout.go) and
// every coefficient reduced.
func decodeCiphertext(p Params, b []byte) (ct *rlwe.Ciphertext, err error) {
	l, err := objectLayout(p, "ciphertext", func() (encoding.BinaryMarshaler, []ring.Poly) {
		ct := freshCiphertext(p)
		return ct, ct.Value
	})
	if err != nil {
		return nil, err
	}
	if err := l.check(b); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadCiphertext, err)
	}
	defer func() {
		if r := recover(); r != nil {
			ct, err = nil, fmt.Errorf("%w: does not decode: %v", ErrBadCiphertext, r)
		}
	}()
	ct = freshCiphertext(p)
	if err := ct.UnmarshalBinary(b); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadCiphertext, err)
	}
	for _, v := range ct.Value {
		if err := reduced(v, p.RingQ()); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrBadCiphertext, err)
		}
	}
	return ct, nil
}

// CheckCiphertexts checks every ciphertext of v is a well-formed fresh
// one under p (what Aggregate accepts from another member).
func CheckCiphertexts(p Params, v Ciphertexts) error {
	for j, b := range v {
		if _, err := decodeCiphertext(p, b); err != nil {
			return fmt.Errorf("ciphertext %d: %w", j, err)
		}
	}
	return nil
}

// CheckShares checks every part of a decryption share is well formed
// (what Open accepts from another member).
func CheckShares(p Params, v Ciphertexts) error {
	cks, err := mhe.NewKeySwitchProtocol(p.Parameters, ring.DiscreteGaussian{Sigma: 1 << SmudgingLog2, Bound: 6 * (1 << SmudgingLog2)})
	if err != nil {
		return err
	}
	for j, b := range v {
		s := cks.AllocateShare(p.MaxLevel())
		if err := decodeKeySwitchShare(p, b, &s); err != nil {
			return fmt.Errorf("share part %d: %w", j, err)
		}
	}
	return nil
}

// Aggregate adds the members' encrypted vectors slot-wise. Every input
// must have the same number of ciphertexts; a malformed one is reported
// with its position.
func Aggregate(p Params, inputs []Ciphertexts) (Ciphertexts, error) {
	if len(inputs) == 0 {
		return nil, errors.New("privacy: aggregate: no inputs")
	}
	if len(inputs) > MaxMembers {
		return nil, fmt.Errorf("privacy: aggregate: %d inputs; at most %d add up exactly", len(inputs), MaxMembers)
	}
	eval := bgv.NewEvaluator(p.Parameters, nil)
	n := len(inputs[0])
	sum := make([]*rlwe.Ciphertext, n)
	for i, in := range inputs {
		if len(in) != n {
			return nil, fmt.Errorf("%w: input %d has %d ciphertexts, input 0 has %d", ErrBadCiphertext, i, len(in), n)
		}
		for j, b := range in {
			ct, err := decodeCiphertext(p, b)
			if err != nil {
				return nil, fmt.Errorf("input %d, ciphertext %d: %w", i, j, err)
			}
			if sum[j] == nil {
				sum[j] = ct
				continue
			}
			if err := eval.Add(sum[j], ct, sum[j]); err != nil {
				return nil, fmt.Errorf("privacy: aggregate: %w", err)
			}
		}
	}
	return encodeAll(sum)
}

func encodeAll(cts []*rlwe.Ciphertext) (Ciphertexts, error) {
	out := make(Ciphertexts, len(cts))
	for i, ct := range cts {
		b, err := ct.MarshalBinary()
		if err != nil {
			return nil, fmt.Errorf("privacy: encode ciphertext: %w", err)
		}
		out[i] = b
	}
	return out, nil
}

// Decryptor gives this member's decryption shares in a round: with its
// threshold key of the epoch, for a set of exactly threshold active
// members (positions in the epoch's sorted member list) it is one of.
// Each share is flooded (flooding.go) so that the decryption reveals
// nothing of the ciphertext's noise, by MinFloodingMargin bits or more.
type Decryptor struct {
	p      Params
	cks    mhe.KeySwitchProtocol
	sk     *rlwe.SecretKey // this member's additive share for the active set
	zero   *rlwe.SecretKey
	active []int
	flood  *flooder
}

// NewDecryptor prepares this member's shares: own is its position in the
// epoch's member list, members the list's length, active the positions of
// the threshold members that decrypt together (this one among them).
// Every member of a decryption must use the same active set.
//
// The shares are for sums of at most members fresh encryptions under the
// epoch's key (one input per member, as a round's Aggregate): their
// flooding is sized for that, and NewDecryptor refuses, with
// ErrFloodingMargin, a threshold or consortium too large to flood by
// MinFloodingMargin bits and still decrypt (FloodingMargin).
func NewDecryptor(p Params, tk *ThresholdKey, own, members, threshold int, active []int) (*Decryptor, error) {
	if len(active) != threshold || !slices.Contains(active, own) {
		return nil, fmt.Errorf("privacy: decryptor: the active set %v must have exactly %d members, this one (%d) among them", active, threshold, own)
	}
	seen := map[int]bool{}
	for _, a := range active {
		if a < 0 || a >= members || seen[a] {
			return nil, fmt.Errorf("privacy: decryptor: active set %v: positions must be distinct, 0 to %d", active, members-1)
		}
		seen[a] = true
	}
	plan, err := floodingFor(p, members, members, threshold)
	if err != nil {
		return nil, fmt.Errorf("privacy: decryptor: %w", err)
	}
	points := make([]mhe.ShamirPublicPoint, members)
	for i := range points {
		points[i] = ShamirPoint(i)
	}
	act := make([]mhe.ShamirPublicPoint, len(active))
	for i, a := range active {
		act[i] = points[a]
	}
	sk := rlwe.NewSecretKey(p.Parameters)
	cmb := mhe.NewCombiner(*p.GetRLWEParameters(), points[own], points, threshold)
	if err := cmb.GenAdditiveShare(act, points[own], tk.share, sk); err != nil {
		return nil, fmt.Errorf("privacy: decryptor: %w", err)
	}
	cks, err := mhe.NewKeySwitchProtocol(p.Parameters, ring.DiscreteGaussian{Sigma: 1 << SmudgingLog2, Bound: 6 * (1 << SmudgingLog2)})
	if err != nil {
		return nil, fmt.Errorf("privacy: decryptor: %w", err)
	}
	return &Decryptor{p: p, cks: cks, sk: sk, zero: rlwe.NewSecretKey(p.Parameters), active: slices.Clone(active), flood: newFlooder(plan.logB)}, nil
}

// Share is this member's decryption share of v. It is a decryption oracle
// for v: give it only for a vector the round's policy allows, and give the
// same share again (do not re-draw its noise) if asked twice.
func (d *Decryptor) Share(v Ciphertexts) (Ciphertexts, error) {
	out := make(Ciphertexts, len(v))
	for j, b := range v {
		ct, err := decodeCiphertext(d.p, b)
		if err != nil {
			return nil, fmt.Errorf("ciphertext %d: %w", j, err)
		}
		share := d.cks.AllocateShare(ct.Level())
		d.cks.GenShare(d.sk, d.zero, ct, &share)
		// GenShare reduces lazily (coefficients below 2q): reduce, then
		// flood (the sum stays reduced). The share is in the ciphertext's
		// domain, NTT for BGV; add draws the flooding in the coefficient
		// domain and converts it.
		r := d.p.RingQ().AtLevel(share.Level())
		r.Reduce(share.Value, share.Value)
		d.flood.add(r, share.Value, ct.IsNTT)
		if out[j], err = share.MarshalBinary(); err != nil {
			return nil, fmt.Errorf("privacy: decryption share: %w", err)
		}
	}
	return out, nil
}

// Open combines the decryption shares of the active members (one
// Ciphertexts per member, any order) and returns the first n components of
// v, the exact sums.
func Open(p Params, v Ciphertexts, shares []Ciphertexts, n int) ([]*big.Int, error) {
	if len(shares) == 0 {
		return nil, errors.New("privacy: open: no decryption shares")
	}
	if want := p.ciphertexts(n); len(v) != max(want, 1) {
		return nil, fmt.Errorf("privacy: open: %d ciphertexts for %d components, want %d", len(v), n, want)
	}
	cks, err := mhe.NewKeySwitchProtocol(p.Parameters, ring.DiscreteGaussian{Sigma: 1 << SmudgingLog2, Bound: 6 * (1 << SmudgingLog2)})
	if err != nil {
		return nil, err
	}
	ecd := bgv.NewEncoder(p.Parameters)
	dec := rlwe.NewDecryptor(p.Parameters, rlwe.NewSecretKey(p.Parameters))
	per := p.ComponentsPerCiphertext()
	out := make([]*big.Int, 0, n)
	slots := make([]int64, p.Slots())
	for j, b := range v {
		ct, err := decodeCiphertext(p, b)
		if err != nil {
			return nil, fmt.Errorf("ciphertext %d: %w", j, err)
		}
		sum := cks.AllocateShare(ct.Level())
		for i, s := range shares {
			if len(s) != len(v) {
				return nil, fmt.Errorf("%w: decryption share %d has %d parts, want %d", ErrBadShare, i, len(s), len(v))
			}
			part := cks.AllocateShare(ct.Level())
			if err := decodeKeySwitchShare(p, s[j], &part); err != nil {
				return nil, fmt.Errorf("decryption share %d, part %d: %w", i, j, err)
			}
			if err := cks.AggregateShares(sum, part, &sum); err != nil {
				return nil, fmt.Errorf("privacy: open: %w", err)
			}
		}
		cks.KeySwitch(ct, sum, ct)
		if err := ecd.Decode(dec.DecryptNew(ct), slots); err != nil {
			return nil, fmt.Errorf("privacy: open: %w", err)
		}
		for i := range min(per, n-j*per) {
			out = append(out, fromDigits(slots[i*Limbs:(i+1)*Limbs]))
		}
	}
	return out, nil
}

// fromDigits rebuilds Σ d_i·2^(LimbBits·i).
func fromDigits(d []int64) *big.Int {
	x := new(big.Int)
	for i := len(d) - 1; i >= 0; i-- {
		x.Lsh(x, LimbBits)
		x.Add(x, big.NewInt(d[i]))
	}
	return x
}

// decodeKeySwitchShare decodes a decryption share from another member
// into s, allocated at the ciphertext's level.
func decodeKeySwitchShare(p Params, b []byte, s *mhe.KeySwitchShare) (err error) {
	level := s.Level()
	l, err := objectLayout(p, fmt.Sprintf("keyswitch-share/%d", level), func() (encoding.BinaryMarshaler, []ring.Poly) {
		fresh := mhe.KeySwitchShare{Value: p.RingQ().AtLevel(level).NewPoly()}
		return &fresh, []ring.Poly{fresh.Value}
	})
	if err != nil {
		return err
	}
	if err := l.check(b); err != nil {
		return fmt.Errorf("%w: %v", ErrBadShare, err)
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: does not decode: %v", ErrBadShare, r)
		}
	}()
	if err := s.UnmarshalBinary(b); err != nil {
		return fmt.Errorf("%w: %v", ErrBadShare, err)
	}
	return reduced(s.Value, p.RingQ())
}

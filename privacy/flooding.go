package privacy

// Noise flooding of decryption shares.
//
// Decryption opens more than the sum. With the ideal secret s = Σ s_i, a
// ciphertext (c0, c1) of the plaintext m satisfies c0 + c1·s = m·T^-1 + e
// mod Q, and the t decryption shares h_i = s'_i·c1 + f_i combine into
// T·(c0 + Σ h_i) = m + T·(e + Σ f_i) mod Q. Whoever holds the shares and
// the plaintext learns e + Σ f_i; e, the ciphertext's own noise, depends on
// every member's secret key and encryption randomness. t-1 colluding
// decryptors know their own f_i, so the flooding f of the one honest
// decryptor alone must hide e: drawn uniform on [-B, B), the distribution
// of e + f is within |e|/(2B) of that of f in statistical distance, per
// coefficient. The margin of a decryption is log2 B - log2 E, for E a bound
// on |e|; cxnet wants at least MinFloodingMargin bits (a distance of at
// most 2^-41 per coefficient, 2^-28 over the 2^13 coefficients of one
// ciphertext at N = 2^13).
//
// The noise of a sum of fresh encryptions. Lattigo (v5.0.7,
// rlwe.Encryptor.encryptZeroPk, with a special modulus P) encrypts under
// the collective key pk = (Σ(-s_i·a + e_i), a) = (-s·a + ê, a), over QP:
// it draws u from Xs and e0, e1 from Xe, computes x_j = u·pk_j + e_j and
// rounds, ct_j = (x_j - [x_j]_P)/P mod Q, with [x]_P the representative
// of x mod P in [-P/2, P/2] (ring.BasisExtender.ModDownQPtoQ: an exact
// basis extension shifted by P/2). Writing r_j = -[x_j]_P/P, |r_j| ≤ ρ =
// 1/2 + 1/P, and
//
//	c0 + c1·s - m·T^-1 = (u·ê + e0 + e1·s)/P + r0 + r1·s.
//
// A sum of I such encryptions (Aggregate) under a key of M members has
// noise Σ_k (u_k·ê + e0_k + e1_k·s)/P + Σ_k r0_k + R·s, with R = Σ_k r1_k,
// |R_j| ≤ I·ρ. Bounding each part of a coefficient:
//
//   - (u·ê + e0 + e1·s)/P: worst case. u ternary (|u|_1 ≤ N), |ê|_∞ ≤ M·b_e,
//     |s|_1 ≤ N·M, so per encryption at most (2·N·M + 1)·b_e/P, for b_e
//     the bound of Xe (lattigo's truncated Gaussian: Bound, plus 1/2 of
//     rounding; we add 1). Below 2^-27 at N = 2^13 and M = 2^14.
//   - Σ_k r0_k: worst case, I·ρ.
//   - R·s: a tail bound. R depends only on the encryption randomness and
//     the public a, not on s. Given R, a coefficient of R·s is a sum of
//     N·M independent terms ±R_j·s_{i,l}, each zero-mean (a ternary
//     coefficient is ±1 with equal probability, or 0) and within
//     [-I·ρ, I·ρ]. Hoeffding: P(|x| ≥ y) ≤ 2·exp(-y²/(2·N·M·(I·ρ)²)).
//     With a failure probability of 2^-64 for the whole ciphertext (union
//     over its N coefficients), y = I·ρ·sqrt(2·N·M·ln(2^65·N)). The worst
//     case, I·ρ·N·M, is 2^10 times larger at M = 2^14, too large to use,
//     and only taken when it is the smaller. For sparse secrets (Ternary
//     with a Hamming weight H, whose coefficients are not independent) we
//     take the worst case I·ρ·M·H.
//
// So E = I·(ρ + (2·N·M + 1)·b_e/P) + min(I·ρ·sqrt(2·N·M·ln(2^65·N)),
// I·ρ·N·M), with probability 1 - 2^-64 over the members' keys and
// encryptions, for honestly generated keys and fresh encryptions (a
// member that forges its ciphertext or its key share is outside the
// semi-honest model of lattigo's mhe; docs/threat-model.md). At the
// default parameters E ≈ 2^13.9 for 10 members and inputs, 2^29.9 for
// 2^14 (TestFreshSumNoiseMeasured measures 2^9 to 2^10 at 10).
//
// The flooding bound. Decryption stays exact while T·|e + Σ f_i + Σ g_i|
// + T < Q/2, the g_i being lattigo's own Gaussian smudging (σ =
// 2^SmudgingLog2, kept under the flooding; bound G = 6σ). We ask for a
// safety factor of 2: E + t·(B + G) ≤ Q/(4T), and take B = 2^k, the
// largest power of two that fits, so that sampling is a mask of random
// bits with no rejection. With Q/(4T) ≈ 2^85 at the default parameters,
// B ≈ 2^85/t and the margin is about 85 - log2 t - log2 E: 68 bits for 10
// members and a threshold of 6, 40.1 for 2^14 members all decrypting,
// which is why MaxMembers is 2^14 (NewParams checks it).

import (
	crand "crypto/rand"
	"errors"
	"fmt"
	"math"
	"math/big"
	mrand "math/rand/v2"

	"github.com/tuneinsight/lattigo/v5/ring"
)

// MinFloodingMargin is the least margin of any decryption, in bits:
// log2 of each share's flooding bound minus log2 of the bound on the noise
// of the ciphertext it decrypts.
const MinFloodingMargin = 40

// ErrFloodingMargin is returned for a decryption, or parameters, whose
// flooding cannot hide the ciphertext's noise by MinFloodingMargin bits
// and still decrypt.
var ErrFloodingMargin = errors.New("privacy: decryption flooding below the margin")

// noiseFailureLog2 is -log2 of the probability that a ciphertext's noise
// exceeds its bound (freshSumNoise).
const noiseFailureLog2 = 64

// flooding is the plan of one decryption's flooding.
type flooding struct {
	noise float64 // E, a bound on the ciphertext noise, any coefficient
	logB  int     // each share adds noise uniform on [-2^logB, 2^logB)
}

func (f flooding) margin() float64 { return float64(f.logB) - math.Log2(f.noise) }

// freshSumNoise bounds the noise of a sum of inputs fresh encryptions
// under a collective key of members members' shares, in any coefficient
// (the derivation is at the top of this file).
func freshSumNoise(p Params, members, inputs int) (float64, error) {
	if members < 1 || inputs < 1 {
		return 0, fmt.Errorf("privacy: flooding: %d members, %d inputs: want at least 1 of each", members, inputs)
	}
	if p.PCount() != 1 {
		return 0, fmt.Errorf("privacy: flooding: %d special primes: the noise bound covers encryption rescaled by one special prime P", p.PCount())
	}
	var be float64
	switch xe := p.Xe().(type) {
	case ring.DiscreteGaussian:
		be = xe.Bound + 1
	case ring.Ternary:
		be = 1
	default:
		return 0, fmt.Errorf("privacy: flooding: error distribution %T: the noise bound covers truncated Gaussian and ternary errors", xe)
	}
	n, m, in := float64(p.N()), float64(members), float64(inputs)
	pp := float64(p.P()[0])
	rho := 0.5 + 1/pp
	small := in * (rho + (2*n*m+1)*be/pp) // Σ r0 and (u·ê + e0 + e1·s)/P
	var rs float64                        // R·s
	switch xs := p.Xs().(type) {
	case ring.Ternary:
		if xs.H > 0 {
			rs = in * rho * m * float64(xs.H)
			break
		}
		tail := in * rho * math.Sqrt(2*n*m*(float64(noiseFailureLog2+1)*math.Ln2+math.Log(n)))
		rs = min(tail, in*rho*n*m)
	default:
		return 0, fmt.Errorf("privacy: flooding: secret distribution %T: the noise bound covers ternary secrets", xs)
	}
	return small + rs, nil
}

// smudgingBound bounds the Gaussian lattigo's key-switch protocol adds to
// each share (mhe.NewKeySwitchProtocol: σ² = σ_fresh² + σ_smudging², cut at
// 6σ, then rounded).
func smudgingBound(p Params) float64 {
	s := math.Exp2(SmudgingLog2)
	return 6*math.Sqrt(p.NoiseFreshSK()*p.NoiseFreshSK()+s*s) + 1
}

// planFlooding plans the flooding of a decryption by decryptors members
// of a sum of inputs fresh encryptions under a key of members members:
// the largest power-of-two flooding bound B with E + decryptors·(B + G) ≤
// Q/(4T). It does not judge the margin.
func planFlooding(p Params, members, inputs, decryptors int) (flooding, error) {
	e, err := freshSumNoise(p, members, inputs)
	if err != nil {
		return flooding{}, err
	}
	if decryptors < 1 {
		return flooding{}, fmt.Errorf("privacy: flooding: %d decryptors: want at least 1", decryptors)
	}
	budget := new(big.Int).Set(p.RingQ().ModulusAtLevel[p.MaxLevel()])
	budget.Quo(budget, new(big.Int).SetUint64(4*p.PlaintextModulus()))
	budget.Sub(budget, ceilInt(e))
	budget.Quo(budget, big.NewInt(int64(decryptors)))
	budget.Sub(budget, ceilInt(smudgingBound(p))) // now the room for B
	if budget.Sign() <= 0 {
		return flooding{}, fmt.Errorf("%w: %d decryptors of a sum of %d inputs leave no room for flooding under Q/(4T)", ErrFloodingMargin, decryptors, inputs)
	}
	return flooding{noise: e, logB: budget.BitLen() - 1}, nil
}

func ceilInt(x float64) *big.Int {
	i, _ := new(big.Float).SetFloat64(math.Ceil(x)).Int(nil)
	return i
}

// FloodingMargin is the margin, in bits, of a decryption by decryptors
// members (the threshold) of a sum of inputs fresh encryptions under the
// collective key of members members: log2 of each share's flooding bound
// minus log2 of the bound on the ciphertext's noise. Below
// MinFloodingMargin it returns the margin and an error wrapping
// ErrFloodingMargin; NewDecryptor refuses such a decryption.
func FloodingMargin(p Params, members, inputs, decryptors int) (bits float64, err error) {
	f, err := floodingFor(p, members, inputs, decryptors)
	if f.noise > 0 {
		bits = f.margin()
	}
	return bits, err
}

// floodingFor is planFlooding, refusing a plan below MinFloodingMargin
// (and returning it, for its margin).
func floodingFor(p Params, members, inputs, decryptors int) (flooding, error) {
	f, err := planFlooding(p, members, inputs, decryptors)
	if err != nil {
		return flooding{}, err
	}
	if bits := f.margin(); bits < MinFloodingMargin {
		return f, fmt.Errorf("%w: %d decryptors of a sum of %d inputs under a %d-member key get %.1f bits, want %d: use fewer decryptors, members or inputs, or a larger ciphertext modulus",
			ErrFloodingMargin, decryptors, inputs, members, bits, MinFloodingMargin)
	}
	return f, nil
}

// flooder draws flooding noise, from a ChaCha8 generator seeded from
// crypto/rand (as Noise does).
type flooder struct {
	rng  *mrand.Rand
	logB int
}

func newFlooder(logB int) *flooder {
	var seed [32]byte
	_, _ = crand.Read(seed[:]) // never fails (crypto/rand, Go 1.24+)
	return &flooder{rng: mrand.New(mrand.NewChaCha8(seed)), logB: logB}
}

// add adds to pol, a polynomial of r (in the NTT domain when ntt is set),
// fresh noise uniform on [-2^logB, 2^logB) in every coefficient. The
// noise is drawn in the coefficient domain, as v - 2^logB for v uniform on
// [0, 2^(logB+1)), built from digits that are smaller than every prime of
// r (so each is its own residue) and combined in RNS by the ring's
// arithmetic: the same operations for every coefficient, whatever its
// value, and no rejection.
func (f *flooder) add(r *ring.Ring, pol ring.Poly, ntt bool) {
	width := 63 // digit bits: below the smallest prime
	for _, s := range r.SubRings[:r.Level()+1] {
		width = min(width, bitLen(s.Modulus)-1)
	}
	noise, digit := r.NewPoly(), r.NewPoly()
	bits := f.logB + 1
	for shift := 0; shift < bits; shift += width {
		w := min(width, bits-shift)
		for j := range r.N() {
			d := f.rng.Uint64() >> (64 - w)
			for i := range digit.Coeffs {
				digit.Coeffs[i][j] = d
			}
		}
		r.MulScalarBigintThenAdd(digit, new(big.Int).Lsh(big.NewInt(1), uint(shift)), noise)
	}
	r.SubScalarBigint(noise, new(big.Int).Lsh(big.NewInt(1), uint(f.logB)), noise)
	if ntt {
		r.NTT(noise, noise)
	}
	r.Add(pol, noise, pol)
}

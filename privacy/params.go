package privacy

import (
	"errors"
	"fmt"

	"github.com/tuneinsight/lattigo/v5/schemes/bgv"
)

// Params are the BGV parameters of a consortium. Every member must use the
// same ones; their Digest goes into the governance log with each key
// epoch.
type Params struct {
	bgv.Parameters
	insecure bool // TestInsecureParams: for unit tests only
}

// DefaultLiteral is cxnet's parameter set: ring degree 2^13, a 120-bit
// ciphertext modulus (two 60-bit primes) and one 60-bit special prime, so
// log QP = 180 is below 218, the 128-bit security bound of the
// homomorphic encryption standard for a ternary secret at N = 2^13. The
// plaintext modulus T = 0x200080001 (a 33-bit prime ≡ 1 mod 2^14) allows
// full packing: 8192 slots, each an integer modulo T, ±4.29e9 signed.
var DefaultLiteral = bgv.ParametersLiteral{
	LogN:             13,
	LogQ:             []int{60, 60},
	LogP:             []int{60},
	PlaintextModulus: 0x200080001,
}

// maxLogQP is the 128-bit security bound on log2(QP) for a ternary secret,
// by ring degree (HomomorphicEncryption.org standard, Table 1).
var maxLogQP = map[int]float64{12: 109, 13: 218, 14: 438, 15: 881}

// ErrInsecure is returned for parameters below 128-bit security.
var ErrInsecure = errors.New("privacy: parameters below 128-bit security")

// NewParams checks a parameter literal and returns its parameters. It
// refuses any set below 128-bit security, and any whose decryption by
// all of MaxMembers members, of a sum of MaxMembers inputs, would flood
// the ciphertext's noise by less than MinFloodingMargin bits
// (ErrFloodingMargin; flooding.go): lattigo checks neither.
func NewParams(lit bgv.ParametersLiteral) (Params, error) {
	p, err := bgv.NewParametersFromLiteral(lit)
	if err != nil {
		return Params{}, fmt.Errorf("privacy: parameters: %w", err)
	}
	bound, ok := maxLogQP[p.LogN()]
	if !ok {
		return Params{}, fmt.Errorf("%w: ring degree 2^%d has no bound here (use 2^12 to 2^15)", ErrInsecure, p.LogN())
	}
	if p.LogQP() > bound {
		return Params{}, fmt.Errorf("%w: log QP = %.1f exceeds %.0f at N = 2^%d", ErrInsecure, p.LogQP(), bound, p.LogN())
	}
	if _, err := FloodingMargin(Params{Parameters: p}, MaxMembers, MaxMembers, MaxMembers); err != nil {
		return Params{}, fmt.Errorf("privacy: parameters: a decryption by all of %d members: %w", MaxMembers, err)
	}
	return Params{Parameters: p}, nil
}

// DefaultParams returns the parameters of DefaultLiteral.
func DefaultParams() Params {
	p, err := NewParams(DefaultLiteral)
	if err != nil {
		panic("privacy: the default parameters do not build: " + err.Error()) // a programming error, caught by every test
	}
	return p
}

// Slots is the number of values one ciphertext carries.
func (p Params) Slots() int { return p.MaxSlots() }

// Name identifies the parameters, as key epochs record them: members
// whose parameters differ cannot share a key.
func (p Params) Name() string {
	bits := func(moduli []uint64) string {
		s := ""
		for i, q := range moduli {
			if i > 0 {
				s += ","
			}
			s += fmt.Sprint(bitLen(q))
		}
		return s
	}
	name := fmt.Sprintf("bgv/logn=%d/q=%s/p=%s/t=%#x", p.LogN(), bits(p.Q()), bits(p.P()), p.PlaintextModulus())
	if p.insecure {
		name = insecureTestPrefix + name
	}
	return name
}

func bitLen(q uint64) int {
	n := 0
	for ; q > 0; q >>= 1 {
		n++
	}
	return n
}

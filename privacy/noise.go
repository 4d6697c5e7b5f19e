package privacy

// Distributed differential privacy. Each of n members adds a noise share
// to its components before encrypting them; the shares add up to exactly
// one draw of the discrete Laplace (two-sided geometric) mechanism, so the
// released sum is ε-differentially private while no member — nor the
// aggregator — knows the noise. The discrete Laplace distribution with
// P(k) ∝ α^|k| is the difference of two geometric variables, and a
// geometric variable is the sum of n Pólya (negative binomial) variables
// of shape 1/n: each member draws NB(1/n, α) − NB(1/n, α).
//
// Sampling uses a ChaCha8 generator seeded from crypto/rand, and exact
// samplers: a negative binomial as a Poisson of a Gamma, the Gamma by
// Marsaglia–Tsang, the Poisson by multiplication (small means) or
// Hörmann's PTRS (large ones).

import (
	"crypto/rand"
	"fmt"
	"math"
	mrand "math/rand/v2"
)

// Noise draws noise shares.
type Noise struct {
	rng *mrand.Rand
}

// NewNoise returns a noise source seeded from crypto/rand.
func NewNoise() *Noise {
	var seed [32]byte
	_, _ = rand.Read(seed[:]) // never fails (crypto/rand, Go 1.24+)
	return &Noise{rng: mrand.New(mrand.NewChaCha8(seed))}
}

// LaplaceShare is one of members' shares of discrete Laplace noise of
// scale sensitivity/epsilon: the members' shares add up to a draw with
// P(k) ∝ exp(-epsilon·|k|/sensitivity).
func (n *Noise) LaplaceShare(members int, sensitivity, epsilon float64) (int64, error) {
	if members < 1 || sensitivity <= 0 || epsilon <= 0 || math.IsInf(sensitivity, 0) || math.IsNaN(sensitivity) {
		return 0, fmt.Errorf("privacy: noise: members %d, sensitivity %g, epsilon %g", members, sensitivity, epsilon)
	}
	alpha := math.Exp(-epsilon / sensitivity)
	r := 1 / float64(members)
	plus := n.negBinomial(r, alpha)
	minus := n.negBinomial(r, alpha) // an independent draw
	return plus - minus, nil
}

// negBinomial draws NB(r, alpha): the number of successes before the r-th
// failure, success probability alpha (a Poisson of a Gamma(r, α/(1-α))).
func (n *Noise) negBinomial(r, alpha float64) int64 {
	if alpha <= 0 {
		return 0
	}
	lambda := n.gamma(r) * alpha / (1 - alpha)
	return n.poisson(lambda)
}

// gamma draws Gamma(shape, 1) (Marsaglia and Tsang 2000; for shape < 1,
// Gamma(shape+1)·U^(1/shape)).
func (n *Noise) gamma(shape float64) float64 {
	if shape < 1 {
		u := n.rng.Float64()
		for u == 0 {
			u = n.rng.Float64()
		}
		return n.gamma(shape+1) * math.Pow(u, 1/shape)
	}
	d := shape - 1.0/3
	c := 1 / math.Sqrt(9*d)
	for {
		x := n.rng.NormFloat64()
		v := 1 + c*x
		if v <= 0 {
			continue
		}
		v = v * v * v
		u := n.rng.Float64()
		if u < 1-0.0331*x*x*x*x || math.Log(u) < 0.5*x*x+d*(1-v+math.Log(v)) {
			return d * v
		}
	}
}

// poisson draws Poisson(lambda).
func (n *Noise) poisson(lambda float64) int64 {
	switch {
	case lambda <= 0:
		return 0
	case lambda < 10:
		// Multiplication of uniforms (Knuth).
		limit, prod := math.Exp(-lambda), n.rng.Float64()
		var k int64
		for prod > limit {
			prod *= n.rng.Float64()
			k++
		}
		return k
	}
	// PTRS: transformed rejection with squeeze (Hörmann 1993).
	slam, loglam := math.Sqrt(lambda), math.Log(lambda)
	b := 0.931 + 2.53*slam
	a := -0.059 + 0.02483*b
	invAlpha := 1.1239 + 1.1328/(b-3.4)
	vr := 0.9277 - 3.6224/(b-2)
	for {
		u := n.rng.Float64() - 0.5
		v := n.rng.Float64()
		us := 0.5 - math.Abs(u)
		k := math.Floor((2*a/us+b)*u + lambda + 0.43)
		if us >= 0.07 && v <= vr {
			return int64(k)
		}
		if k < 0 || (us < 0.013 && v > us) {
			continue
		}
		lg, _ := math.Lgamma(k + 1)
		if math.Log(v)+math.Log(invAlpha)-math.Log(a/(us*us)+b) <= -lambda+k*loglam-lg {
			return int64(k)
		}
	}
}

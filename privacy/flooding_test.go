package privacy

import (
	"errors"
	"fmt"
	"math"
	"math/big"
	"math/rand/v2"
	"testing"

	"github.com/tuneinsight/lattigo/v5/core/rlwe"
	"github.com/tuneinsight/lattigo/v5/mhe"
	"github.com/tuneinsight/lattigo/v5/ring"
	"github.com/tuneinsight/lattigo/v5/schemes/bgv"
)

// TestFloodingMargin: the margin at the default parameters, by consortium
// size, inputs and threshold; what falls below MinFloodingMargin is
// refused with ErrFloodingMargin.
func TestFloodingMargin(t *testing.T) {
	p := DefaultParams()
	for _, c := range []struct {
		name                        string
		members, inputs, decryptors int
		want                        float64 // margin, bits
		refused                     bool
	}{
		{"one member", 1, 1, 1, 75.12, false},
		{"3 members, majority", 3, 3, 2, 71.74, false},
		{"10 members, majority", 10, 10, 6, 68.14, false},
		{"10 members, all decrypt", 10, 10, 10, 67.14, false},
		{"30 members, majority", 30, 30, 16, 63.76, false},
		{"2^13 members, all decrypt", 1 << 13, 1 << 13, 1 << 13, 42.62, false},
		{"2^14 members, majority", 1 << 14, 1 << 14, 1<<13 + 1, 41.12, false},
		{"MaxMembers, all decrypt", MaxMembers, MaxMembers, MaxMembers, 40.12, false},
		{"2^15 members, majority", 1 << 15, 1 << 15, 1<<14 + 1, 38.62, true},
		{"2^15 members, all decrypt", 1 << 15, 1 << 15, 1 << 15, 37.62, true},
		{"10 members, 2^34 inputs", 10, 1 << 34, 6, 37.46, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			bits, err := FloodingMargin(p, c.members, c.inputs, c.decryptors)
			if math.Abs(bits-c.want) > 0.01 {
				t.Errorf("margin %.2f bits, want %.2f", bits, c.want)
			}
			if c.refused != errors.Is(err, ErrFloodingMargin) {
				t.Errorf("error %v, refused should be %v", err, c.refused)
			}
			if !c.refused && err != nil {
				t.Errorf("error %v", err)
			}
		})
	}
	for _, bad := range [][3]int{{0, 1, 1}, {1, 0, 1}, {1, 1, 0}} {
		if _, err := FloodingMargin(p, bad[0], bad[1], bad[2]); err == nil || errors.Is(err, ErrFloodingMargin) {
			t.Errorf("FloodingMargin%v: error %v, want an argument error", bad, err)
		}
	}
}

// TestFloodingMarginMonotone: more members, inputs or decryptors never
// give more margin.
func TestFloodingMarginMonotone(t *testing.T) {
	p := DefaultParams()
	margin := func(m, i, d int) float64 {
		f, err := planFlooding(p, m, i, d)
		if err != nil {
			t.Fatal(err)
		}
		return f.margin()
	}
	for m := 1; m <= MaxMembers; m *= 2 {
		for d := 1; d <= m; d *= 2 {
			here := margin(m, m, d)
			for name, next := range map[string]float64{
				"members":    margin(2*m, m, d),
				"inputs":     margin(m, 2*m, d),
				"decryptors": margin(m, m, 2*d),
			} {
				if next > here {
					t.Errorf("members %d, decryptors %d: doubling %s raises the margin from %.2f to %.2f", m, d, name, here, next)
				}
			}
		}
	}
}

// TestNewParamsRefusesThinMargin: a secure parameter set whose
// ciphertext modulus leaves too little room to flood a decryption by all
// of MaxMembers members is refused.
func TestNewParamsRefusesThinMargin(t *testing.T) {
	lit := bgv.ParametersLiteral{LogN: 13, LogQ: []int{60, 40}, LogP: []int{60}, PlaintextModulus: 0x200080001}
	_, err := NewParams(lit)
	if !errors.Is(err, ErrFloodingMargin) || errors.Is(err, ErrInsecure) {
		t.Fatalf("got %v, want ErrFloodingMargin", err)
	}
	if _, err := NewParams(DefaultLiteral); err != nil {
		t.Fatalf("the default parameters: %v", err)
	}
}

// centered returns the coefficients of pol (in the NTT domain when ntt
// is set), centered modulo Q.
func centered(p Params, pol ring.Poly, ntt bool) []*big.Int {
	r := p.RingQ().AtLevel(pol.Level())
	c := r.NewPoly()
	if ntt {
		r.INTT(pol, c)
	} else {
		c.Copy(pol)
	}
	out := make([]*big.Int, r.N())
	for i := range out {
		out[i] = new(big.Int)
	}
	r.PolyToBigintCentered(c, 1, out)
	return out
}

// maxAbs is the infinity norm of coefficients.
func maxAbs(coeffs []*big.Int) *big.Int {
	m := new(big.Int)
	for _, c := range coeffs {
		if a := new(big.Int).Abs(c); a.Cmp(m) > 0 {
			m = a
		}
	}
	return m
}

func log2Big(x *big.Int) float64 {
	f, _ := new(big.Float).SetInt(x).Float64()
	return math.Log2(f)
}

// encryptSum has every one of inputs encryptions (members taking turns)
// encrypt random slots under the epoch's key, aggregates them, and
// returns the sum and the sum of the encoded plaintexts, m·T^-1 mod Q in
// the NTT domain.
func (e *testEpoch) encryptSum(t *testing.T, rng *rand.Rand, inputs int) (*rlwe.Ciphertext, ring.Poly) {
	t.Helper()
	r := e.p.RingQ()
	ptSum := r.NewPoly()
	ecd := bgv.NewEncoder(e.p.Parameters)
	enc := rlwe.NewEncryptor(e.p.Parameters, e.pk.pk)
	var cts []Ciphertexts
	for range inputs {
		slots := make([]uint64, e.p.Slots())
		for i := range slots {
			slots[i] = rng.Uint64N(e.p.PlaintextModulus())
		}
		pt := bgv.NewPlaintext(e.p.Parameters, e.p.MaxLevel())
		if err := ecd.Encode(slots, pt); err != nil {
			t.Fatal(err)
		}
		if !pt.IsNTT {
			t.Fatal("BGV plaintexts are expected in the NTT domain")
		}
		r.Add(ptSum, pt.Value, ptSum)
		ct, err := enc.EncryptNew(pt)
		if err != nil {
			t.Fatal(err)
		}
		b, err := ct.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		cts = append(cts, Ciphertexts{b})
	}
	sum, err := Aggregate(e.p, cts)
	if err != nil {
		t.Fatal(err)
	}
	ct, err := decodeCiphertext(e.p, sum[0])
	if err != nil {
		t.Fatal(err)
	}
	return ct, ptSum
}

// TestFreshSumNoiseMeasured: the noise of a real aggregate (fresh
// encryptions by every member of a real key epoch, added by Aggregate),
// measured with the ideal secret key Σ s_i and no flooding, stays below
// the analytic bound, and the flooding a majority of the members adds
// exceeds it by MinFloodingMargin bits or more.
func TestFreshSumNoiseMeasured(t *testing.T) {
	for _, c := range []struct{ members, inputs int }{{10, 10}, {3, 40}} {
		t.Run(fmt.Sprintf("%d members, %d inputs", c.members, c.inputs), func(t *testing.T) {
			seed := rand.Uint64()
			t.Logf("seed %d", seed)
			rng := rand.New(rand.NewPCG(seed, 0))
			e := newEpoch(t, DefaultParams(), c.members, 0)
			ct, ptSum := e.encryptSum(t, rng, c.inputs)
			var keys []*rlwe.SecretKey
			for _, sk := range e.sks {
				keys = append(keys, sk.sk)
			}
			s := e.sumKeys(keys)
			// c0 + c1·s - m·T^-1, in the NTT domain.
			r := e.p.RingQ()
			phase := r.NewPoly()
			r.MulCoeffsMontgomery(ct.Value[1], s.Value.Q, phase)
			r.Add(phase, ct.Value[0], phase)
			r.Sub(phase, ptSum, phase)
			measured := maxAbs(centered(e.p, phase, ct.IsNTT))

			bound, err := freshSumNoise(e.p, c.members, c.inputs)
			if err != nil {
				t.Fatal(err)
			}
			threshold := c.members/2 + 1
			plan, err := planFlooding(e.p, c.members, c.inputs, threshold)
			if err != nil {
				t.Fatal(err)
			}
			got := log2Big(measured)
			t.Logf("noise: measured 2^%.2f (%s), bound 2^%.2f; flooding 2^%d: %.2f bits over the measured noise, %.2f over the bound",
				got, measured, math.Log2(bound), plan.logB, float64(plan.logB)-got, plan.margin())
			if measured.Sign() == 0 || got > math.Log2(bound) {
				t.Errorf("measured noise %s (2^%.2f) is not within the bound 2^%.2f", measured, got, math.Log2(bound))
			}
			if float64(plan.logB)-got < MinFloodingMargin {
				t.Errorf("flooding 2^%d is %.2f bits over the measured noise, want %d", plan.logB, float64(plan.logB)-got, MinFloodingMargin)
			}
		})
	}
}

// TestFloodedDecryptionOpens: with the flooding, any threshold set of
// every size still opens the exact sums.
func TestFloodedDecryptionOpens(t *testing.T) {
	for _, c := range []struct{ n, t int }{{1, 1}, {3, 2}, {5, 3}, {10, 6}, {10, 10}} {
		t.Run(fmt.Sprintf("%d of %d", c.t, c.n), func(t *testing.T) {
			seed := rand.Uint64()
			t.Logf("seed %d", seed)
			rng := rand.New(rand.NewPCG(seed, 0))
			e := newEpoch(t, DefaultParams(), c.n, c.t)
			want := make([]*big.Int, 5)
			for i := range want {
				want[i] = new(big.Int)
			}
			var inputs []Ciphertexts
			for range c.n {
				comp := make([]int64, len(want))
				for i := range comp {
					comp[i] = rng.Int64() >> rng.IntN(64)
					if rng.IntN(2) == 0 {
						comp[i] = -comp[i]
					}
					want[i].Add(want[i], big.NewInt(comp[i]))
				}
				ct, err := Encrypt(e.p, e.pk, comp)
				if err != nil {
					t.Fatal(err)
				}
				inputs = append(inputs, ct)
			}
			sum, err := Aggregate(e.p, inputs)
			if err != nil {
				t.Fatal(err)
			}
			active := rng.Perm(c.n)[:c.t]
			got := e.openWith(t, sum, active, len(want))
			for i := range want {
				if got[i].Cmp(want[i]) != 0 {
					t.Fatalf("component %d: got %s, want %s (active %v)", i, got[i], want[i], active)
				}
			}
		})
	}
}

// TestFloodingIsInTheDecryption: the noise of a threshold decryption
// (c0 + Σ shares - m·T^-1) has the flooding's size: at least half the
// flooding bound (it is not lattigo's 2^48 Gaussian alone), within the
// budget the plan allows (it went in the right domain: a flooding added
// to the NTT values as if they were coefficients would be uniform modulo
// Q).
func TestFloodingIsInTheDecryption(t *testing.T) {
	const n, thr = 10, 6
	seed := rand.Uint64()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	e := newEpoch(t, DefaultParams(), n, thr)
	ct, ptSum := e.encryptSum(t, rng, n)
	b, err := ct.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	r := e.p.RingQ()
	dec := r.NewPoly()
	dec.Copy(ct.Value[0])
	active := rng.Perm(n)[:thr]
	for _, a := range active {
		d, err := NewDecryptor(e.p, e.tkeys[a], a, n, thr, active)
		if err != nil {
			t.Fatal(err)
		}
		s, err := d.Share(Ciphertexts{b})
		if err != nil {
			t.Fatal(err)
		}
		share := mhe.KeySwitchShare{Value: r.NewPoly()}
		if err := decodeKeySwitchShare(e.p, s[0], &share); err != nil {
			t.Fatal(err)
		}
		r.Add(dec, share.Value, dec)
	}
	r.Sub(dec, ptSum, dec)
	noise := maxAbs(centered(e.p, dec, ct.IsNTT))

	plan, err := planFlooding(e.p, n, n, thr)
	if err != nil {
		t.Fatal(err)
	}
	bound := float64(thr)*(math.Exp2(float64(plan.logB))+smudgingBound(e.p)) + plan.noise
	t.Logf("decryption noise 2^%.2f; flooding bound 2^%d per share, budget 2^%.2f", log2Big(noise), plan.logB, math.Log2(bound))
	if got := log2Big(noise); got < float64(plan.logB-1) || got > math.Log2(bound) {
		t.Fatalf("decryption noise 2^%.2f, want between 2^%d and 2^%.2f", got, plan.logB-1, math.Log2(bound))
	}
}

// TestFlooderDraws: flooding noise is uniform on [-2^logB, 2^logB), the
// same integer in every RNS row, for bounds of one digit and of several.
func TestFlooderDraws(t *testing.T) {
	p := DefaultParams()
	r := p.RingQ()
	t.Run("small bound, uniform", func(t *testing.T) {
		f := newFlooder(3)
		pol := r.NewPoly()
		f.add(r, pol, false)
		counts := map[int64]int{}
		for _, c := range centered(p, pol, false) {
			counts[c.Int64()]++
		}
		// 8192 draws over 16 values: 512 each expected, σ ≈ 22.
		for v := int64(-8); v < 8; v++ {
			if k := counts[v]; k < 400 || k > 624 {
				t.Errorf("value %d drawn %d times of %d, want about 512", v, k, r.N())
			}
			delete(counts, v)
		}
		if len(counts) > 0 {
			t.Errorf("values out of [-8, 8): %v", counts)
		}
	})
	for _, logB := range []int{59, 70, 84} {
		t.Run(fmt.Sprintf("bound 2^%d", logB), func(t *testing.T) {
			f := newFlooder(logB)
			pol := r.NewPoly()
			f.add(r, pol, true) // into the NTT domain, and back
			coeffs := centered(p, pol, true)
			limit := new(big.Int).Lsh(big.NewInt(1), uint(logB))
			negLimit := new(big.Int).Neg(limit)
			var neg, high int
			for _, c := range coeffs {
				if c.Cmp(negLimit) < 0 || c.Cmp(limit) >= 0 {
					t.Fatalf("coefficient %s out of [-2^%d, 2^%d)", c, logB, logB)
				}
				if c.Sign() < 0 {
					neg++
				}
				if new(big.Int).Abs(c).BitLen() == logB { // |c| ≥ 2^(logB-1): half the draws
					high++
				}
			}
			if neg < 3800 || neg > 4400 || high < 3800 || high > 4400 {
				t.Errorf("of %d coefficients, %d negative and %d above 2^%d, want about half each", len(coeffs), neg, high, logB-1)
			}
		})
	}
}

// TestDecryptionBelowMarginRefused: a decryption whose flooding could not
// hide the ciphertext noise by MinFloodingMargin bits and still decrypt is
// refused before any share is made: a consortium beyond MaxMembers, by a
// majority or by all of it.
func TestDecryptionBelowMarginRefused(t *testing.T) {
	e := newEpoch(t, DefaultParams(), 2, 2)
	for _, c := range []struct {
		name               string
		members, threshold int
	}{
		{"2^15 members, majority", 1 << 15, 1<<14 + 1},
		{"2^15 members, all", 1 << 15, 1 << 15},
	} {
		t.Run(c.name, func(t *testing.T) {
			active := make([]int, c.threshold)
			for i := range active {
				active[i] = i
			}
			d, err := NewDecryptor(e.p, e.tkeys[0], 0, c.members, c.threshold, active)
			if !errors.Is(err, ErrFloodingMargin) || d != nil {
				t.Fatalf("got %v, want ErrFloodingMargin", err)
			}
		})
	}
	if _, err := NewDecryptor(e.p, e.tkeys[0], 0, MaxMembers, 2, []int{0, 1}); err != nil {
		t.Fatalf("a decryption within the limits is refused: %v", err)
	}
}

package privacy

import (
	"errors"
	"fmt"
	"math"
	"math/big"
	"math/rand/v2"
	"testing"

	"pgregory.net/rapid"
)

// openWith runs the decryption of v by the members at active positions.
func (e *testEpoch) openWith(t testing.TB, v Ciphertexts, active []int, n int) []*big.Int {
	t.Helper()
	var shares []Ciphertexts
	for _, a := range active {
		d, err := NewDecryptor(e.p, e.tkeys[a], a, len(e.sks), e.t, active)
		if err != nil {
			t.Fatal(err)
		}
		s, err := d.Share(v)
		if err != nil {
			t.Fatal(err)
		}
		shares = append(shares, s)
	}
	out, err := Open(e.p, v, shares, n)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestRoundSumsExactly: the homomorphic sum of the members' vectors,
// opened by any threshold set, equals the plain sum, for components of
// every size (int64 extremes included) and vectors longer than one
// ciphertext.
func TestRoundSumsExactly(t *testing.T) {
	e := newEpoch(t, TestInsecureParams(), 4, 3)
	rapid.Check(t, func(rt *rapid.T) {
		n := rapid.SampledFrom([]int{0, 1, 7, e.p.ComponentsPerCiphertext() + 3}).Draw(rt, "components")
		gen := rapid.OneOf(rapid.Int64Range(-100, 100), rapid.Int64(), rapid.SampledFrom([]int64{math.MinInt64, math.MaxInt64, 0, 1 << 16, -(1 << 16)}))
		var inputs []Ciphertexts
		want := make([]*big.Int, n)
		for i := range want {
			want[i] = new(big.Int)
		}
		for m := range 4 {
			comp := rapid.SliceOfN(gen, n, n).Draw(rt, fmt.Sprintf("member %d", m))
			for i, x := range comp {
				want[i].Add(want[i], big.NewInt(x))
			}
			ct, err := Encrypt(e.p, e.pk, comp)
			if err != nil {
				rt.Fatal(err)
			}
			inputs = append(inputs, ct)
		}
		sum, err := Aggregate(e.p, inputs)
		if err != nil {
			rt.Fatal(err)
		}
		active := rapid.Permutation([]int{0, 1, 2, 3}).Draw(rt, "order")[:3]
		got := e.openWith(t, sum, active, n)
		for i := range want {
			if got[i].Cmp(want[i]) != 0 {
				rt.Fatalf("component %d: got %s, want %s", i, got[i], want[i])
			}
		}
	})
}

// TestTooFewSharesDoNotOpen: t-1 members' shares open noise, not the sum.
func TestTooFewSharesDoNotOpen(t *testing.T) {
	e := newEpoch(t, TestInsecureParams(), 3, 2)
	v, err := Encrypt(e.p, e.pk, []int64{42})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewDecryptor(e.p, e.tkeys[0], 0, 3, 2, []int{0}); err == nil {
		t.Fatal("a decryptor for a set below the threshold")
	}
	// Member 0's share computed for the set {0, 1}, opened without 1's.
	d, _ := NewDecryptor(e.p, e.tkeys[0], 0, 3, 2, []int{0, 1})
	s, _ := d.Share(v)
	got, err := Open(e.p, v, []Ciphertexts{s}, 1)
	if err != nil {
		t.Fatal(err)
	}
	if got[0].Int64() == 42 {
		t.Fatal("one share of two opened the value")
	}
}

func TestBadCiphertextsRefused(t *testing.T) {
	e := newEpoch(t, TestInsecureParams(), 2, 2)
	good, _ := Encrypt(e.p, e.pk, []int64{1, 2, 3})
	cut := Ciphertexts{good[0][:len(good[0])-1]}
	unreduced := Ciphertexts{append([]byte(nil), good[0]...)}
	for i := len(unreduced[0]) - 16; i < len(unreduced[0]); i++ {
		unreduced[0][i] = 0xff
	}
	two, _ := Encrypt(e.p, e.pk, make([]int64, e.p.ComponentsPerCiphertext()+1))
	for name, in := range map[string]Ciphertexts{"cut": cut, "unreduced": unreduced, "longer": two} {
		t.Run(name, func(t *testing.T) {
			if _, err := Aggregate(e.p, []Ciphertexts{good, in}); !errors.Is(err, ErrBadCiphertext) {
				t.Fatalf("got %v, want ErrBadCiphertext", err)
			}
		})
	}
}

func FuzzAggregate(f *testing.F) {
	p := TestInsecureParams()
	sk, _ := NewSecretKey(p)
	seed := make([]byte, SeedSize)
	share, _ := PublicKeyShare(p, sk, seed)
	pk, _ := CollectivePublicKey(p, seed, [][]byte{share})
	good, _ := Encrypt(p, pk, []int64{rand.Int64()})
	f.Add(good[0])
	f.Add(good[0][:64])
	f.Fuzz(func(t *testing.T, b []byte) {
		if _, err := Aggregate(p, []Ciphertexts{good, {b}}); err != nil && !errors.Is(err, ErrBadCiphertext) {
			t.Fatalf("error %v is not ErrBadCiphertext", err)
		}
	})
}

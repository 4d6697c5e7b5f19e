package privacy

import (
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/tuneinsight/lattigo/v5/core/rlwe"
	"github.com/tuneinsight/lattigo/v5/mhe"
	"github.com/tuneinsight/lattigo/v5/schemes/bgv"
)

// epoch runs a key epoch among n members in one process: secret keys,
// public-key shares, the collective key, and (when t > 0) the dealing.
type testEpoch struct {
	p     Params
	seed  []byte
	sks   []*SecretKey
	pk    *PublicKey
	tkeys []*ThresholdKey
	t     int
}

// newEpoch makes a key epoch of n members under p, with threshold keys
// when threshold > 0.
func newEpoch(t testing.TB, p Params, n, threshold int) *testEpoch {
	t.Helper()
	e := &testEpoch{p: p, seed: make([]byte, SeedSize), t: threshold}
	rand.Read(e.seed)
	shares := make([][]byte, n)
	for i := range n {
		sk, err := NewSecretKey(e.p)
		if err != nil {
			t.Fatal(err)
		}
		e.sks = append(e.sks, sk)
		if shares[i], err = PublicKeyShare(e.p, sk, e.seed); err != nil {
			t.Fatal(err)
		}
		if len(shares[i]) != PublicKeyShareSize(e.p) {
			t.Fatalf("share %d is %d bytes, PublicKeyShareSize says %d", i, len(shares[i]), PublicKeyShareSize(e.p))
		}
	}
	pk, err := CollectivePublicKey(e.p, e.seed, shares)
	if err != nil {
		t.Fatal(err)
	}
	e.pk = pk
	if threshold > 0 {
		received := make([][][]byte, n) // received[j] = shares dealt to j
		for i := range n {
			dealt, err := Deal(e.p, e.sks[i], threshold, n)
			if err != nil {
				t.Fatal(err)
			}
			for j := range n {
				received[j] = append(received[j], dealt[j])
			}
		}
		for j := range n {
			tk, err := CombineDealt(e.p, received[j])
			if err != nil {
				t.Fatal(err)
			}
			e.tkeys = append(e.tkeys, tk)
		}
	}
	return e
}

// encrypt encodes values in the slots and encrypts them under the
// collective key.
func (e *testEpoch) encrypt(t testing.TB, values []uint64) *rlwe.Ciphertext {
	t.Helper()
	pt := bgv.NewPlaintext(e.p.Parameters, e.p.MaxLevel())
	if err := bgv.NewEncoder(e.p.Parameters).Encode(values, pt); err != nil {
		t.Fatal(err)
	}
	ct, err := rlwe.NewEncryptor(e.p.Parameters, e.pk.pk).EncryptNew(pt)
	if err != nil {
		t.Fatal(err)
	}
	return ct
}

// decryptWith decrypts with the given secret key (the ideal key, a
// reconstruction: tests only; no node ever holds one).
func (e *testEpoch) decryptWith(t testing.TB, sk *rlwe.SecretKey, ct *rlwe.Ciphertext, n int) []uint64 {
	t.Helper()
	pt := rlwe.NewDecryptor(e.p.Parameters, sk).DecryptNew(ct)
	out := make([]uint64, e.p.Slots())
	if err := bgv.NewEncoder(e.p.Parameters).Decode(pt, out); err != nil {
		t.Fatal(err)
	}
	return out[:n]
}

// sumKeys returns the sum of secret keys.
func (e *testEpoch) sumKeys(keys []*rlwe.SecretKey) *rlwe.SecretKey {
	sum := rlwe.NewSecretKey(e.p.Parameters)
	r := e.p.RingQP()
	for _, k := range keys {
		r.Add(sum.Value, k.Value, sum.Value)
	}
	return sum
}

func TestDefaultParamsAreSecure(t *testing.T) {
	p := DefaultParams()
	if p.LogN() != 13 || p.Slots() != 8192 || p.LogQP() > 218 {
		t.Fatalf("N=2^%d slots %d logQP %.1f", p.LogN(), p.Slots(), p.LogQP())
	}
	if p.PlaintextModulus() != 0x200080001 {
		t.Fatalf("T = %#x", p.PlaintextModulus())
	}
}

func TestNewParamsRefusesInsecure(t *testing.T) {
	for name, lit := range map[string]bgv.ParametersLiteral{
		"logQP 240 at 2^13": {LogN: 13, LogQ: []int{60, 60, 60}, LogP: []int{60}, PlaintextModulus: 0x200080001},
		"N=2^11":            {LogN: 11, LogQ: []int{50}, LogP: []int{50}, PlaintextModulus: 65537},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := NewParams(lit); !errors.Is(err, ErrInsecure) {
				t.Fatalf("got %v, want ErrInsecure", err)
			}
		})
	}
}

// TestCollectiveKey: what any member encrypts under the collective key
// decrypts with the sum of the members' secret keys, which nobody holds.
func TestCollectiveKey(t *testing.T) {
	for _, n := range []int{1, 3, 5} {
		t.Run(fmt.Sprintf("n=%d", n), func(t *testing.T) {
			e := newEpoch(t, TestInsecureParams(), n, 0)
			values := []uint64{0, 1, 42, 1 << 32, 0x200080000}
			ideal := make([]*rlwe.SecretKey, n)
			for i, sk := range e.sks {
				ideal[i] = sk.sk
			}
			if got := e.decryptWith(t, e.sumKeys(ideal), e.encrypt(t, values), len(values)); !slices.Equal(got, values) {
				t.Fatalf("decrypted %v, want %v", got, values)
			}
			if n > 1 {
				// One member's key alone decrypts noise.
				if got := e.decryptWith(t, e.sks[0].sk, e.encrypt(t, values), len(values)); slices.Equal(got, values) {
					t.Fatal("one member's secret key decrypted the collective ciphertext")
				}
			}
		})
	}
}

// TestThreshold: any t members' threshold keys, combined with Lagrange
// coefficients for that active set, rebuild the ideal secret key; t-1 do
// not.
func TestThreshold(t *testing.T) {
	const n, threshold = 5, 3
	e := newEpoch(t, TestInsecureParams(), n, threshold)
	values := []uint64{7, 11, 13}
	ct := e.encrypt(t, values)
	points := make([]mhe.ShamirPublicPoint, n)
	for i := range n {
		points[i] = ShamirPoint(i)
	}
	additive := func(active []int) *rlwe.SecretKey {
		act := make([]mhe.ShamirPublicPoint, len(active))
		for i, a := range active {
			act[i] = points[a]
		}
		var parts []*rlwe.SecretKey
		for _, a := range active {
			cmb := mhe.NewCombiner(*e.p.GetRLWEParameters(), points[a], points, threshold)
			sk := rlwe.NewSecretKey(e.p.Parameters)
			if err := cmb.GenAdditiveShare(act, points[a], e.tkeys[a].share, sk); err != nil {
				t.Fatal(err)
			}
			parts = append(parts, sk)
		}
		return e.sumKeys(parts)
	}
	for _, active := range [][]int{{0, 1, 2}, {1, 3, 4}, {4, 2, 0}} {
		if got := e.decryptWith(t, additive(active), ct, len(values)); !slices.Equal(got, values) {
			t.Fatalf("members %v decrypted %v, want %v", active, got, values)
		}
	}
	// t-1 members: GenAdditiveShare refuses.
	cmb := mhe.NewCombiner(*e.p.GetRLWEParameters(), points[0], points, threshold)
	if err := cmb.GenAdditiveShare(points[:threshold-1], points[0], e.tkeys[0].share, rlwe.NewSecretKey(e.p.Parameters)); err == nil {
		t.Fatal("t-1 members made an additive share")
	}
}

func TestSecretsRoundTrip(t *testing.T) {
	e := newEpoch(t, TestInsecureParams(), 2, 2)
	b, err := e.sks[0].MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	sk, err := UnmarshalSecretKey(e.p, b)
	if err != nil || !sk.sk.Equal(e.sks[0].sk) {
		t.Fatalf("secret key does not round-trip: %v", err)
	}
	b, err = e.tkeys[1].MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if len(b) != DealtShareSize(e.p) {
		t.Fatalf("threshold key is %d bytes, DealtShareSize says %d", len(b), DealtShareSize(e.p))
	}
	tk, err := UnmarshalThresholdKey(e.p, b)
	if err != nil || !tk.share.Equal(&e.tkeys[1].share.Poly) {
		t.Fatalf("threshold key does not round-trip: %v", err)
	}
}

// TestBadSharesRefused: a share from another member that is cut, padded
// or out of range is refused with ErrBadShare, never a panic.
func TestBadSharesRefused(t *testing.T) {
	p := TestInsecureParams()
	seed := make([]byte, SeedSize)
	sk, _ := NewSecretKey(p)
	good, err := PublicKeyShare(p, sk, seed)
	if err != nil {
		t.Fatal(err)
	}
	unreduced := slices.Clone(good)
	for i := len(unreduced) - 64; i < len(unreduced); i++ {
		unreduced[i] = 0xff
	}
	forged := slices.Clone(good)
	forged[8] ^= 0x40 // a header field (a length), not a coefficient
	for name, b := range map[string][]byte{
		"forged header": forged,
		"empty":         nil,
		"cut":           good[:len(good)-1],
		"padded":        append(slices.Clone(good), 0),
		"unreduced":     unreduced,
		"garbage":       make([]byte, len(good)),
	} {
		t.Run(name, func(t *testing.T) {
			_, err := CollectivePublicKey(p, seed, [][]byte{good, b})
			if name == "garbage" && err == nil {
				return // all zeros is a valid (if useless) polynomial
			}
			if !errors.Is(err, ErrBadShare) {
				t.Fatalf("got %v, want ErrBadShare", err)
			}
		})
	}
	if _, err := CollectivePublicKey(p, []byte("short"), [][]byte{good}); err == nil {
		t.Fatal("a short seed was accepted")
	}
}

func FuzzCollectivePublicKey(f *testing.F) {
	p := TestInsecureParams()
	seed := make([]byte, SeedSize)
	sk, _ := NewSecretKey(p)
	good, _ := PublicKeyShare(p, sk, seed)
	f.Add(good)
	f.Add(good[:100])
	f.Fuzz(func(t *testing.T, b []byte) {
		if _, err := CollectivePublicKey(p, seed, [][]byte{b}); err != nil && !errors.Is(err, ErrBadShare) {
			t.Fatalf("error %v is not ErrBadShare", err)
		}
	})
}

func TestParamsName(t *testing.T) {
	if got := DefaultParams().Name(); got != "bgv/logn=13/q=60,60/p=61/t=0x200080001" {
		t.Fatalf("name %q", got)
	}
}

// TestInsecureParamsStayInTests: the fast test parameters cannot be
// built through NewParams, say what they are, and are named so that no
// node's key epoch (DefaultParams) matches them.
func TestInsecureParamsStayInTests(t *testing.T) {
	p := TestInsecureParams()
	if !p.Insecure() || DefaultParams().Insecure() {
		t.Fatalf("Insecure: test %v, default %v", p.Insecure(), DefaultParams().Insecure())
	}
	if _, err := NewParams(insecureTestLiteral); !errors.Is(err, ErrInsecure) {
		t.Fatalf("NewParams(the insecure literal) = %v, want ErrInsecure", err)
	}
	if got := p.Name(); got != "insecure-test/bgv/logn=11/q=60,61/p=60/t=0x200080001" {
		t.Fatalf("name %q", got)
	}
	if p.Slots() != 2048 || p.PlaintextModulus() != DefaultParams().PlaintextModulus() {
		t.Fatalf("slots %d, T %#x", p.Slots(), p.PlaintextModulus())
	}
}

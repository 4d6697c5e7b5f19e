package privacy

import (
	"errors"
	"testing"
)

// TestFingerprintOfASum: the fingerprint of the inputs' sum is the sum of
// their fingerprints; a sum missing one input, a sum with one input
// counted twice, or one input alone passed off as the sum is refused; and
// the same holds for decryption shares.
func TestFingerprintOfASum(t *testing.T) {
	e := newEpoch(t, TestInsecureParams(), 3, 2)
	var inputs []Ciphertexts
	for m := range 3 {
		v, err := Encrypt(e.p, e.pk, []int64{int64(m), 5, -7})
		if err != nil {
			t.Fatal(err)
		}
		inputs = append(inputs, v)
	}
	sum, err := Aggregate(e.p, inputs)
	if err != nil {
		t.Fatal(err)
	}
	seed := []byte("round r/1, inputs, digest of the sum")
	fp := func(v Ciphertexts) Fingerprint {
		f, err := FingerprintCiphertexts(e.p, v, seed)
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	parts := []Fingerprint{fp(inputs[0]), fp(inputs[1]), fp(inputs[2])}
	if err := CheckSum(e.p, fp(sum), parts); err != nil {
		t.Fatalf("the true sum: %v", err)
	}
	partial, _ := Aggregate(e.p, inputs[:2])
	twice, _ := Aggregate(e.p, []Ciphertexts{inputs[0], inputs[0], inputs[2]})
	for name, forged := range map[string]Ciphertexts{"one input missing": partial, "one input twice": twice, "one input alone": inputs[1]} {
		if err := CheckSum(e.p, fp(forged), parts); !errors.Is(err, ErrFingerprint) {
			t.Errorf("%s: got %v, want ErrFingerprint", name, err)
		}
	}
	// Another seed gives other fingerprints.
	other, _ := FingerprintCiphertexts(e.p, sum, []byte("another sum"))
	if err := CheckSum(e.p, other, parts); !errors.Is(err, ErrFingerprint) {
		t.Errorf("fingerprints under two seeds: got %v, want ErrFingerprint", err)
	}

	// Shares: the sum of shares opens as the shares do, and its
	// fingerprint is theirs summed.
	active := []int{0, 2}
	var shares []Ciphertexts
	var sharePrints []Fingerprint
	for _, a := range active {
		d, err := NewDecryptor(e.p, e.tkeys[a], a, 3, 2, active)
		if err != nil {
			t.Fatal(err)
		}
		s, err := d.Share(sum)
		if err != nil {
			t.Fatal(err)
		}
		f, err := FingerprintShares(e.p, s, seed)
		if err != nil {
			t.Fatal(err)
		}
		shares, sharePrints = append(shares, s), append(sharePrints, f)
	}
	h, err := SumShares(e.p, shares)
	if err != nil {
		t.Fatal(err)
	}
	hf, err := FingerprintShares(e.p, h, seed)
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckSum(e.p, hf, sharePrints); err != nil {
		t.Fatalf("the sum of the shares: %v", err)
	}
	if err := CheckSum(e.p, sharePrints[0], sharePrints); !errors.Is(err, ErrFingerprint) {
		t.Errorf("one share passed off as the sum: got %v, want ErrFingerprint", err)
	}
	got, err := Open(e.p, sum, []Ciphertexts{h}, 3)
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []int64{0 + 1 + 2, 15, -21} {
		if got[i].Int64() != want {
			t.Errorf("component %d opened from the shares' sum: %v, want %d", i, got[i], want)
		}
	}
	if err := CheckSum(e.p, hf, []Fingerprint{sharePrints[0], hf[:1]}); !errors.Is(err, ErrFingerprint) {
		t.Errorf("a short part: got %v, want ErrFingerprint", err)
	}
}

func BenchmarkFingerprint(b *testing.B) {
	e := newEpoch(b, DefaultParams(), 1, 1)
	v, _ := Encrypt(e.p, e.pk, []int64{1})
	for b.Loop() {
		if _, err := FingerprintCiphertexts(e.p, v, []byte("seed")); err != nil {
			b.Fatal(err)
		}
	}
}

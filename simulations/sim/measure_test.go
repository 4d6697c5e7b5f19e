package sim

import "testing"

// TestCryptoFloor: the floor of a 768-cell NPS round among three members
// opens every component, and its sizes are the encoding's: one
// ciphertext of counts and feeds (1,536 components), two of padded
// components (2,304), 2,048 components to a ciphertext.
func TestCryptoFloor(t *testing.T) {
	f, err := CryptoFloor(3, 2, 768)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("floor %.1f ms, input %d B in %d ciphertexts, shares %d B", f.Seconds*1000, f.InputBytes, f.Ciphertexts, f.ShareBytes)
	if f.Ciphertexts != 3 || f.InputBytes < 3*200_000 || f.ShareBytes < 3*100_000 || f.Seconds <= 0 {
		t.Fatalf("floor %+v", f)
	}
	if rss, err := PeakRSS(); err != nil || rss <= 0 {
		t.Fatalf("peak RSS %d %v", rss, err)
	}
}

package sim

import (
	"slices"
	"strings"
	"testing"
)

// TestCryptoFloor: the floor of a 768-cell NPS round among three members
// opens every component, and its sizes are the encoding's: one vector of
// counts and feeds (1,536 components) then padded components (2,304), in
// two ciphertexts of 2,048 components.
func TestCryptoFloor(t *testing.T) {
	f, err := CryptoFloor(3, 2, 768)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("floor %v, input %d B in %d ciphertexts, shares %d B", f.Round, f.InputBytes, f.Ciphertexts, f.ShareBytes)
	if f.Ciphertexts != 2 || f.InputBytes < 2*200_000 || f.ShareBytes < 2*100_000 || f.Round <= 0 {
		t.Fatalf("floor %+v", f)
	}
	if rss, err := PeakRSS(); err != nil || rss <= 0 {
		t.Fatalf("peak RSS %d %v", rss, err)
	}
}

// TestEnv: a failure ends the simulation's goroutine, the cleanups still
// run (a panicking one included) newest first, and Run returns both.
func TestEnv(t *testing.T) {
	e, err := NewEnv(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	var order []int
	reached := false
	err = e.Run(func(e *Env) {
		e.Cleanup(func() { order = append(order, 1) })
		e.Cleanup(func() { panic("node did not stop") })
		e.Cleanup(func() { order = append(order, 3) })
		_ = e.TempDir()
		e.Fatalf("round failed: %s", "timeout")
		reached = true
	})
	if reached || err == nil || !strings.Contains(err.Error(), "round failed: timeout") || !strings.Contains(err.Error(), "node did not stop") {
		t.Fatalf("reached %v, err %v", reached, err)
	}
	if !slices.Equal(order, []int{3, 1}) {
		t.Fatalf("cleanups ran %v, want [3 1]", order)
	}
}

package privacytest

import (
	"testing"

	"github.com/cxnet/cxnet/privacy"
)

// TestRoundFloor: the floor of a round opens the members' sum, and its
// sizes are those of one input and one share.
func TestRoundFloor(t *testing.T) {
	p := privacy.TestInsecureParams()
	f, err := RoundFloor(p, 2, 4, 3, p.ComponentsPerCiphertext()+1)
	if err != nil {
		t.Fatal(err)
	}
	if f.Ciphertexts != 2 || f.InputBytes <= f.ShareBytes || f.Round <= 0 || f.Encrypt+f.Sum+f.Share+f.Open > f.Round {
		t.Fatalf("floor %+v", f)
	}
	if got, want := f.PerParticipant(4, 3), float64(f.InputBytes)+0.75*float64(f.ShareBytes); got != want {
		t.Fatalf("per participant %v, want %v", got, want)
	}
}

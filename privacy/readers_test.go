package privacy

import (
	"bytes"
	"testing"
)

// TestSealedToReaders: what is sealed to a reader opens with its key and
// the same info only; another reader's key, another info or a changed
// byte do not open it.
func TestSealedToReaders(t *testing.T) {
	a, err := NewReaderKey()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := NewReaderKey()
	if err := CheckReaderPublicKey(a.Public()); err != nil {
		t.Fatal(err)
	}
	if err := CheckReaderPublicKey([]byte("not a key")); err == nil {
		t.Fatal("a junk public key accepted")
	}
	ct, err := SealTo(a.Public(), []byte("round 1 from hosp-a"), []byte("pads"))
	if err != nil {
		t.Fatal(err)
	}
	if pt, err := a.Open([]byte("round 1 from hosp-a"), ct); err != nil || !bytes.Equal(pt, []byte("pads")) {
		t.Fatalf("open: %q %v", pt, err)
	}
	enc, _ := a.MarshalBinary()
	again, err := UnmarshalReaderKey(enc)
	if err != nil || !bytes.Equal(again.Public(), a.Public()) {
		t.Fatalf("round trip of the key: %v", err)
	}
	tampered := bytes.Clone(ct)
	tampered[len(tampered)-1] ^= 1
	for name, open := range map[string]func() ([]byte, error){
		"another reader": func() ([]byte, error) { return b.Open([]byte("round 1 from hosp-a"), ct) },
		"another info":   func() ([]byte, error) { return a.Open([]byte("round 2 from hosp-a"), ct) },
		"a changed byte": func() ([]byte, error) { return a.Open([]byte("round 1 from hosp-a"), tampered) },
	} {
		if pt, err := open(); err == nil {
			t.Errorf("%s opened it: %q", name, pt)
		}
	}
}

package store

import (
	"errors"
	"testing"
)

func TestSecrets(t *testing.T) {
	db := openMem(t)
	if _, err := db.Secret(1, "sk"); !errors.Is(err, ErrNoSecret) {
		t.Fatalf("missing secret: %v", err)
	}
	for e := uint64(1); e <= 3; e++ {
		if err := db.PutSecret(e, "sk", []byte{byte(e)}); err != nil {
			t.Fatal(err)
		}
		if err := db.PutSecret(e, "dealt/hosp-a", []byte{byte(e), 1}); err != nil {
			t.Fatal(err)
		}
	}
	if v, err := db.Secret(2, "dealt/hosp-a"); err != nil || string(v) != "\x02\x01" {
		t.Fatalf("secret %q %v", v, err)
	}
	if err := db.DeleteSecrets(3); err != nil {
		t.Fatal(err)
	}
	for e, want := range map[uint64]bool{1: false, 2: false, 3: true} {
		_, err := db.Secret(e, "sk")
		if (err == nil) != want {
			t.Errorf("epoch %d after DeleteSecrets(3): %v", e, err)
		}
	}
	if err := db.PutSecret(1, "", nil); err == nil {
		t.Fatal("a secret without a name was stored")
	}
}

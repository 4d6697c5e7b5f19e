package store

import (
	"errors"
	"slices"
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
	if err := db.DeleteEpochsBefore(3); err != nil {
		t.Fatal(err)
	}
	for e, want := range map[uint64]bool{1: false, 2: false, 3: true} {
		_, err := db.Secret(e, "sk")
		if (err == nil) != want {
			t.Errorf("epoch %d after DeleteEpochsBefore(3): %v", e, err)
		}
	}
	for _, name := range []string{"round/a/1/input", "round/a/1/share/1", "round/b/7/input", "roundabout"} {
		if err := db.PutSecret(3, name, []byte(name)); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := db.SecretNames(3, "round/"); err != nil || !slices.Equal(got, []string{"round/a/1/input", "round/a/1/share/1", "round/b/7/input"}) {
		t.Fatalf("SecretNames: %q %v", got, err)
	}
	if got, _ := db.SecretNames(2, "round/"); len(got) != 0 {
		t.Fatalf("SecretNames of another epoch: %q", got)
	}
	if err := db.DeleteNamedSecrets(3, "round/a/1/input", "round/a/1/share/1", "never-stored"); err != nil {
		t.Fatal(err)
	}
	if got, _ := db.SecretNames(3, ""); !slices.Equal(got, []string{"dealt/hosp-a", "round/b/7/input", "roundabout", "sk"}) {
		t.Fatalf("after DeleteNamedSecrets: %q", got)
	}
	if err := db.PutSecret(1, "", nil); err == nil {
		t.Fatal("a secret without a name was stored")
	}
}

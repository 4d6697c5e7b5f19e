package kpi

import (
	"crypto/ed25519"
	"errors"
	"testing"
)

func TestMemberSignVerify(t *testing.T) {
	_, priv, _ := ed25519.GenerateKey(nil)
	m := Member{Org: "hosp-a", Name: "St. Mary", Kind: "hospital", PeerID: "12D3KooW", Addrs: []string{"/ip4/127.0.0.1/tcp/7001"}}
	m.Sign(priv)
	if err := m.Verify(); err != nil {
		t.Fatal(err)
	}
	edited := m
	edited.Addrs = []string{"/ip4/6.6.6.6/tcp/1"}
	if err := edited.Verify(); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("edited descriptor: %v", err)
	}
	_, other, _ := ed25519.GenerateKey(nil)
	forged := m
	forged.Sign(other)
	forged.GovernanceKey = m.GovernanceKey
	if err := forged.Verify(); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("descriptor signed by another key: %v", err)
	}
}

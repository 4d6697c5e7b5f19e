package contracts

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"strings"
	"testing"
)

func pkcs8PEM(t *testing.T, key any) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

func TestSignContractApproval(t *testing.T) {
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	approval := ContractApprove{ID: "nps-diabetes", Version: 2, Hash: "sha256:" + strings.Repeat("ab", 32)}
	tests := []struct {
		name string
		pem  []byte
		err  string // "" when it signs
	}{
		{"the member's key", pkcs8PEM(t, orgA.key), ""},
		{"not PEM", []byte("ed25519 key, honest"), "governance key: not a PEM PRIVATE KEY"},
		{"another PEM block", pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: []byte{1}}), "not a PEM PRIVATE KEY"},
		{"broken PKCS#8", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte{1, 2, 3}}), "not a PKCS#8 private key"},
		{"an ECDSA key", pkcs8PEM(t, ec), "a governance key is Ed25519"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw, err := SignContractApproval(tt.pem, orgA.id, goldenConsortium, approval)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want %q", err, tt.err)
				}
				if strings.Contains(err.Error(), "--") {
					t.Fatalf("err = %q names a command-line flag; the CLI adds its own context", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			e, err := DecodeEntry(raw)
			if err != nil {
				t.Fatal(err)
			}
			got, ok := e.Value.(*ContractApprove)
			if e.Type != EntryContractApprove || e.Org != orgA.id || !ok || got.ID != approval.ID || got.Version != 2 || got.Hash != approval.Hash {
				t.Fatalf("signed %+v: %+v", e, e.Value)
			}
			if !ed25519.Verify(orgA.key.Public().(ed25519.PublicKey), SigningBytes(e.Type, goldenConsortium, e.Body), e.Sig) {
				t.Fatal("the approval is not signed by the key given")
			}
		})
	}
}

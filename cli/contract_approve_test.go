package cli

import (
	"crypto/ed25519"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cxnet/cxnet/contracts"
)

// TestContractApproveWithKey: --key signs the approval here, with the
// board member's key, and sends only the signed entry; a bad key file is
// named with the flag.
func TestContractApproveWithKey(t *testing.T) {
	f := newFakeNode(t, map[string]string{
		"GET /v1/status":                 `{"org":"hosp-a","consortium_id":"3f2c","ready":true}`,
		"GET /v1/contracts/nps-diabetes": contractInfoJSON,
		"POST /v1/contracts/approve":     contractInfoJSON,
	})
	_, priv, _ := ed25519.GenerateKey(nil)
	der, _ := x509.MarshalPKCS8PrivateKey(priv)
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "board.key")
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600)
	if _, errOut, code := f.run("contract", "approve", "nps-diabetes", "--key", keyFile); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	sent := f.requests[len(f.requests)-1]
	_, body, _ := strings.Cut(sent, "approve ")
	var req struct{ Entry []byte }
	if err := json.Unmarshal([]byte(body), &req); err != nil {
		t.Fatalf("approve sent %q: %v", sent, err)
	}
	e, err := contracts.DecodeEntry(req.Entry)
	if err != nil || e.Type != contracts.EntryContractApprove || e.Org != "hosp-a" {
		t.Fatalf("approve sent entry %+v, %v", e, err)
	}
	if !ed25519.Verify(priv.Public().(ed25519.PublicKey), contracts.SigningBytes(e.Type, "3f2c", e.Body), e.Sig) {
		t.Fatal("the entry is not signed with the key file")
	}
	bad := filepath.Join(dir, "bad.key")
	os.WriteFile(bad, []byte("not a key"), 0o600)
	_, errOut, code := f.run("contract", "approve", "nps-diabetes", "--key", bad)
	if code != 1 || !strings.Contains(errOut, "--key "+bad+": governance key: not a PEM PRIVATE KEY") {
		t.Fatalf("bad key: exit %d, %q", code, errOut)
	}
}

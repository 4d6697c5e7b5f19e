package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestInitAndVersion(t *testing.T) {
	home := filepath.Join(t.TempDir(), "node")
	out, errOut, code := runCLI(home, "init", "--org", "hosp-a", "--kind", "hospital", "--json")
	if code != 0 {
		t.Fatalf("init: exit %d: %s", code, errOut)
	}
	var got map[string]string
	if err := json.Unmarshal([]byte(out), &got); err != nil || got["org"] != "hosp-a" || !strings.HasPrefix(got["peer_id"], "12D3KooW") {
		t.Fatalf("init --json = %q (%v)", out, err)
	}
	if fi, err := os.Stat(filepath.Join(home, "keys", "governance.key")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("governance key: %v %v", fi, err)
	}
	if _, errOut, code := runCLI(home, "init", "--org", "hosp-b"); code != 1 || !strings.Contains(errOut, "already a cxnet home") {
		t.Fatalf("second init: exit %d, %q", code, errOut)
	}
	if _, errOut, code := runCLI(t.TempDir()+"/x", "init", "--org", "Not Valid"); code != 1 || !strings.Contains(errOut, "organisation id") {
		t.Fatalf("bad org: exit %d, %q", code, errOut)
	}
	out, _, code = runCLI(home, "version", "--json")
	if code != 0 || !strings.Contains(out, `"version"`) {
		t.Fatalf("version: exit %d, %q", code, out)
	}
}

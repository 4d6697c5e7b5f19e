package protocol

import (
	"os/exec"
	"strings"
	"testing"
)

// TestImports keeps protocol a part of its own: of cxnet's packages it
// may depend only on kpi and its own sub-packages; everything else it
// needs comes from the standard library, go-libp2p and hashicorp/raft.
func TestImports(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go command not found")
	}
	out, err := exec.Command(goTool, "list", "-deps", "-f", "{{.ImportPath}}", "./...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	const mod = "github.com/cxnet/cxnet/"
	for _, pkg := range strings.Fields(string(out)) {
		if !strings.HasPrefix(pkg, mod) {
			continue
		}
		if pkg != mod+"kpi" && pkg != mod+"protocol" && !strings.HasPrefix(pkg, mod+"protocol/") {
			t.Errorf("protocol depends on %s; it may import only kpi of cxnet's packages (store, contracts, privacy, ingest, node and cli are wired by node)", pkg)
		}
	}
}

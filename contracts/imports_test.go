package contracts

import (
	"os/exec"
	"strings"
	"testing"
)

// TestImports keeps contracts a leaf of the architecture: the standard
// library, gopkg.in/yaml.v3, kpi, and hashicorp/raft with what it imports
// (for the FSM adapter) only. store, protocol, privacy, ingest and node
// depend on contracts, never the other way round.
func TestImports(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go command not found")
	}
	out, err := exec.Command(goTool, "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	allowed := map[string]bool{
		"github.com/cxnet/cxnet/contracts": true,
		"github.com/cxnet/cxnet/kpi":       true,
		"gopkg.in/yaml.v3":                 true,
	}
	raftDeps, err := exec.Command(goTool, "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", "github.com/hashicorp/raft").Output()
	if err != nil {
		t.Fatalf("go list raft: %v", err)
	}
	for _, pkg := range strings.Fields(string(raftDeps)) {
		if !strings.HasPrefix(pkg, "github.com/cxnet/") {
			allowed[pkg] = true
		}
	}
	for _, pkg := range strings.Fields(string(out)) {
		if !allowed[pkg] {
			t.Errorf("contracts depends on %s; it may import only the standard library, gopkg.in/yaml.v3, hashicorp/raft and kpi", pkg)
		}
	}
}

package ingest

import (
	"os/exec"
	"strings"
	"testing"
)

// TestImports keeps ingest a leaf: the standard library, yaml.v3 and kpi,
// never store, contracts, privacy, protocol or node.
func TestImports(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", ".").Output()
	if err != nil {
		t.Skipf("go list: %v", err)
	}
	allowed := map[string]bool{
		"github.com/cxnet/cxnet/ingest": true,
		"github.com/cxnet/cxnet/kpi":    true,
		"gopkg.in/yaml.v3":              true,
	}
	for _, p := range strings.Fields(string(out)) {
		if !allowed[p] {
			t.Errorf("ingest depends on %s; it may import only the standard library, gopkg.in/yaml.v3 and kpi", p)
		}
	}
}

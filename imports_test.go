package main

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
)

// TestImportRule enforces the dependency rule of STYLE.md: protocol,
// contracts, privacy, store and ingest never import one another; kpi and
// node/client stay leaves; cli reaches the node only through its API client
// (and node itself for init, run and demo, the demo's data from
// simulations/journey, and contracts to sign an approval offline);
// simulations import nothing of cxnet but the
// simulation runner (simulations/sim), which nothing else imports; the
// wire-protocol packages under protocol stay on go-libp2p and their own
// framing; node's sub-packages (api, keymgr, rounds, home, ui) import no
// other of node's but the API client.
func TestImportRule(t *testing.T) {
	const mod = "github.com/cxnet/cxnet"
	out, err := exec.Command("go", "list", "-json", "./...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	type pkg struct {
		ImportPath string
		Imports    []string
		Deps       []string
	}
	parts := []string{"protocol", "contracts", "privacy", "store", "ingest"}
	// The third-party modules each leaf may import directly: everything
	// else must come through node, which wires the parts.
	thirdParty := map[string][]string{
		"kpi":       nil,
		"ingest":    {"gopkg.in/yaml.v3"},
		"contracts": {"gopkg.in/yaml.v3", "github.com/hashicorp/raft"},
		"store":     {"github.com/dgraph-io/badger/v4", "github.com/hashicorp/raft"},
		"privacy":   {"github.com/tuneinsight/lattigo/v5"},
		"protocol":  {"github.com/libp2p/go-libp2p", "github.com/multiformats/", "github.com/hashicorp/raft", "github.com/hashicorp/go-hclog", "github.com/fxamacker/cbor/v2"},
	}
	// Wire-protocol sub-packages are narrower than protocol itself: their
	// own framing and messages over go-libp2p, nothing of raft or the
	// rest of cxnet. Keyed by path below the module.
	wire := map[string]struct{ cxnet, thirdParty []string }{
		"protocol/rpc":   {nil, []string{"github.com/libp2p/go-libp2p"}},
		"protocol/keys":  {[]string{"kpi", "protocol/rpc"}, []string{"github.com/libp2p/go-libp2p"}},
		"protocol/round": {[]string{"kpi", "protocol/rpc"}, []string{"github.com/libp2p/go-libp2p", "github.com/fxamacker/cbor/v2"}},
		"protocol/gov":   {[]string{"protocol/rpc"}, []string{"github.com/libp2p/go-libp2p"}},
		"protocol/join":  {[]string{"kpi", "protocol/rpc"}, []string{"github.com/libp2p/go-libp2p"}},
	}
	// node's own sub-packages are parts of the wiring with one job each:
	// none imports node (a cycle) or another of them, but the API client's
	// types, and the API the dashboard it serves.
	nodeParts := map[string][]string{
		"node/api":    {"node/client", "node/ui"},
		"node/keymgr": {"node/client"},
		"node/rounds": {"node/client"},
		"node/home":   {"node/client"},
		"node/ui":     {"node/client"},
	}
	top := func(path string) string {
		rest := strings.TrimPrefix(strings.TrimPrefix(path, mod), "/")
		return strings.SplitN(rest, "/", 2)[0]
	}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	seen := 0
	for dec.More() {
		var p pkg
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		seen++
		self := top(p.ImportPath)
		for _, dep := range p.Deps {
			if !strings.HasPrefix(dep, mod+"/") {
				continue
			}
			d := top(dep)
			switch {
			case contains(parts, self) && contains(parts, d) && d != self:
				t.Errorf("%s depends on %s: %s and %s must not import one another (share types through kpi)", p.ImportPath, dep, self, d)
			case contains(parts, self) && (d == "node" || d == "cli"):
				t.Errorf("%s depends on %s: parts must not import the wiring", p.ImportPath, dep)
			case self == "kpi" && d != "kpi":
				t.Errorf("kpi is a leaf but depends on %s", dep)
			case p.ImportPath == mod+"/node/client" && dep != mod+"/kpi":
				t.Errorf("node/client must import only kpi, not %s", dep)
			}
		}
		if allowed, leaf := thirdParty[self]; leaf {
			for _, imp := range p.Imports {
				if strings.HasPrefix(imp, mod+"/") || !strings.Contains(strings.SplitN(imp, "/", 2)[0], ".") {
					continue // cxnet (checked above) or the standard library
				}
				ok := false
				for _, a := range allowed {
					ok = ok || strings.HasPrefix(imp, a)
				}
				if !ok {
					t.Errorf("%s imports %s; %s may import only %v of the third-party modules", p.ImportPath, imp, self, allowed)
				}
			}
		}
		if w, ok := wire[strings.TrimPrefix(p.ImportPath, mod+"/")]; ok {
			for _, imp := range p.Imports {
				rel, own := strings.CutPrefix(imp, mod+"/")
				switch {
				case own && !contains(w.cxnet, rel):
					t.Errorf("%s imports %s; a wire protocol package may import only %v of cxnet", p.ImportPath, imp, w.cxnet)
				case !own && strings.Contains(strings.SplitN(imp, "/", 2)[0], "."):
					ok := false
					for _, a := range w.thirdParty {
						ok = ok || strings.HasPrefix(imp, a)
					}
					if !ok {
						t.Errorf("%s imports %s; a wire protocol package may import only %v of the third-party modules", p.ImportPath, imp, w.thirdParty)
					}
				}
			}
		}
		if allowed, ok := nodeParts[strings.TrimPrefix(p.ImportPath, mod+"/")]; ok {
			for _, imp := range p.Imports {
				rel, own := strings.CutPrefix(imp, mod+"/")
				if own && top(imp) == "node" && !contains(allowed, rel) {
					t.Errorf("%s imports %s; of node's packages it may import only %v", p.ImportPath, imp, allowed)
				}
			}
		}
		// The demo's data (simulations/journey, for `cxnet demo`) is
		// plain data and arithmetic: nothing of cxnet. The simulation
		// runner (simulations/sim and its command) runs whole nodes, and
		// nothing outside simulations depends on it.
		runner := p.ImportPath == mod+"/simulations/sim" || p.ImportPath == mod+"/simulations/cmd/sim"
		if self != "simulations" {
			for _, dep := range p.Deps {
				if dep == mod+"/simulations/sim" {
					t.Errorf("%s depends on %s: the simulation runner is tooling, nothing of cxnet may import it", p.ImportPath, dep)
				}
			}
		}
		if self == "simulations" && !runner {
			for _, dep := range p.Deps {
				if strings.HasPrefix(dep, mod+"/") && top(dep) != "simulations" {
					t.Errorf("%s depends on %s: simulations import nothing of cxnet (their tests may)", p.ImportPath, dep)
				}
			}
		}
		if self == "cli" {
			for _, imp := range p.Imports {
				// contracts only to sign an approval with a board member's
				// own key, which never reaches the daemon.
				if strings.HasPrefix(imp, mod+"/") && imp != mod+"/node" && imp != mod+"/node/client" && imp != mod+"/kpi" && imp != mod+"/contracts" && top(imp) != "cli" && imp != mod+"/simulations/journey" {
					t.Errorf("%s imports %s: cli talks to parts only through node and its API client (and contracts, to sign offline)", p.ImportPath, imp)
				}
			}
		}
	}
	if seen < 5 {
		t.Fatalf("go list saw only %d packages", seen)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

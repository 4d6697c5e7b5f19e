package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDemo runs the whole demo in this process on three organisations
// and checks its story: every step, the released cells equal to the
// pooled computation, the suppressed telehealth cell, and the homes kept
// in --dir with each node's log.
func TestDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three real nodes")
	}
	dir := filepath.Join(t.TempDir(), "demo")
	out, errs, code := runCLI(t.TempDir(), "demo", "--orgs", "3", "--records", "150", "--dir", dir)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errs)
	}
	for _, want := range []string{
		"== 1. 3 organisations each start a node",
		"pharm-east      admitted (proposed by hosp-north, approved by hosp-south) and joined",
		"key epoch 3 over 3 members, 2 needed to decrypt",
		"nps-by-setting v1: active on every node",
		"== 7. the released NPS, read on pharm-east beside its own value",
		"3 released cells equal the pooled computation; 1 cell(s) under the cohort floor of 11 were suppressed.",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	if t.Failed() {
		t.Log(out)
	}
	for _, org := range []string{"hosp-north", "hosp-south", "pharm-east"} {
		if _, err := os.Stat(filepath.Join(dir, org, "node.log")); err != nil {
			t.Errorf("%s: %v", org, err)
		}
	}
	// The same --dir again is refused: it holds a consortium.
	if _, errs, code := runCLI(t.TempDir(), "demo", "--orgs", "3", "--dir", dir); code != 1 || !strings.Contains(errs, "is not empty") {
		t.Fatalf("demo into a used --dir: exit %d: %s", code, errs)
	}
}

func TestDemoUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"demo", "--orgs", "2"},
		{"demo", "--orgs", "10"},
		{"demo", "--records", "99"},
	} {
		if _, errs, code := runCLI(t.TempDir(), args...); code != 2 || !strings.Contains(errs, "must be") {
			t.Errorf("%v: exit %d: %s", args, code, errs)
		}
	}
}

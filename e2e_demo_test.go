package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestE2EDemo runs `cxnet demo` as a user would: once to the end (its
// temporary homes are removed after), and once with --serve, where other
// cxnet commands read the running consortium's result until Ctrl-C. The
// demo checks every released cell against the pooled computation itself
// and exits non-zero when one differs.
func TestE2EDemo(t *testing.T) {
	bin := cxnetBin(t)
	if r := cx(t, t.TempDir(), "demo", "--orgs", "2"); r.code != 2 || !strings.Contains(r.stderr, "--orgs must be 3 to 9") {
		t.Fatalf("demo --orgs 2: %v", r)
	}

	out := cxOK(t, t.TempDir(), "demo", "--orgs", "3", "--records", "300")
	for _, want := range []string{"3 released cells equal the pooled computation", "1 cell(s) under the cohort floor of 11 were suppressed", "telehealth"} {
		if !strings.Contains(out, want) {
			t.Fatalf("demo output lacks %q:\n%s", want, out)
		}
	}
	dir := regexp.MustCompile(`homes in (\S+)\)`).FindStringSubmatch(out)
	if dir == nil {
		t.Fatalf("demo output names no homes:\n%s", out)
	}
	if _, err := os.Stat(dir[1]); !os.IsNotExist(err) {
		t.Fatalf("the demo's temporary homes %s are still there: %v", dir[1], err)
	}

	homes := filepath.Join(t.TempDir(), "demo")
	var logs syncBuffer
	cmd := exec.Command(bin, "demo", "--orgs", "3", "--records", "300", "--serve", "--dir", homes)
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() { cmd.Process.Kill() })
	deadline := time.Now().Add(2 * time.Minute)
	for !strings.Contains(logs.String(), "Ctrl-C stops every node") {
		if time.Now().After(deadline) {
			t.Fatalf("demo --serve did not finish its round within 2 minutes:\n%s", logs.String())
		}
		select {
		case err := <-done:
			t.Fatalf("demo --serve exited (%v):\n%s", err, logs.String())
		case <-time.After(100 * time.Millisecond):
		}
	}
	var res struct {
		Round        string   `json:"round"`
		Participants []string `json:"participants"`
		Cells        []struct {
			Group      map[string]string `json:"group"`
			Count      *int64            `json:"count"`
			Suppressed bool              `json:"suppressed"`
		} `json:"cells"`
	}
	cxJSON(t, filepath.Join(homes, "hosp-north"), &res, "results", "nps-by-setting")
	// 3 × 300 answers, one per organisation in telehealth (suppressed).
	var released int64
	for _, c := range res.Cells[:min(3, len(res.Cells))] {
		if c.Count != nil {
			released += *c.Count
		}
	}
	if len(res.Participants) != 3 || len(res.Cells) != 4 || !res.Cells[3].Suppressed || res.Cells[3].Count != nil || released != 897 {
		t.Fatalf("results read beside the running demo (%d answers released): %+v", released, res)
	}
	cmd.Process.Signal(syscall.SIGINT)
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("demo --serve after Ctrl-C: %v\n%s", err, logs.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("demo --serve did not stop within 30 s of Ctrl-C")
	}
	// Privacy: no subject in any node's log.
	for _, org := range []string{"hosp-north", "hosp-south", "pharm-east"} {
		b, err := os.ReadFile(filepath.Join(homes, org, "node.log"))
		if err != nil {
			t.Fatal(err)
		}
		if len(b) == 0 || strings.Contains(string(b), "patient-") {
			t.Fatalf("%s's node.log: %d bytes, holds a subject: %v", org, len(b), strings.Contains(string(b), "patient-"))
		}
	}
}

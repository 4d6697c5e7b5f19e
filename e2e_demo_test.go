package main

import (
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cxnet/cxnet/simulations/journey"
)

// TestE2EDemo runs `cxnet demo` as `make demo` does — five organisations,
// the CMS file included — and checks its exit code, the story it tells and
// that its temporary homes are gone; the demo checks every released cell
// against the pooled computation itself and exits 1 when one differs.
func TestE2EDemo(t *testing.T) {
	if r := cx(t, t.TempDir(), "demo", "--orgs", "4"); r.code != 2 || !strings.Contains(r.stderr, "--orgs must be 5") {
		t.Fatalf("demo --orgs 4: %v", r)
	}
	out := cxOK(t, t.TempDir(), "demo")
	for _, want := range []string{
		"hospital  North General Hospital", "hospital  South Valley Hospital", "pharma    Ridge Therapeutics patient-support programme",
		"pharmacy  East Pharmacy Group", "pharmacy  Bay Pharmacies",
		"journey-nps — Net Promoter Score along the journey, by care setting and quarter",
		"communication-topbox — Top-box communication",
		"adherence-pdc — Share of patients with PDC >= 0.8, by drug class",
		"wait-by-region — Mean minutes waited before being seen",
		"islands                suppressed (min_cohort)",
		"in 51 of 51 states the two hospitals' surveys add up to CMS's published number of completed surveys",
		"every released cell and every own value equals the pooled computation",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("demo output lacks %q", want)
		}
	}
	if strings.Contains(out, "DIFFERS") {
		t.Error("a released cell differs from the pooled computation")
	}
	if m := regexp.MustCompile(`whole demo: +([0-9.]+) s`).FindStringSubmatch(out); m == nil {
		t.Error("no time in the summary")
	} else if s, _ := strconv.ParseFloat(m[1], 64); s > 120 {
		t.Errorf("the demo took %.0f s, more than 2 minutes", s)
	}
	dir := regexp.MustCompile(`homes in (\S+)\)`).FindStringSubmatch(out)
	if dir == nil {
		t.Fatalf("demo output names no homes:\n%s", out)
	}
	if _, err := os.Stat(dir[1]); !os.IsNotExist(err) {
		t.Fatalf("the demo's temporary homes %s are still there: %v", dir[1], err)
	}
	if t.Failed() {
		t.Log(out)
	}
}

// TestE2EDemoServe runs `cxnet demo --serve` and uses the running
// consortium with other cxnet processes, as its closing lines suggest: the
// releases read there equal the pooled computation over the same seeded
// data (computed here, independently of the demo's own check), the
// adherence KPI opens only on its reader, another round releases the same
// cells, and Ctrl-C stops every node with no patient identifier in any
// node's log.
func TestE2EDemoServe(t *testing.T) {
	bin := cxnetBin(t)
	homes := filepath.Join(t.TempDir(), "demo")
	var logs syncBuffer
	cmd := exec.Command(bin, "demo", "--records", "300", "--cms=false", "--seed", "5", "--serve", "--dir", homes)
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
			t.Fatalf("demo --serve did not finish its rounds within 2 minutes:\n%s", logs.String())
		}
		select {
		case err := <-done:
			t.Fatalf("demo --serve exited (%v):\n%s", err, logs.String())
		case <-time.After(100 * time.Millisecond):
		}
	}
	for _, want := range []string{"results journey-nps", "results adherence-pdc", "round run journey-nps", "audit verify"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("demo --serve does not say how to run %q", want)
		}
	}

	data, err := journey.Generate(journey.Config{Responses: 300, Seed: 5})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range data.Contracts() {
		var res resultsJSON
		cxJSON(t, filepath.Join(homes, c.ReadOn), &res, "results", c.ID)
		checkPooled(t, c, res, data.Pooled(c, c.Participants...))
		if len(c.Readers) > 0 {
			r := cx(t, filepath.Join(homes, c.Participants[0]), "results", c.ID)
			if r.code != 1 || !strings.Contains(r.stderr, "403") && !strings.Contains(strings.ToLower(r.stderr), "reader") {
				t.Errorf("results %s on participant %s, not a reader: %v", c.ID, c.Participants[0], r)
			}
		}
	}
	// Another round over the same data releases the same cells: the same
	// inputs, no cell moved.
	c := data.Contracts()[3]
	var again resultsJSON
	cxJSON(t, filepath.Join(homes, c.RunBy), &again, "round", "run", c.ID)
	checkPooled(t, c, again, data.Pooled(c, c.Participants...))

	cmd.Process.Signal(syscall.SIGINT)
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("demo --serve after Ctrl-C: %v\n%s", err, logs.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("demo --serve did not stop within 30 s of Ctrl-C")
	}
	// Privacy: no patient identifier in any node's log.
	for _, o := range data.Orgs {
		b, err := os.ReadFile(filepath.Join(homes, o.ID, "node.log"))
		if err != nil {
			t.Fatal(err)
		}
		for _, subject := range []string{"Patient/", "PSP-"} {
			if len(b) == 0 || strings.Contains(string(b), subject) {
				t.Errorf("%s's node.log: %d bytes, holds a subject %q: %v", o.ID, len(b), subject, strings.Contains(string(b), subject))
			}
		}
	}
}

type resultsJSON struct {
	Round        string   `json:"round"`
	Participants []string `json:"participants"`
	Cells        []struct {
		Group      map[string]string `json:"group"`
		Count      *int64            `json:"count"`
		Value      *float64          `json:"value"`
		Suppressed bool              `json:"suppressed"`
		Reason     string            `json:"reason"`
	} `json:"cells"`
}

// checkPooled compares a release read through the CLI with the pooled
// computation: every cell over the floor equal (values to 6 significant
// digits), every cell under it suppressed.
func checkPooled(t *testing.T, c journey.Contract, res resultsJSON, pooled []journey.Cell) {
	t.Helper()
	if len(res.Cells) != len(pooled) || len(res.Participants) != len(c.Participants) {
		t.Fatalf("%s: %d cells over %v, want %d over %v", c.ID, len(res.Cells), res.Participants, len(pooled), c.Participants)
	}
	want := map[string]journey.Cell{}
	for _, p := range pooled {
		want[journey.Key(p.Group)] = p
	}
	for _, cell := range res.Cells {
		key := journey.Key(cell.Group)
		p, ok := want[key]
		switch {
		case !ok:
			t.Errorf("%s: released cell %s is not the contract's", c.ID, key)
		case p.Count < journey.MinCohort:
			if !cell.Suppressed || cell.Reason != "min_cohort" || cell.Count != nil {
				t.Errorf("%s %s: %d pooled records, under the floor, but released %+v", c.ID, key, p.Count, cell)
			}
		case cell.Suppressed || cell.Count == nil || cell.Value == nil:
			t.Errorf("%s %s: %d pooled records, but released %+v", c.ID, key, p.Count, cell)
		case *cell.Count != p.Count || math.Abs(*cell.Value-p.Value) > 5e-6*math.Abs(p.Value)+1e-12:
			t.Errorf("%s %s: released %d, %v; pooled %d, %v", c.ID, key, *cell.Count, *cell.Value, p.Count, p.Value)
		}
	}
}

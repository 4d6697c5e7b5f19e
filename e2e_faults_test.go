package main

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestE2ERoundAggregatorKilled: four real cxnet processes run a round,
// and its aggregator (also the raft leader) is SIGKILLed mid-round. Every
// other node records the round failed — its aggregator stopped answering
// — within the round timeout and a new leader's election; they all list
// the same; and a retry from another member releases exactly, over the
// three live members' inputs.
func TestE2ERoundAggregatorKilled(t *testing.T) {
	orgs := []string{"hosp-a", "hosp-b", "pharma-x", "pharm-y"}
	homes := map[string]string{}
	daemons := map[string]*daemon{}
	for _, o := range orgs {
		homes[o] = initNode(t, o)
		daemons[o] = startDaemonArgs(t, homes[o], "--raft-heartbeat", "300ms", "--round-timeout", "5s")
	}
	dir := t.TempDir()
	live := 0 // answers of the three that stay up
	for i, o := range orgs {
		rng := rand.New(rand.NewPCG(uint64(i), 7))
		var b strings.Builder
		b.WriteString("record_id,subject,measure,value,time,care_setting\n")
		for j := range 3000 {
			fmt.Fprintf(&b, "%s-r%d,s-%s-%d,nps,%d,2026-03-15,%s\n", o, j, o, j, rng.IntN(11), []string{"inpatient", "outpatient"}[j%2])
		}
		if o != "hosp-a" {
			live += 3000
		}
		path := filepath.Join(dir, o+".csv")
		os.WriteFile(path, []byte(b.String()), 0o644)
		cxOK(t, homes[o], "data", "import", path)
	}
	formConsortium(t, homes, orgs)
	contract := strings.NewReplacer("period: quarter\n", "", "approvals: all\n", "approvals: 1\nmin_participants: 3\n").Replace(e2eContract)
	cpath := filepath.Join(dir, "nps.yaml")
	os.WriteFile(cpath, []byte(contract), 0o644)
	cxOK(t, homes["hosp-a"], "contract", "propose", cpath)
	for _, o := range orgs {
		cxOK(t, homes[o], "status", "--wait", "10s")
	}
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(cxOK(t, homes["pharm-y"], "contract", "show", "nps-diabetes"), "active") {
		if time.Now().After(deadline) {
			t.Fatal("the contract is not active on pharm-y")
		}
		time.Sleep(100 * time.Millisecond)
	}

	// hosp-a runs a round; SIGKILL as soon as it has opened it.
	run := exec.Command(cxnetBin(t), "--home", homes["hosp-a"], "round", "run", "nps-diabetes")
	if err := run.Start(); err != nil {
		t.Fatal(err)
	}
	defer run.Process.Kill()
	deadline = time.Now().Add(30 * time.Second)
	for !strings.Contains(daemons["hosp-a"].logs.String(), "msg=\"round opened\"") {
		if time.Now().After(deadline) {
			t.Fatal("hosp-a opened no round")
		}
		time.Sleep(2 * time.Millisecond)
	}
	daemons["hosp-a"].stop(t, syscall.SIGKILL)
	killed := time.Now()

	type roundJSON struct {
		Round  string `json:"round"`
		State  string `json:"state"`
		Reason string `json:"reason"`
	}
	var rounds struct {
		Rounds []roundJSON `json:"rounds"`
	}
	var first roundJSON
	for first.State == "" || first.State == "open" || first.State == "sealed" {
		if time.Since(killed) > 30*time.Second {
			t.Fatalf("the round did not end within 30 s of its aggregator's death: %+v", rounds)
		}
		time.Sleep(200 * time.Millisecond)
		if r := cx(t, homes["hosp-b"], "round", "list", "nps-diabetes", "--json"); r.code == 0 {
			if err := json.Unmarshal([]byte(r.stdout), &rounds); err == nil && len(rounds.Rounds) > 0 {
				first = rounds.Rounds[0]
			}
		}
	}
	took := time.Since(killed)
	if first.State != "failed" || !strings.Contains(first.Reason, "aggregator hosp-a stopped answering") {
		t.Fatalf("round %+v, want failed: its aggregator stopped answering", first)
	}
	t.Logf("recorded failed %v after hosp-a was killed: %s", took.Round(100*time.Millisecond), first.Reason)
	for _, o := range orgs[1:] {
		var got struct {
			Rounds []roundJSON `json:"rounds"`
		}
		cxJSON(t, homes[o], &got, "round", "list", "nps-diabetes")
		if len(got.Rounds) != 1 || got.Rounds[0] != first {
			t.Fatalf("%s lists %+v, hosp-b %+v", o, got.Rounds, first)
		}
	}
	var res struct {
		Participants []string `json:"participants"`
		Cells        []struct {
			Count *int `json:"count"`
		} `json:"cells"`
	}
	cxJSON(t, homes["hosp-b"], &res, "round", "run", "nps-diabetes")
	total := 0
	for _, c := range res.Cells {
		if c.Count != nil {
			total += *c.Count
		}
	}
	if strings.Join(res.Participants, ",") != "hosp-b,pharm-y,pharma-x" || total != live {
		t.Fatalf("retry released %v over %d answers, want hosp-b, pharm-y, pharma-x's %d", res.Participants, total, live)
	}
}

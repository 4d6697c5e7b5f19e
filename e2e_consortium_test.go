package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// The consortium flow of the README, with real cxnet processes on
// loopback: four organisations form a consortium by majority admission and
// agree a contract; the raft leader is SIGKILLed and the others keep
// governing; the killed node restarts from disk and catches up; an
// outsider is refused.

const e2eContract = `id: nps-diabetes
version: 1
title: Net Promoter Score, diabetes journey
measure: nps
aggregate: nps
value_range: [0, 10]
group_by:
  care_setting: [inpatient, outpatient, pharmacy]
window: {from: 2026-01-01, to: 2026-12-31}
period: quarter
participants: [hosp-a, hosp-b, pharma-x, pharm-y]
approvals: all
privacy:
  min_cohort: 11
`

type statusJSON struct {
	Org        string `json:"org"`
	PeerID     string `json:"peer_id"`
	Consortium string `json:"consortium"`
	Members    int    `json:"members"`
	Raft       struct {
		State  string `json:"state"`
		Leader string `json:"leader"`
	} `json:"raft"`
	Keys *struct {
		Epoch        uint64   `json:"epoch"`
		Members      []string `json:"members"`
		Threshold    int      `json:"threshold"`
		PublicKey    string   `json:"public_key"`
		ThresholdKey bool     `json:"threshold_key"`
	} `json:"keys"`
}

type contractJSON struct {
	ID        string   `json:"id"`
	State     string   `json:"state"`
	Hash      string   `json:"hash"`
	Approvals []string `json:"approvals"`
}

func startNode(t *testing.T, org string) (string, *daemon) {
	home := initNode(t, org)
	return home, startDaemonArgs(t, home, "--raft-heartbeat", "300ms")
}

func TestE2EConsortium(t *testing.T) {
	orgs := []string{"hosp-a", "hosp-b", "pharma-x", "pharm-y"}
	homes := map[string]string{}
	daemons := map[string]*daemon{}
	for _, o := range orgs {
		homes[o], daemons[o] = startNode(t, o)
	}
	dir := t.TempDir()
	out := cxOK(t, homes["hosp-a"], "consortium", "create", "--name", "Diabetes journey", "--min-cohort", "11")
	if !strings.Contains(out, `created consortium "Diabetes journey"`) {
		t.Fatalf("create: %s", out)
	}
	var ident struct {
		Addrs []string `json:"addrs"`
	}
	cxJSON(t, homes["hosp-a"], &ident, "identity")
	via := ident.Addrs[0]

	descriptor := func(org string) string {
		path := filepath.Join(dir, org+".json")
		if err := os.WriteFile(path, []byte(cxOK(t, homes[org], "identity", "--json")), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	// 1 member: the proposer's approval admits. 2 members: both. 3: two.
	cxOK(t, homes["hosp-a"], "consortium", "admit", descriptor("hosp-b"))
	cxOK(t, homes["hosp-b"], "consortium", "join", "--via", via)
	cxOK(t, homes["hosp-a"], "consortium", "admit", descriptor("pharma-x"))
	if r := cx(t, homes["pharma-x"], "consortium", "join", "--via", via); r.code != 1 {
		t.Fatalf("a pending member joined: %v", r)
	}
	cxOK(t, homes["hosp-b"], "consortium", "approve", "pharma-x")
	cxOK(t, homes["pharma-x"], "consortium", "join", "--via", via)
	cxOK(t, homes["hosp-b"], "consortium", "admit", descriptor("pharm-y"))
	cxOK(t, homes["pharma-x"], "consortium", "approve", "pharm-y")
	cxOK(t, homes["pharm-y"], "consortium", "join", "--via", via)
	// The members set up their collective key by themselves; every node
	// ends with the same public key and its own threshold key.
	var pubKey string
	for _, o := range orgs {
		var s statusJSON
		cxJSON(t, homes[o], &s, "status", "--wait-keys", "60s")
		if s.Keys == nil || len(s.Keys.Members) != 4 || s.Keys.Threshold != 3 || !s.Keys.ThresholdKey ||
			pubKey != "" && s.Keys.PublicKey != pubKey {
			t.Fatalf("%s: keys %+v, want 4 members, threshold 3, public key %s", o, s.Keys, pubKey)
		}
		pubKey = s.Keys.PublicKey
	}

	var members struct {
		Members []struct {
			Org   string `json:"org"`
			State string `json:"state"`
			Voter bool   `json:"voter"`
		} `json:"members"`
	}
	cxJSON(t, homes["pharm-y"], &members, "members")
	if len(members.Members) != 4 {
		t.Fatalf("members = %+v", members)
	}
	for _, m := range members.Members {
		if m.State != "admitted" || !m.Voter {
			t.Errorf("member %+v: want admitted voter", m)
		}
	}

	// A contract proposed on one node, approved by the other participants.
	cpath := filepath.Join(dir, "nps.yaml")
	os.WriteFile(cpath, []byte(e2eContract), 0o644)
	if id := strings.TrimSpace(cxOK(t, homes["pharma-x"], "contract", "propose", cpath)); id != "nps-diabetes" {
		t.Fatalf("propose printed %q, want the contract id", id)
	}
	// A board member may sign with its own key file (`--key`); another
	// organisation's key is refused by the state machine.
	if r := cx(t, homes["hosp-b"], "contract", "approve", "nps-diabetes", "--key", filepath.Join(homes["hosp-a"], "keys", "governance.key")); r.code != 1 {
		t.Fatalf("approval signed with another organisation's key: %v", r)
	}
	cxOK(t, homes["hosp-b"], "contract", "approve", "nps-diabetes", "--key", filepath.Join(homes["hosp-b"], "keys", "governance.key"))
	for _, o := range []string{"hosp-a", "pharm-y"} {
		cxOK(t, homes[o], "contract", "approve", "nps-diabetes")
	}
	var hash string
	for _, o := range orgs {
		var c contractJSON
		cxJSON(t, homes[o], &c, "contract", "show", "nps-diabetes")
		if c.State != "active" || len(c.Approvals) != 4 {
			t.Fatalf("%s sees %+v", o, c)
		}
		if hash == "" {
			hash = c.Hash
		} else if c.Hash != hash {
			t.Fatalf("%s has hash %s, others %s", o, c.Hash, hash)
		}
	}
	// An encrypted round over nodes without data: every cell is under the
	// cohort floor and suppressed; any node serves the release.
	cxOK(t, homes["pharma-x"], "round", "run", "nps-diabetes")
	var res struct {
		Participants []string `json:"participants"`
		Cells        []struct {
			Suppressed bool `json:"suppressed"`
		} `json:"cells"`
	}
	cxJSON(t, homes["hosp-a"], &res, "results", "nps-diabetes")
	if len(res.Participants) != 4 || len(res.Cells) != 12 {
		t.Fatalf("results: %+v", res)
	}
	for _, c := range res.Cells {
		if !c.Suppressed {
			t.Fatalf("a cell with no records was released: %+v", res)
		}
	}
	// A replayed approval is refused by the state machine.
	if r := cx(t, homes["hosp-a"], "contract", "approve", "nps-diabetes"); r.code != 1 {
		t.Fatalf("second approval: %v", r)
	}

	// The leader dies; the others keep governing.
	var st statusJSON
	cxJSON(t, homes["hosp-a"], &st, "status")
	leader := ""
	for _, o := range orgs {
		var s statusJSON
		cxJSON(t, homes[o], &s, "status")
		if s.PeerID == st.Raft.Leader {
			leader = o
		}
	}
	if leader == "" {
		t.Fatalf("no leader among %v (status %+v)", orgs, st)
	}
	daemons[leader].stop(t, syscall.SIGKILL)
	var survivors []string
	for _, o := range orgs {
		if o != leader {
			survivors = append(survivors, o)
		}
	}
	c2 := strings.NewReplacer("nps-diabetes", "nps-majority", "approvals: all", "approvals: majority").Replace(e2eContract)
	c2path := filepath.Join(dir, "nps2.yaml")
	os.WriteFile(c2path, []byte(c2), 0o644)
	cxOK(t, homes[survivors[0]], "contract", "propose", c2path)
	cxOK(t, homes[survivors[1]], "contract", "approve", "nps-majority")
	cxOK(t, homes[survivors[2]], "contract", "approve", "nps-majority")
	var hash2 string
	for _, o := range survivors {
		var c contractJSON
		cxJSON(t, homes[o], &c, "contract", "show", "nps-majority")
		if c.State != "active" {
			t.Fatalf("%s sees %+v after the leader died", o, c)
		}
		hash2 = c.Hash
	}

	// The killed node restarts from disk and catches up.
	startDaemonArgs(t, homes[leader], "--raft-heartbeat", "300ms")
	var c contractJSON
	cxJSON(t, homes[leader], &c, "contract", "show", "nps-majority")
	if c.State != "active" || c.Hash != hash2 {
		t.Fatalf("restarted %s sees %+v, want active %s", leader, c, hash2)
	}
	var audit struct {
		OK      bool   `json:"ok"`
		Entries uint64 `json:"entries"`
	}
	cxJSON(t, homes[leader], &audit, "audit", "verify")
	if !audit.OK || audit.Entries == 0 {
		t.Fatalf("audit verify on the restarted node: %+v", audit)
	}

	// An outsider cannot connect, join or read.
	outsider, _ := startNode(t, "outsider")
	cxJSON(t, homes[survivors[0]], &ident, "identity")
	r := cx(t, outsider, "consortium", "join", "--via", ident.Addrs[0])
	if r.code != 1 || !strings.Contains(r.stderr, "admitted member") {
		t.Fatalf("outsider join: %v", r)
	}
	if r := cx(t, outsider, "contract", "list"); r.code == 0 && strings.Contains(r.stdout, "nps") {
		t.Fatalf("outsider reads contracts: %v", r)
	}
	var js json.RawMessage
	cxJSON(t, homes[survivors[0]], &js, "members")
	if strings.Contains(string(js), "outsider") {
		t.Fatalf("outsider in the member list: %s", js)
	}
}

package main

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// formConsortium founds a consortium on the first organisation's node and
// admits and joins the others as the README does, then waits for the
// consortium's key on every node.
func formConsortium(t testing.TB, homes map[string]string, orgs []string) {
	t.Helper()
	dir := t.TempDir()
	cxOK(t, homes[orgs[0]], "consortium", "create", "--name", "Round trip", "--min-cohort", "11")
	var ident struct {
		Addrs []string `json:"addrs"`
	}
	cxJSON(t, homes[orgs[0]], &ident, "identity")
	for i, org := range orgs[1:] {
		path := filepath.Join(dir, org+".json")
		os.WriteFile(path, []byte(cxOK(t, homes[org], "identity", "--json")), 0o644)
		cxOK(t, homes[orgs[0]], "consortium", "admit", path)
		// A strict majority of the i+1 admitted members approves; the
		// proposer's approval counts.
		for _, a := range orgs[1 : (i+1)/2+1] {
			cxOK(t, homes[a], "consortium", "approve", org)
		}
		cxOK(t, homes[org], "consortium", "join", "--via", ident.Addrs[0])
	}
	for _, o := range orgs {
		cxOK(t, homes[o], "status", "--wait-keys", "60s")
	}
}

// TestE2ERound: three real cxnet processes, each with its own patients'
// NPS answers, run an encrypted round. The released NPS per care setting
// equals the plain computation over all records; the cell under the
// cohort floor is suppressed; every node serves the same result beside its
// own value; and no daemon log, at debug level, holds a subject or a
// per-organisation value.
func TestE2ERound(t *testing.T) {
	orgs := []string{"hosp-a", "hosp-b", "pharma-x"}
	homes := map[string]string{}
	daemons := map[string]*daemon{}
	for _, o := range orgs {
		homes[o], daemons[o] = startNode(t, o)
	}
	type truth struct{ n, prom, det int }
	want := map[string]*truth{"inpatient": {}, "outpatient": {}, "pharmacy": {}}
	own := map[string]map[string]*truth{}
	dir := t.TempDir()
	for i, o := range orgs {
		own[o] = map[string]*truth{"inpatient": {}, "outpatient": {}, "pharmacy": {}}
		rng := rand.New(rand.NewPCG(uint64(i), 99))
		var b strings.Builder
		b.WriteString("record_id,subject,measure,value,time,care_setting\n")
		for j := range 300 + 100*i {
			care := []string{"inpatient", "outpatient"}[rng.IntN(2)]
			if j < 3 {
				care = "pharmacy" // 9 records network-wide: under the floor of 11
			}
			v := rng.IntN(11)
			fmt.Fprintf(&b, "%s-r%d,secret-subject-%s-%d,nps,%d,2026-0%d-15,%s\n", o, j, o, j, v, 1+j%9, care)
			for _, tr := range []*truth{want[care], own[o][care]} {
				tr.n++
				if v >= 9 {
					tr.prom++
				} else if v <= 6 {
					tr.det++
				}
			}
		}
		path := filepath.Join(dir, o+".csv")
		os.WriteFile(path, []byte(b.String()), 0o644)
		cxOK(t, homes[o], "data", "import", path)
	}
	formConsortium(t, homes, orgs)

	contract := strings.NewReplacer("participants: [hosp-a, hosp-b, pharma-x, pharm-y]", "participants: [hosp-a, hosp-b, pharma-x]",
		"period: quarter\n", "").Replace(e2eContract)
	cpath := filepath.Join(dir, "nps.yaml")
	os.WriteFile(cpath, []byte(contract), 0o644)
	cxOK(t, homes["hosp-a"], "contract", "propose", cpath)
	for _, o := range orgs[1:] {
		cxOK(t, homes[o], "contract", "approve", "nps-diabetes")
	}

	type resultsJSON struct {
		Round        string   `json:"round"`
		Participants []string `json:"participants"`
		Cells        []struct {
			Group      map[string]string `json:"group"`
			Count      *int              `json:"count"`
			Value      *float64          `json:"value"`
			Suppressed bool              `json:"suppressed"`
			Local      *struct {
				Count int      `json:"count"`
				Value *float64 `json:"value"`
			} `json:"local"`
		} `json:"cells"`
		Privacy struct {
			MinCohort  int `json:"min_cohort"`
			Suppressed int `json:"suppressed"`
		} `json:"privacy"`
	}
	var run resultsJSON
	cxJSON(t, homes["pharma-x"], &run, "round", "run", "nps-diabetes")
	if len(run.Participants) != 3 || run.Privacy.MinCohort != 11 || run.Privacy.Suppressed != 1 || len(run.Cells) != 3 {
		t.Fatalf("round run: %+v", run)
	}
	for _, o := range orgs {
		var r resultsJSON
		cxJSON(t, homes[o], &r, "results", "nps-diabetes")
		if r.Round != run.Round {
			t.Fatalf("%s serves round %s, want %s", o, r.Round, run.Round)
		}
		for _, cell := range r.Cells {
			care := cell.Group["care_setting"]
			w, mine := want[care], own[o][care]
			if care == "pharmacy" {
				if !cell.Suppressed || cell.Count != nil || cell.Value != nil {
					t.Fatalf("%s: the pharmacy cell (%d records) is not suppressed: %+v", o, w.n, cell)
				}
			} else {
				nps := float64(w.prom-w.det) / float64(w.n) * 100
				if cell.Count == nil || *cell.Count != w.n || cell.Value == nil || math.Abs(*cell.Value-nps) > 1e-3 {
					t.Fatalf("%s %s: released %v %v, want %d %.4f", o, care, cell.Count, cell.Value, w.n, nps)
				}
			}
			if cell.Local == nil || cell.Local.Count != mine.n {
				t.Fatalf("%s %s: own value %+v, want count %d", o, care, cell.Local, mine.n)
			}
		}
	}
	// Nothing of any organisation's data in any daemon's log.
	for _, o := range orgs {
		logs := daemons[o].logs.String()
		if strings.Contains(logs, "secret-subject") || strings.Contains(logs, "-r1,") {
			t.Fatalf("%s's log holds a subject or a record", o)
		}
	}
	// Metrics count the requests each node served, and carry no data.
	metrics := scrapeMetrics(t, homes["hosp-a"])
	if !strings.Contains(string(metrics), `cxnet_round_requests_total{op="commit",outcome="served"} 1`) ||
		strings.Contains(string(metrics), "secret-subject") {
		t.Errorf("hosp-a's /metrics:\n%s", metrics)
	}
	// A CSV for a spreadsheet.
	if out := cxOK(t, homes["hosp-b"], "results", "nps-diabetes", "--csv"); !strings.HasPrefix(out, "care_setting,count,value,suppressed,own_count,own_value\n") {
		t.Fatalf("results --csv:\n%s", out)
	}
}

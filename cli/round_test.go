package cli

import (
	"strings"
	"testing"
)

const resultsJSON = `{"contract":"nps-care","version":1,"round":"nps-care/25","released_at":"2026-11-22T09:24:56.383Z",
 "participants":["hosp-a","hosp-b","pharma-x"],"decryptors":["hosp-a","hosp-b"],"aggregate":"nps",
 "cells":[{"group":{"care_setting":"inpatient"},"count":214,"value":-3.27103,"suppressed":false,"local":{"count":67,"value":1.49254}},
  {"group":{"care_setting":"outpatient"},"count":430,"value":-10.2326,"suppressed":false,"local":{"count":131,"value":-9.16031}},
  {"group":{"care_setting":"pharmacy"},"value":null,"suppressed":true,"local":{"count":2,"value":-50}}],
 "privacy":{"min_cohort":11,"epsilon":0,"suppressed":1}}`

func TestRoundRunAndResults(t *testing.T) {
	f := newFakeNode(t, map[string]string{"POST /v1/rounds": resultsJSON, "GET /v1/results/nps-care": resultsJSON})
	out, errOut, code := f.run("round", "run", "nps-care")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	golden(t, "round_run", out)
	if !strings.Contains(f.requests[0], `"contract":"nps-care"`) {
		t.Fatalf("request %q", f.requests[0])
	}
	out, _, _ = f.run("results", "nps-care", "--csv")
	golden(t, "results.csv", out)
	out, _, _ = f.run("results", "nps-care", "--json")
	golden(t, "results.json", out)
	if _, _, code := f.run("results"); code != 2 {
		t.Fatalf("results without a contract: exit %d, want 2", code)
	}
}

const roundsJSON = `{"rounds":[
 {"round":"nps-care/25","version":1,"state":"released","aggregator":"hosp-b","inputs":["hosp-a","hosp-b","pharma-x"],"decryptors":["hosp-a","hosp-b"],"opened_at":"2026-11-22T09:24:56Z","ended_at":"2026-11-22T09:24:57.103Z"},
 {"round":"nps-care/31","version":1,"state":"failed","reason":"hosp-a refused the aggregator hosp-b: round nps-care/31 sums the inputs of {hosp-a,hosp-b,pharma-x}, not {hosp-a,hosp-b}: the log fixes them","blame":["hosp-b"],"reported_by":"hosp-a","aggregator":"hosp-b","inputs":["hosp-a","hosp-b","pharma-x"],"decryptors":[],"opened_at":"2026-11-22T10:00:00Z","ended_at":"2026-11-22T10:00:01.000Z"},
 {"round":"nps-care/40","version":1,"state":"open","aggregator":"pharma-x","inputs":["pharma-x"],"decryptors":[],"opened_at":"2026-11-22T11:00:00Z"}]}`

func TestRoundList(t *testing.T) {
	f := newFakeNode(t, map[string]string{"GET /v1/contracts/nps-care/rounds": roundsJSON})
	out, errOut, code := f.run("round", "list", "nps-care")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	golden(t, "round_list", out)
	out, _, _ = f.run("round", "list", "nps-care", "--json")
	golden(t, "round_list.json", out)
	if _, _, code := f.run("round", "list"); code != 2 {
		t.Fatalf("round list without a contract: exit %d, want 2", code)
	}
}

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

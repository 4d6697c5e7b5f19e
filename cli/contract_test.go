package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const contractInfoJSON = `{"id":"nps-diabetes","version":1,"state":"approved","hash":"sha256:e5f500c07c23bd06fad64056ee41e74836fd75b593d8a36a221f145f0b8bea09",
 "title":"Net Promoter Score, diabetes journey","measure":"nps","aggregate":"nps","participants":["hosp-a","hosp-b"],
 "approvals_needed":2,"approvals":["hosp-a","hosp-b"],"proposed_by":"hosp-a"}`

func TestContractListAndShow(t *testing.T) {
	f := newFakeNode(t, map[string]string{
		"GET /v1/contracts":              `{"contracts":[` + contractInfoJSON + `]}`,
		"GET /v1/contracts/nps-diabetes": contractInfoJSON,
	})
	out, errOut, code := f.run("contract", "list")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	golden(t, "contract_list", out)
	out, _, _ = f.run("contract", "show", "nps-diabetes")
	golden(t, "contract_show", out)
}

func TestContractShowScheduled(t *testing.T) {
	scheduled := strings.Replace(contractInfoJSON, `"state":"approved"`, `"state":"active","schedule":"7d","next_round":{"due":"2026-11-29T08:00:00Z","by":"hosp-b"}`, 1)
	f := newFakeNode(t, map[string]string{"GET /v1/contracts/nps-diabetes": scheduled})
	out, errOut, code := f.run("contract", "show", "nps-diabetes")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	golden(t, "contract_show_scheduled", out)
}

func TestContractProposePrintsTheID(t *testing.T) {
	f := newFakeNode(t, map[string]string{"POST /v1/contracts/propose": contractInfoJSON})
	path := filepath.Join(t.TempDir(), "c.yaml")
	os.WriteFile(path, []byte("id: nps-diabetes\n"), 0o644)
	out, _, code := f.run("contract", "propose", path)
	if code != 0 || out != "nps-diabetes\n" {
		t.Fatalf("exit %d, stdout %q; want the id alone", code, out)
	}
}

// TestContractWarnings: the node's warnings about contracts whose releases
// could be differenced with this one's reach the board at propose and
// approve, on the error stream and in --json.
func TestContractWarnings(t *testing.T) {
	warning := "contract nps-pharma on the same measure and an overlapping window has participants differing by one organisation (pharm-y): releases of both could be differenced to its cells"
	warned := strings.Replace(contractInfoJSON, `"proposed_by":"hosp-a"`, `"proposed_by":"hosp-a","warnings":["`+warning+`"]`, 1)
	f := newFakeNode(t, map[string]string{"POST /v1/contracts/propose": warned, "POST /v1/contracts/approve": warned})
	path := filepath.Join(t.TempDir(), "c.yaml")
	os.WriteFile(path, []byte("id: nps-diabetes\n"), 0o644)
	for _, args := range [][]string{{"contract", "propose", path}, {"contract", "approve", "nps-diabetes"}} {
		out, errOut, code := f.run(args...)
		if code != 0 || !strings.Contains(errOut, "warning: "+warning+"\n") || strings.Contains(out, "warning") {
			t.Fatalf("%v: exit %d, stdout %q, stderr %q; want the warning on stderr", args, code, out, errOut)
		}
		out, _, _ = f.run(append(args, "--json")...)
		var got struct{ Warnings []string }
		if err := json.Unmarshal([]byte(out), &got); err != nil || len(got.Warnings) != 1 || got.Warnings[0] != warning {
			t.Fatalf("%v --json: %s (%v)", args, out, err)
		}
	}
}

func TestContractApproveRejectRetire(t *testing.T) {
	f := newFakeNode(t, map[string]string{
		"POST /v1/contracts/approve": contractInfoJSON,
		"POST /v1/contracts/reject":  contractInfoJSON,
		"POST /v1/contracts/retire":  contractInfoJSON,
	})
	for _, args := range [][]string{
		{"contract", "approve", "nps-diabetes"},
		{"contract", "reject", "nps-diabetes", "--reason", "window too short"},
		{"contract", "retire", "nps-diabetes"},
	} {
		if _, errOut, code := f.run(args...); code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, errOut)
		}
	}
	if !strings.Contains(f.requests[1], `"reason":"window too short"`) {
		t.Fatalf("reject sent %q", f.requests[1])
	}
	if _, _, code := f.run("contract", "reject", "nps-diabetes"); code != 2 {
		t.Fatalf("reject without --reason: exit %d, want 2", code)
	}
}

func TestContractPreview(t *testing.T) {
	f := newFakeNode(t, map[string]string{"POST /v1/contracts/preview": `{"contract":"nps-diabetes","version":1,"hash":"sha256:x","aggregate":"nps","measure":"nps",
 "cells":[{"group":{"care_setting":"inpatient","period":"2026-Q1"},"count":120,"value":41.666667,"suppressed":false},
          {"group":{"care_setting":"outpatient","period":"2026-Q1"},"count":0,"value":null,"suppressed":false}],"scanned":5000,"seconds":0.01}`})
	out, errOut, code := f.run("contract", "preview", "nps-diabetes")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	golden(t, "contract_preview", out)
	if !strings.Contains(f.requests[0], `"id":"nps-diabetes"`) {
		t.Fatalf("an id that is not a file is sent as an id: %q", f.requests[0])
	}
}

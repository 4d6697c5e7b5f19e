package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestMembers(t *testing.T) {
	f := newFakeNode(t, map[string]string{"GET /v1/members": `{"members":[
 {"org":"hosp-a","kind":"hospital","peer_id":"12D3KooWA","voter":true,"raft":"voter","state":"admitted","approvals":["hosp-a"]},
 {"org":"pharma-x","kind":"pharma","peer_id":"12D3KooWX","voter":false,"raft":"none","state":"pending","approvals":["hosp-a"]}]}`})
	out, errOut, code := f.run("members")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	golden(t, "members", out)
}

func TestConsortiumCreate(t *testing.T) {
	f := newFakeNode(t, map[string]string{"POST /v1/consortium/create": `{"id":"04e77c1ba23f8a32","name":"Diabetes journey","min_cohort":11,"founder":"hosp-a","psk":"ab12"}`})
	out, errOut, code := f.run("consortium", "create", "--name", "Diabetes journey", "--psk")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	golden(t, "consortium_create", out)
	if !strings.Contains(f.requests[0], `"psk":true`) || !strings.Contains(f.requests[0], `"min_cohort":11`) {
		t.Fatalf("create sent %q", f.requests[0])
	}
}

func TestConsortiumAdmitReadsTheDescriptor(t *testing.T) {
	f := newFakeNode(t, map[string]string{"POST /v1/consortium/admit": `{"event":"member.proposed","object":"pharma-x","index":6,"outcome":"applied"}`})
	dir := t.TempDir()
	good := filepath.Join(dir, "x.json")
	os.WriteFile(good, []byte(`{"org":"pharma-x"}`), 0o644)
	out, _, code := f.run("consortium", "admit", good)
	if code != 0 || out != "member.proposed pharma-x (log index 6)\n" {
		t.Fatalf("exit %d, %q", code, out)
	}
	if !strings.Contains(f.requests[0], `"org":"pharma-x"`) {
		t.Fatalf("admit sent %q", f.requests[0])
	}
	for name, content := range map[string]string{
		"not JSON":      `org: pharma-x`,
		"unknown field": `{"org":"pharma-x","role":"admin"}`,
		"two objects":   `{"org":"pharma-x"} {"org":"hosp-z"}`,
	} {
		bad := filepath.Join(dir, "bad.json")
		os.WriteFile(bad, []byte(content), 0o644)
		if _, errOut, code := f.run("consortium", "admit", bad); code != 1 || !strings.Contains(errOut, bad+": not a member descriptor") || !strings.Contains(errOut, "cxnet identity --json") {
			t.Fatalf("%s: exit %d, %q", name, code, errOut)
		}
	}
	if len(f.requests) != 1 {
		t.Fatalf("bad descriptors reached the node: %q", f.requests[1:])
	}
}

func TestNotRunningSaysHowToStart(t *testing.T) {
	home := t.TempDir()
	os.WriteFile(filepath.Join(home, "api.token"), []byte("x"), 0o600)
	_, errOut, code := runCLI(home, "members")
	if code != 1 || !strings.Contains(errOut, "not running") || !strings.Contains(errOut, "cxnet run --home "+home) {
		t.Fatalf("exit %d: %q", code, errOut)
	}
}

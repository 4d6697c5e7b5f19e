package cli

import (
	"strings"
	"testing"
)

func TestAudit(t *testing.T) {
	f := newFakeNode(t, map[string]string{
		"GET /v1/audit": `{"entries":[{"seq":1,"time":"2026-11-22T07:00:00Z","kind":"consortium.created","actor":"hosp-a","object":"Diabetes journey",
 "detail":{"index":"3","outcome":"applied"},"prev":"","hash":"aa"}]}`,
		"GET /v1/audit/verify": `{"ok":true,"entries":1,"head":"aa"}`,
	})
	out, errOut, code := f.run("audit")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	golden(t, "audit", out)
	if out, _, code := f.run("audit", "verify"); code != 0 || !strings.Contains(out, "intact: 1 entries") {
		t.Fatalf("verify: exit %d, %q", code, out)
	}
}

func TestAuditVerifyBrokenExitsOne(t *testing.T) {
	f := newFakeNode(t, map[string]string{"GET /v1/audit/verify": `{"ok":false,"entries":2,"problem":"audit log: entry 3: altered (hash does not match its content)"}`})
	_, errOut, code := f.run("audit", "verify")
	if code != 1 || !strings.Contains(errOut, "entry 3: altered") {
		t.Fatalf("exit %d, %q", code, errOut)
	}
}

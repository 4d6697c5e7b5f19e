package cli

import (
	"strings"
	"testing"
)

const statusJSON = `{"org":"hosp-a","name":"St. Mary Hospital","kind":"hospital","peer_id":"12D3KooWExample","ready":true,
 "consortium":"Diabetes journey","raft":{"state":"leader","leader":"12D3KooWExample",
 "timings":{"heartbeat":"2s","election":"4s","leader_lease":"1s","dead_voter_after":"5m0s","snapshot_threshold":1024,"trailing_logs":4096,"snapshot_interval":"2m0s"}},"members":4,
 "keys":{"epoch":4,"members":["hosp-a","hosp-b","pharm-y","pharma-x"],"threshold":3,"public_key":"sha256:0eced586","threshold_key":true},
 "version":"v1.0.0","api":"127.0.0.1:8001","listen":["/ip4/127.0.0.1/tcp/7001/p2p/12D3KooWExample"],"started":"2026-11-22T07:00:00Z"}`

func TestStatus(t *testing.T) {
	f := newFakeNode(t, map[string]string{"GET /v1/status": statusJSON})
	out, errOut, code := f.run("status")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	golden(t, "status", out)
	out, _, _ = f.run("status", "--json")
	golden(t, "status.json", out)
}

func TestStatusNotReadyExitsOne(t *testing.T) {
	f := newFakeNode(t, map[string]string{"GET /v1/status": `{"org":"hosp-a","ready":false}`})
	if _, errOut, code := f.run("status"); code != 1 || errOut == "" {
		t.Fatalf("exit %d, stderr %q; want 1 and a message", code, errOut)
	}
}

func TestStatusWaitKeys(t *testing.T) {
	pending := `{"org":"hosp-a","ready":true,"keys":{"epoch":3,"members":["hosp-a","hosp-b","pharma-x"],"threshold":2,
 "public_key":"sha256:ab","threshold_key":true,"pending":{"epoch":4,"members":["hosp-a","hosp-b","pharm-y","pharma-x"],"missing":["pharm-y"]}}}`
	f := newFakeNode(t, map[string]string{"GET /v1/status": pending})
	out, _, code := f.run("status")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	golden(t, "status.pending", out)
	_, errOut, code := f.run("status", "--wait-keys", "500ms")
	if code != 1 || !strings.Contains(errOut, "missing: pharm-y") {
		t.Fatalf("exit %d, stderr %q; want 1 naming the missing member", code, errOut)
	}
	f = newFakeNode(t, map[string]string{"GET /v1/status": statusJSON})
	if _, errOut, code := f.run("status", "--wait-keys", "5s"); code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
}

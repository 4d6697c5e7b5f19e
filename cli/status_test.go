package cli

import "testing"

const statusJSON = `{"org":"hosp-a","name":"St. Mary Hospital","kind":"hospital","peer_id":"12D3KooWExample","ready":true,
 "consortium":"Diabetes journey","raft":{"state":"leader","leader":"12D3KooWExample"},"members":4,
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

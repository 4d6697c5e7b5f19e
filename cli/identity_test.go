package cli

import "testing"

const identityJSON = `{"signature":"c2ln","governance_key":"a2V5","addrs":["/ip4/127.0.0.1/tcp/7001/p2p/12D3KooWA"],
 "peer_id":"12D3KooWA","kind":"hospital","name":"St. Mary Hospital","org":"hosp-a"}`

func TestIdentity(t *testing.T) {
	f := newFakeNode(t, map[string]string{"GET /v1/identity": identityJSON})
	for _, tc := range []struct{ name, golden string }{{"", "identity"}, {"--json", "identity.json"}} {
		args := []string{"identity"}
		if tc.name != "" {
			args = append(args, tc.name)
		}
		out, errOut, code := f.run(args...)
		if code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, errOut)
		}
		golden(t, tc.golden, out)
	}
}

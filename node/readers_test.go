package node_test

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/cxnet/cxnet/node/nodetest"
)

// TestReleaseToReadersOnly: a contract among three participants whose
// reader is a fourth member (a payer). The participant that runs the
// round gets no cells; only the reader's node computes them, equal to the
// pooled computation; every other node refuses to serve them; no log
// entry on any node holds a released count or value; and the reader may
// not open rounds of the contract.
func TestReleaseToReadersOnly(t *testing.T) {
	ctx := context.Background()
	c := nodetest.NewCluster(t, 4, nodetest.Options{})
	c.Form("readers")
	c.WaitForKeys()
	truth := map[string]*npsCell{"inpatient": {}, "outpatient": {}, "pharmacy": {}}
	for i, m := range c.Nodes[:3] {
		importNPS(t, m, 120+40*i, uint64(30+i), truth)
	}
	contract := "id: nps-payer\nmeasure: nps\naggregate: nps\ngroup_by: {care_setting: [inpatient, outpatient, pharmacy]}\n" +
		"participants: [org-0, org-1, org-2]\nreaders: [org-3]\napprovals: 1\nprivacy: {min_cohort: 11}\n"
	agree(t, "nps-payer", contract, c.Nodes[0])
	c.RequireSameState()
	reader := c.Nodes[3]
	if _, err := reader.Client.RunRound(ctx, "nps-payer"); err == nil || !strings.Contains(err.Error(), "does not aggregate") {
		t.Fatalf("the reader ran a round: %v", err)
	}
	ran, err := c.Nodes[1].Client.RunRound(ctx, "nps-payer")
	if err != nil {
		t.Fatal(err)
	}
	if len(ran.Cells) != 0 || strings.Join(ran.SealedTo, ",") != "org-3" {
		t.Fatalf("the participant that ran the round got %+v, want no cells, sealed to org-3", ran)
	}
	res, err := reader.Client.Results(ctx, "nps-payer", "")
	if err != nil {
		t.Fatal(err)
	}
	var secrets []string
	for _, cell := range res.Cells {
		want := truth[cell.Group["care_setting"]]
		if want.n < 11 {
			if !cell.Suppressed || cell.Count != nil {
				t.Fatalf("%v under the floor released to the reader: %+v", cell.Group, cell)
			}
			continue
		}
		got, _ := cell.Value.(float64)
		if cell.Count == nil || *cell.Count != want.n || math.Abs(got-want.nps()) > 1e-3 {
			t.Fatalf("%v: the reader got %v %v, want %d %.4f", cell.Group, cell.Count, cell.Value, want.n, want.nps())
		}
		secrets = append(secrets, fmt.Sprint(cell.Value), fmt.Sprintf(`"count":%d`, want.n))
	}
	for _, m := range c.Nodes[:3] {
		if _, err := m.Client.Results(ctx, "nps-payer", ""); err == nil || !strings.Contains(err.Error(), "may not read") {
			t.Fatalf("%s serves the readers' result: %v", m.Org, err)
		}
		for i, e := range m.Node.LogEntries() {
			for _, s := range secrets {
				if bytes.Contains(e, []byte(s)) {
					t.Fatalf("%s's log entry %d holds %q of the readers' result", m.Org, i, s)
				}
			}
		}
	}
}

package node_test

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"

	"github.com/cxnet/cxnet/node"
	"github.com/cxnet/cxnet/node/client"
	"github.com/cxnet/cxnet/node/nodetest"
)

// TestWiretapSeesNoPlaintext taps every round stream of a four-member
// round (each request the aggregator sends, each reply it gets, as they
// cross the wire once decrypted by the transport) and reads every entry
// of the replicated log. Nowhere is there a subject, a record id, or one
// organisation's plaintext cell vector; every ciphertext and decryption
// share is well formed, and nothing else is carried.
func TestWiretapSeesNoPlaintext(t *testing.T) {
	ctx := context.Background()
	c := nodetest.NewCluster(t, 4, nodetest.Options{})
	c.Form("wiretap")
	c.WaitForKeys()
	cares := []string{"inpatient", "outpatient", "pharmacy"}
	vectors := map[string][][3]int64{} // org -> per cell: answers, promoters, detractors
	for i, m := range c.Nodes {
		rng := rand.New(rand.NewPCG(uint64(i), 99))
		cells := make([][3]int64, len(cares))
		var b strings.Builder
		b.WriteString("record_id,subject,measure,value,time,care_setting\n")
		for j := range 120 + 37*i {
			k := rng.IntN(len(cares))
			v := rng.IntN(11)
			fmt.Fprintf(&b, "wiretap-rec-%s-%d,wiretap-subject-%s-%d,nps,%d,2026-02-%02d,%s\n", m.Org, j, m.Org, j, v, 1+j%28, cares[k])
			cells[k][0]++
			if v >= 9 {
				cells[k][1]++
			} else if v <= 6 {
				cells[k][2]++
			}
		}
		vectors[m.Org] = cells
		if _, err := m.Client.Import(ctx, client.ImportRequest{Format: "csv"}, nil,
			[]client.ImportFile{{Name: m.Org + ".csv", Body: strings.NewReader(b.String())}}); err != nil {
			t.Fatal(err)
		}
	}
	contract := "id: nps-tap\nmeasure: nps\naggregate: nps\ngroup_by: {care_setting: [inpatient, outpatient, pharmacy]}\n" +
		"participants: [org-0, org-1, org-2, org-3]\napprovals: 1\nprivacy: {min_cohort: 11}\n"
	agree(t, "nps-tap", contract, c.Nodes[0])
	c.RequireSameState()

	type message struct {
		to       string
		request  bool
		contents []byte
	}
	var (
		mu       sync.Mutex
		messages []message
	)
	agg := c.Nodes[1]
	agg.Node.Tap(func(to string, req, reply []byte) {
		mu.Lock()
		defer mu.Unlock()
		messages = append(messages, message{to, true, bytes.Clone(req)}, message{to, false, bytes.Clone(reply)})
	})
	if _, err := agg.Client.RunRound(ctx, "nps-tap"); err != nil {
		t.Fatal(err)
	}
	agg.Node.Deviate(node.Deviation{})

	forbidden := []string{"wiretap-rec-", "wiretap-subject-"}
	for org, cells := range vectors {
		var counts []string
		for _, cell := range cells {
			counts = append(counts, fmt.Sprint(cell[0]))
			forbidden = append(forbidden, fmt.Sprintf("%d,%d,%d", cell[0], cell[1], cell[2]))
		}
		forbidden = append(forbidden, strings.Join(counts, ","))
		_ = org
	}
	scan := func(what string, b []byte) {
		for _, f := range forbidden {
			if bytes.Contains(b, []byte(f)) {
				t.Fatalf("%s carries %q", what, f)
			}
		}
	}
	checked := 0
	for i, m := range messages {
		what := fmt.Sprintf("message %d (to %s, request %v)", i, m.to, m.request)
		scan(what, m.contents)
		n, err := node.CheckRoundMessage(m.contents, m.request)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		checked += n
	}
	entries := agg.Node.LogEntries()
	for i, e := range entries {
		scan(fmt.Sprintf("log entry %d", i), e)
	}
	// commit, fetch, decrypt, attest and pads to each of the three
	// other members (as participant, and as decryptor if chosen).
	if len(messages) < 2*3*3 || checked < 3*2 {
		t.Fatalf("tapped %d messages, %d ciphertexts and shares: too few to mean anything", len(messages), checked)
	}
	t.Logf("tapped %d messages (%d ciphertexts and shares, all well formed) and %d log entries: no plaintext", len(messages), checked, len(entries))
}

package node_test

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cxnet/cxnet/contracts"
	"github.com/cxnet/cxnet/kpi"
	"github.com/cxnet/cxnet/node"
	"github.com/cxnet/cxnet/node/client"
	"github.com/cxnet/cxnet/node/nodetest"
)

func contractYAML(id string, orgs []string, approvals string) string {
	return "id: " + id + "\nmeasure: nps\naggregate: nps\nparticipants: [" + strings.Join(orgs, ", ") +
		"]\napprovals: " + approvals + "\nprivacy: {min_cohort: 11}\n"
}

func orgs(ms []*nodetest.Member) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.Org
	}
	return out
}

// TestVotersAndNonVoters: raft keeps at most five voters; the sixth member
// replicates the log as a non-voter.
func TestVotersAndNonVoters(t *testing.T) {
	c := nodetest.NewCluster(t, 6, nodetest.Options{})
	c.Form("six")
	ms, err := c.Nodes[5].Client.Members(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	voters, nonvoters := 0, 0
	for _, m := range ms.Members {
		switch m.Raft {
		case "voter":
			voters++
		case "nonvoter":
			nonvoters++
		}
	}
	if voters != 5 || nonvoters != 1 {
		t.Fatalf("%d voters and %d non-voters, want 5 and 1: %+v", voters, nonvoters, ms.Members)
	}
	c.RequireSameState()
}

// TestMinorityPartitionCannotCommit cuts five members into two and three:
// the two cannot commit anything, the three go on, and after healing
// everyone agrees — without the minority's proposal.
func TestMinorityPartitionCannotCommit(t *testing.T) {
	c := nodetest.NewCluster(t, 5, nodetest.Options{})
	c.Form("five")
	leader := c.WaitForLeader()
	minority := []*nodetest.Member{leader}
	var majority []*nodetest.Member
	for _, m := range c.Nodes {
		if m == leader {
			continue
		}
		if len(minority) < 2 {
			minority = append(minority, m)
		} else {
			majority = append(majority, m)
		}
	}
	c.Partition(minority, majority)

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	_, err := minority[1].Client.Propose(ctx, "m.yaml", contractYAML("minority", orgs(c.Nodes), "all"))
	if err == nil {
		t.Fatal("the minority committed a proposal")
	}
	c.WaitForLeader(majority...)
	if _, err := majority[0].Client.Propose(context.Background(), "m.yaml", contractYAML("majority", orgs(majority), "majority")); err != nil {
		t.Fatalf("the majority could not commit: %v", err)
	}

	c.Heal()
	c.RequireSameState()
	cs, err := minority[0].Client.Contracts(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(cs.Contracts) != 1 || cs.Contracts[0].ID != "majority" {
		t.Fatalf("after healing, contracts = %+v, want only the majority's", cs.Contracts)
	}
}

// TestForgedEntriesRejectedByEveryNode submits forged approvals through
// the API of one node: every node's state machine refuses them, and every
// node's audit log records the refusals at the same log indices.
func TestForgedEntriesRejectedByEveryNode(t *testing.T) {
	c := nodetest.NewCluster(t, 3, nodetest.Options{})
	c.Form("forgery")
	ctx := context.Background()
	a, b, third := c.Nodes[0], c.Nodes[1], c.Nodes[2]
	info, err := a.Client.Propose(ctx, "c.yaml", contractYAML("nps-all", orgs(c.Nodes), "all"))
	if err != nil {
		t.Fatal(err)
	}
	st := c.Status(a)
	homeA, err := node.LoadHome(a.Home)
	if err != nil {
		t.Fatal(err)
	}
	homeB, err := node.LoadHome(b.Home)
	if err != nil {
		t.Fatal(err)
	}
	approval := contracts.ContractApprove{ID: "nps-all", Version: info.Version, Hash: info.Hash}
	sign := func(key ed25519.PrivateKey, org string, body any, consortium string) []byte {
		e, err := contracts.Sign(contracts.EntryContractApprove, body, kpi.OrgID(org), key, consortium)
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	_, stranger, _ := ed25519.GenerateKey(nil)
	genuineB := sign(homeB.GovernanceKey, b.Org, approval, st.ConsortiumID)
	forgeries := []struct {
		name  string
		entry []byte
	}{
		{"wrong key", sign(stranger, b.Org, approval, st.ConsortiumID)},
		{"another org's key", sign(homeA.GovernanceKey, b.Org, approval, st.ConsortiumID)},
		{"another consortium", sign(homeB.GovernanceKey, b.Org, approval, strings.Repeat("0", 64))},
		{"wrong hash", sign(homeB.GovernanceKey, b.Org, contracts.ContractApprove{ID: "nps-all", Version: 1, Hash: "sha256:" + strings.Repeat("1", 64)}, st.ConsortiumID)},
	}
	for _, f := range forgeries {
		_, err := third.Client.ContractAction(ctx, "approve", client.ContractAction{Entry: f.entry})
		var ae *client.Error
		if !errors.As(err, &ae) || ae.Kind != "input" {
			t.Errorf("%s: error %v, want a refusal", f.name, err)
		}
	}
	// The genuine approval applies once; its replay is refused.
	if _, err := third.Client.ContractAction(ctx, "approve", client.ContractAction{Entry: genuineB}); err != nil {
		t.Fatalf("genuine approval: %v", err)
	}
	if _, err := third.Client.ContractAction(ctx, "approve", client.ContractAction{Entry: genuineB}); err == nil {
		t.Fatal("a replayed approval was accepted")
	}
	// An entry type this version does not know is skipped, not fatal.
	unknown := append([]byte{99, 1}, genuineB[2:]...)
	third.Client.ContractAction(ctx, "approve", client.ContractAction{Entry: unknown})

	c.RequireSameState()
	var audits [][]string
	for _, m := range c.Nodes {
		got, err := m.Client.Contract(ctx, "nps-all")
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got.Approvals, []string{a.Org, b.Org}) || got.State != "proposed" {
			t.Fatalf("%s: approvals %v state %s, want [%s %s] proposed", m.Org, got.Approvals, got.State, a.Org, b.Org)
		}
		log, err := m.Client.Audit(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var outcomes []string
		for _, e := range log.Entries {
			// Key epochs run beside governance; a share for an epoch that a
			// newer one replaced is refused, when admissions come fast.
			if e.Object == "nps-all" || e.Detail["outcome"] != "applied" && !strings.HasPrefix(e.Kind, "keys.") {
				outcomes = append(outcomes, e.Detail["index"]+":"+e.Kind+":"+e.Detail["outcome"])
			}
		}
		audits = append(audits, outcomes)
		v, err := m.Client.AuditVerify(ctx)
		if err != nil || !v.OK {
			t.Fatalf("%s: audit verify %+v %v", m.Org, v, err)
		}
	}
	rejected, skipped := 0, 0
	for _, o := range audits[0] {
		rejected += strings.Count(o, ":rejected")
		skipped += strings.Count(o, ":skipped")
	}
	if rejected != len(forgeries)+1 || skipped != 1 {
		t.Fatalf("audit of %s: %d rejected, %d skipped, want %d and 1:\n%v", a.Org, rejected, skipped, len(forgeries)+1, audits[0])
	}
	for i := range audits[1:] {
		if !slices.Equal(audits[i+1], audits[0]) {
			t.Fatalf("audit logs differ:\n%v\n%v", audits[0], audits[i+1])
		}
	}
}

// TestPrivateNetworkKey: a consortium created with --psk refuses a member
// that joins without the key, with a message that says so, and takes it
// with the key.
func TestPrivateNetworkKey(t *testing.T) {
	c := nodetest.NewCluster(t, 2, nodetest.Options{})
	ctx := context.Background()
	a, b := c.Nodes[0], c.Nodes[1]
	created, err := a.Client.CreateConsortium(ctx, client.CreateRequest{Name: "private", PSK: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(created.PSK) != 64 {
		t.Fatalf("create --psk returned key %q", created.PSK)
	}
	desc, err := b.Client.Identity(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Client.Admit(ctx, desc); err != nil {
		t.Fatal(err)
	}
	via := c.Status(a).Listen[0]
	_, err = b.Client.Join(ctx, client.JoinRequest{Via: via})
	if err == nil || !strings.Contains(err.Error(), "PSK") {
		t.Fatalf("join without the key: %v, want an error about the PSK", err)
	}
	if _, err := b.Client.Join(ctx, client.JoinRequest{Via: via, PSK: created.PSK}); err != nil {
		t.Fatalf("join with the key: %v", err)
	}
	c.RequireSameState()
}

// TestUnreachableVoterIsReplaced: with five voters and a non-voter, a voter
// that stops answering hands its vote to the non-voter; it stays a member.
func TestUnreachableVoterIsReplaced(t *testing.T) {
	c := nodetest.NewCluster(t, 6, nodetest.Options{DeadVoterAfter: time.Second})
	c.Form("six")
	leader := c.WaitForLeader()
	raftRole := func(from *nodetest.Member) map[string]string {
		ms, err := from.Client.Members(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]string{}
		for _, m := range ms.Members {
			out[m.Org] = m.Raft
		}
		return out
	}
	roles := raftRole(leader)
	var gone, spare *nodetest.Member
	for _, m := range c.Nodes {
		switch {
		case roles[m.Org] == "nonvoter":
			spare = m
		case roles[m.Org] == "voter" && m != leader && gone == nil:
			gone = m
		}
	}
	if gone == nil || spare == nil {
		t.Fatalf("roles %v: want a follower voter and a non-voter", roles)
	}
	gone.Stop()
	if c.WaitFor(20*time.Second, func() bool {
		roles = raftRole(leader)
		return roles[spare.Org] == "voter" && roles[gone.Org] == "nonvoter"
	}) {
		return
	}
	t.Fatalf("after %s stopped: roles %v; want %s promoted and %s demoted", gone.Org, roles, spare.Org, gone.Org)
}

// TestLaggingMemberCatchesUpFromSnapshot: while a member is down the
// others compact their log into a snapshot; when it restarts it receives
// the snapshot over libp2p, restores the governance state from it and
// agrees with everyone.
func TestLaggingMemberCatchesUpFromSnapshot(t *testing.T) {
	c := nodetest.NewCluster(t, 3, nodetest.Options{SnapshotThreshold: 8, TrailingLogs: 2, SnapshotInterval: 50 * time.Millisecond})
	c.Form("snapshots")
	leader := c.WaitForLeader()
	var lagging *nodetest.Member
	for _, m := range c.Nodes {
		if m != leader {
			lagging = m
			break
		}
	}
	missedFrom := c.Status(lagging).Raft.LastIndex + 1
	lagging.Stop()
	ctx := context.Background()
	for i := 0; i < 40; i++ {
		yaml := contractYAML(fmt.Sprintf("c-%02d", i), orgs(c.Nodes), "all")
		if _, err := leader.Client.Propose(ctx, "c.yaml", yaml); err != nil {
			t.Fatal(err)
		}
	}
	// Wait until the leader's log (it keeps TrailingLogs entries before
	// its snapshot) no longer holds what the lagging member misses: only a
	// snapshot can bring it up to date.
	deadline := time.Now().Add(20 * time.Second)
	for c.Status(leader).Raft.SnapshotIndex <= missedFrom+2 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if snap := c.Status(leader).Raft.SnapshotIndex; snap <= missedFrom+2 {
		t.Fatalf("the leader's snapshot is at %d; the lagging member misses entries from %d", snap, missedFrom)
	}
	lagging.Restart()
	// Before raft hears from anyone, the restarted member knows where
	// every member is: from its snapshot and the log entries after it
	// (a member admitted after its snapshot included; if that member
	// leads, nobody else would tell it).
	for _, m := range c.Nodes {
		if m != lagging && !lagging.Node.KnowsAddrs(m.Node.PeerID()) {
			t.Errorf("after its restart %s has no address of %s", lagging.Org, m.Org)
		}
	}
	c.RequireSameState()
	if st := c.Status(lagging); st.Raft.SnapshotIndex == 0 {
		t.Fatalf("the restarted member caught up without a snapshot: %+v", st.Raft)
	}
	cs, err := lagging.Client.Contracts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(cs.Contracts) != 40 {
		t.Fatalf("the restarted member has %d contracts, want 40", len(cs.Contracts))
	}
	if v, err := lagging.Client.AuditVerify(ctx); err != nil || !v.OK {
		t.Fatalf("audit verify after a snapshot restore: %+v %v", v, err)
	}
}

// TestProposalRefusalsSayWhy: the state machine's reasons reach the user.
func TestProposalRefusalsSayWhy(t *testing.T) {
	c := nodetest.NewCluster(t, 2, nodetest.Options{})
	c.Form("refusals")
	ctx := context.Background()
	tests := []struct{ name, yaml, want string }{
		{"participant not a member", contractYAML("outsiders", []string{"org-0", "org-9"}, "all"), "org-9"},
		{"cohort below the floor", strings.Replace(contractYAML("small-cells", []string{"org-0"}, "all"), "min_cohort: 11", "min_cohort: 5", 1), "floor"},
		{"two participants", contractYAML("pair", []string{"org-0", "org-1"}, "all"), "has 2 participants; a contract needs at least 3"},
	}
	for _, tt := range tests {
		_, err := c.Nodes[1].Client.Propose(ctx, "c.yaml", tt.yaml)
		var ae *client.Error
		if !errors.As(err, &ae) || ae.Kind != "input" || !strings.Contains(ae.Msg, tt.want) {
			t.Errorf("%s: %v, want an input error naming %q", tt.name, err, tt.want)
		} else {
			t.Logf("%s: %s", tt.name, ae.Msg)
		}
	}
}

// TestSubmitAfterLostReplyAppliesOnce: the leader commits an entry but
// answers as if it had lost the lead (as raft does when it steps down
// between commit and reply). The submitter must find the committed entry
// and report its outcome instead of sending it again, which would add a
// second, refused, copy to the log and tell the user it failed. Both
// ways in: a follower forwarding to the leader, and the leader itself.
func TestSubmitAfterLostReplyAppliesOnce(t *testing.T) {
	c := nodetest.NewCluster(t, 3, nodetest.Options{})
	c.Form("lossy")
	c.WaitForKeys() // no key-epoch entries beside the test's own
	ctx := context.Background()
	leader := c.WaitForLeader()
	follower := c.Nodes[0]
	if follower == leader {
		follower = c.Nodes[1]
	}
	for _, via := range []*nodetest.Member{follower, leader} {
		id := "lost-reply-" + via.Org
		leader.Node.LoseApplyReplies(1)
		info, err := via.Client.Propose(ctx, id+".yaml", contractYAML(id, orgs(c.Nodes), "all"))
		if err != nil {
			t.Fatalf("propose via %s: %v", via.Org, err)
		}
		if info.ID != id || info.Version != 1 {
			t.Fatalf("propose via %s: %+v", via.Org, info)
		}
	}
	c.RequireSameState()
	for _, m := range c.Nodes {
		log, err := m.Client.Audit(ctx)
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]int{}
		for _, e := range log.Entries {
			if strings.HasPrefix(e.Object, "lost-reply-") {
				seen[e.Object+" "+e.Kind+" "+e.Detail["outcome"]]++
			}
		}
		want := map[string]int{
			"lost-reply-" + follower.Org + " contract.proposed applied": 1,
			"lost-reply-" + leader.Org + " contract.proposed applied":   1,
		}
		if !maps.Equal(seen, want) {
			t.Errorf("%s: audit %v, want %v", m.Org, seen, want)
		}
	}
}

// TestReadsWriteNothingToTheLog: a read on any node sees every entry
// committed before it (a proposal made through one follower is listed by
// the other at once), and costs no log entry: the leader confirms its
// lead by a heartbeat round (raft's read index) instead of committing a
// barrier, except once per term.
func TestReadsWriteNothingToTheLog(t *testing.T) {
	c := nodetest.NewCluster(t, 3, nodetest.Options{})
	c.Form("reads")
	c.WaitForKeys()
	ctx := context.Background()
	leader := c.WaitForLeader()
	var followers []*nodetest.Member
	for _, m := range c.Nodes {
		if m != leader {
			followers = append(followers, m)
		}
	}
	for i := range 5 {
		id := fmt.Sprintf("read-%d", i)
		if _, err := followers[i%2].Client.Propose(ctx, id+".yaml", contractYAML(id, orgs(c.Nodes), "all")); err != nil {
			t.Fatal(err)
		}
		got, err := followers[(i+1)%2].Client.Contract(ctx, id)
		if err != nil || got.ID != id {
			t.Fatalf("read right after the proposal on another node: %+v %v", got, err)
		}
	}
	before := c.Status(leader).Raft.LastIndex
	for range 20 {
		for _, m := range c.Nodes {
			if _, err := m.Client.Contracts(ctx); err != nil {
				t.Fatal(err)
			}
			if _, err := m.Client.Members(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	if after := c.Status(leader).Raft.LastIndex; after != before {
		t.Fatalf("120 reads grew the raft log from %d to %d entries", before, after)
	}
}

// TestRestartedNonVoterOnANewPortCatchesUp: a non-voter restarts on
// another port (its descriptor still names the old one) and still follows
// the log. A non-voter never campaigns, so raft alone would never dial out
// from it; the node dials the members itself, and identify tells them its
// new address.
func TestRestartedNonVoterOnANewPortCatchesUp(t *testing.T) {
	c := nodetest.NewCluster(t, 6, nodetest.Options{})
	c.Form("six")
	ctx := context.Background()
	leader := c.WaitForLeader()
	ms, err := leader.Client.Members(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var spare *nodetest.Member
	for _, m := range ms.Members {
		if m.Raft == "nonvoter" {
			for _, n := range c.Nodes {
				if n.Org == m.Org {
					spare = n
				}
			}
		}
	}
	if spare == nil {
		t.Fatalf("no non-voter among %+v", ms.Members)
	}
	before := c.Status(spare).Listen
	spare.Restart()
	if after := c.Status(spare).Listen; slices.Equal(before, after) {
		t.Fatalf("%s restarted on the same address %v", spare.Org, after)
	}
	if _, err := leader.Client.Propose(ctx, "c.yaml", contractYAML("after-restart", orgs(c.Nodes), "all")); err != nil {
		t.Fatal(err)
	}
	c.RequireSameState()
}

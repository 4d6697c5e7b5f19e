package node_test

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"io"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/cxnet/cxnet/contracts"
	"github.com/cxnet/cxnet/kpi"
	"github.com/cxnet/cxnet/node/client"
	"github.com/cxnet/cxnet/node/nodetest"
	"github.com/cxnet/cxnet/privacy"
	"github.com/cxnet/cxnet/privacy/privacytest"
)

// BenchmarkGovernanceCommit measures one governance command — a contract
// proposal — end to end on a three-member consortium (local API, signing,
// raft over libp2p on loopback, synced Badger log, state machine on every
// node) against a baseline run in the same process: raft with in-memory
// transport and stores applying an equally signed proposal to the same
// state machine. It reports both and their ratio.
func BenchmarkGovernanceCommit(b *testing.B) {
	base := baselineCommit(b, b.N)
	c := nodetest.NewCluster(b, 3, nodetest.Options{})
	c.Form("bench")
	leader := c.WaitForLeader()
	ctx := context.Background()
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		yaml := fmt.Sprintf("id: bench-%d\nmeasure: nps\naggregate: nps\nparticipants: [org-0, org-1, org-2]\n", i)
		if _, err := leader.Client.Propose(ctx, "bench.yaml", yaml); err != nil {
			b.Fatal(err)
		}
	}
	real := time.Since(start) / time.Duration(b.N)
	b.ReportMetric(float64(real.Microseconds()), "µs/commit")
	b.ReportMetric(float64(base.Microseconds()), "µs/inmem-commit")
	b.ReportMetric(float64(real)/float64(base), "x-inmem")
}

// baselineCommit runs n proposals through a three-server raft with
// in-memory transport and stores, and returns the mean time per commit.
func baselineCommit(b *testing.B, n int) time.Duration {
	b.Helper()
	_, key, _ := ed25519.GenerateKey(nil)
	founder := kpi.Member{Org: "org-0", Name: "org-0", Kind: "hospital", PeerID: "12D3KooWQaGJmgg3FL8sLYtGqrGrStgmbC3S5foSGHcsAoJSHKUp"}
	founder.Sign(key)
	var rafts []*raft.Raft
	var trans []*raft.InmemTransport
	var servers []raft.Server
	for i := 0; i < 3; i++ {
		addr, t := raft.NewInmemTransport(raft.ServerAddress(fmt.Sprint(i)))
		trans = append(trans, t)
		servers = append(servers, raft.Server{ID: raft.ServerID(addr), Address: addr})
	}
	for _, t := range trans {
		for _, u := range trans {
			t.Connect(u.LocalAddr(), u)
		}
	}
	for i, t := range trans {
		conf := raft.DefaultConfig()
		conf.LocalID = servers[i].ID
		conf.HeartbeatTimeout, conf.ElectionTimeout, conf.LeaderLeaseTimeout = 100*time.Millisecond, 200*time.Millisecond, 50*time.Millisecond
		conf.Logger = nil
		conf.LogOutput = io.Discard
		store := raft.NewInmemStore()
		snaps := raft.NewInmemSnapshotStore()
		if i == 0 {
			raft.BootstrapCluster(conf, store, store, snaps, t, raft.Configuration{Servers: servers})
		}
		r, err := raft.NewRaft(conf, contracts.NewFSM(), store, store, snaps, t)
		if err != nil {
			b.Fatal(err)
		}
		rafts = append(rafts, r)
	}
	defer func() {
		for _, r := range rafts {
			r.Shutdown().Error()
		}
	}()
	var leader *raft.Raft
	for deadline := time.Now().Add(10 * time.Second); leader == nil && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		for _, r := range rafts {
			if r.State() == raft.Leader {
				leader = r
			}
		}
	}
	if leader == nil {
		b.Fatal("baseline raft elected no leader")
	}
	apply := func(e []byte) {
		res := leader.Apply(e, 5*time.Second)
		if err := res.Error(); err != nil {
			b.Fatal(err)
		}
		if r := res.Response().(*contracts.ApplyResult); r.Err != nil {
			b.Fatal(r.Err)
		}
	}
	genesis, _ := contracts.Sign(contracts.EntryGenesis, contracts.Genesis{Name: "bench", Founder: founder}, "org-0", key, "")
	apply(genesis)
	id := consortiumID(b, genesis)
	// A contract needs three participants: org-1 (admitted at once) and
	// org-2 (approved by org-1) join.
	signer := map[kpi.OrgID]ed25519.PrivateKey{"org-0": key}
	for _, org := range []kpi.OrgID{"org-1", "org-2"} {
		_, k, _ := ed25519.GenerateKey(nil)
		signer[org] = k
		m := kpi.Member{Org: org, Name: string(org), Kind: "hospital", PeerID: "12D3KooW-bench-" + string(org)}
		m.Sign(k)
		e, _ := contracts.Sign(contracts.EntryAdmitPropose, contracts.AdmitPropose{Member: m}, "org-0", key, id)
		apply(e)
		if org == "org-2" {
			e, _ = contracts.Sign(contracts.EntryAdmitApprove, contracts.AdmitApprove{Org: org, DescriptorHash: contracts.DescriptorHash(m)}, "org-1", signer["org-1"], id)
			apply(e)
		}
	}
	start := time.Now()
	for i := 0; i < n; i++ {
		c, err := contracts.Parse([]byte(fmt.Sprintf("id: bench-%d\nmeasure: nps\naggregate: nps\nparticipants: [org-0, org-1, org-2]\n", i)), "bench.yaml")
		if err != nil {
			b.Fatal(err)
		}
		e, err := contracts.Sign(contracts.EntryContractPropose, contracts.ContractPropose{Contract: c.Canonical(), Hash: c.Hash()}, "org-0", key, id)
		if err != nil {
			b.Fatal(err)
		}
		apply(e)
	}
	return time.Since(start) / time.Duration(n)
}

// consortiumID is the genesis entry's hash, as State computes it.
func consortiumID(b *testing.B, genesis []byte) string {
	s := contracts.NewState()
	if _, err := s.Apply(1, genesis); err != nil {
		b.Fatal(err)
	}
	return s.ID()
}

// BenchmarkKeyEpoch measures a key epoch over the network: from the last
// of four members joining to every node holding the collective public key
// and its threshold key (the leader opens the epoch, each node publishes
// its public-key share through raft, deals Shamir shares to the three
// others over libp2p and combines its own). privacy.BenchmarkKeyEpoch is
// the same crypto in one goroutine.
func BenchmarkKeyEpoch(b *testing.B) {
	var total time.Duration
	for range b.N {
		b.StopTimer()
		c := nodetest.NewCluster(b, 4, nodetest.Options{})
		c.Form("bench")
		b.StartTimer()
		start := time.Now()
		c.WaitForKeys()
		total += time.Since(start)
	}
	b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms/epoch")
}

// BenchmarkRound measures an encrypted round end to end on three members
// (open, inputs computed over 3 × 2,000 records and encrypted, aggregation,
// two threshold decryptions with every decryptor checking the policy,
// release through raft) against the pure crypto of the same round in one
// goroutine: the same number of ciphertexts encrypted, added, shared and
// opened.
func BenchmarkRound(b *testing.B) {
	ctx := context.Background()
	c := nodetest.NewCluster(b, 3, nodetest.Options{})
	c.Form("bench")
	c.WaitForKeys()
	for i, m := range c.Nodes {
		var sb strings.Builder
		sb.WriteString("record_id,subject,measure,value,time,care_setting\n")
		for j := range 2000 {
			fmt.Fprintf(&sb, "%d-%d,p%d,nps,%d,2026-03-01,%s\n", i, j, j, j%11, []string{"inpatient", "outpatient"}[j%2])
		}
		if _, err := m.Client.Import(ctx, client.ImportRequest{Format: "csv"}, nil,
			[]client.ImportFile{{Name: "b.csv", Body: strings.NewReader(sb.String())}}); err != nil {
			b.Fatal(err)
		}
	}
	yaml := "id: nps-bench\nmeasure: nps\naggregate: nps\ngroup_by: {care_setting: [inpatient, outpatient, pharmacy]}\n" +
		"participants: [org-0, org-1, org-2]\napprovals: 1\n"
	if _, err := c.Nodes[0].Client.Propose(ctx, "b.yaml", yaml); err != nil {
		b.Fatal(err)
	}
	// The floor: the same round's cryptography in one goroutine, each
	// input one vector of 3 cells' counts and feeds and their 9 components.
	floor, err := privacytest.RoundFloor(privacy.DefaultParams(), b.N, 3, 2, 2*3+9)
	if err != nil {
		b.Fatal(err)
	}
	base := floor.Round
	var sent atomic.Int64
	c.Nodes[0].Node.Tap(func(_ string, req, reply []byte) { sent.Add(int64(len(req) + len(reply))) })
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		if _, err := c.Nodes[0].Client.RunRound(ctx, "nps-bench"); err != nil {
			b.Fatal(err)
		}
	}
	real := time.Since(start) / time.Duration(b.N)
	b.ReportMetric(float64(sent.Load())/float64(b.N)/3, "bytes/participant")
	b.ReportMetric(float64(real.Milliseconds()), "ms/round")
	b.ReportMetric(float64(base.Microseconds())/1000, "ms/crypto-round")
	b.ReportMetric(float64(real)/float64(base), "x-crypto")
}

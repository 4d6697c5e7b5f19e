package node_test

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/cxnet/cxnet/contracts"
	"github.com/cxnet/cxnet/kpi"
	"github.com/cxnet/cxnet/node/nodetest"
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
		yaml := fmt.Sprintf("id: bench-%d\nmeasure: nps\naggregate: nps\nparticipants: [%s]\n", i, leader.Org)
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
	start := time.Now()
	for i := 0; i < n; i++ {
		c, err := contracts.Parse([]byte(fmt.Sprintf("id: bench-%d\nmeasure: nps\naggregate: nps\nparticipants: [org-0]\n", i)), "bench.yaml")
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

package sim

import (
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	mocknet "github.com/libp2p/go-libp2p/p2p/net/mock"

	"github.com/cxnet/cxnet/node/nodetest"
	"github.com/cxnet/cxnet/protocol/round"
)

// DuringRound arranges for fault to run when agg, aggregating a round,
// first opens a round stream to a member (it is asking for inputs: the
// round is open in the log). It returns a channel closed once fault has
// returned.
func (s *Sim) DuringRound(agg *nodetest.Member, fault func()) <-chan struct{} {
	done := make(chan struct{})
	s.Net.OnFirstStream(Peer(agg), round.ID, func(peer.ID) {
		defer close(done)
		fault()
	})
	return done
}

// PartitionOff cuts the given members off from the others (links and
// connections), until Heal.
func (s *Sim) PartitionOff(group ...*nodetest.Member) {
	var in, out []peer.ID
	for _, m := range group {
		in = append(in, Peer(m))
	}
	for _, m := range s.Except(group...) {
		out = append(out, Peer(m))
	}
	s.Net.Partition(in, out)
}

// Heal undoes every partition.
func (s *Sim) Heal() {
	if err := s.Net.Heal(); err != nil {
		s.tb.Fatal(err)
	}
}

// SlowNode gives every link of m the given one-way latency from now on.
func (s *Sim) SlowNode(m *nodetest.Member, latency time.Duration) {
	o := s.Net.defaults
	o.Latency = latency
	s.Net.SetLinks(Peer(m), mocknet.LinkOptions(o))
}

// Leader returns the raft leader the given members (default: all) agree
// on.
func (s *Sim) Leader(members ...*nodetest.Member) *nodetest.Member {
	return s.Cluster.WaitForLeader(members...)
}

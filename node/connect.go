package node

import (
	"context"
	"maps"
	"sync"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/cxnet/cxnet/contracts"
)

// connectMembers dials, at once, each member this node has no connection
// to. Identify then tells the member this node's current addresses: a
// node restarted on another port is found again at once, even a
// non-voter (which never campaigns, so raft alone would never dial out),
// without a governance entry.
func (c *consortium) connectMembers(ctx context.Context) {
	if c.getRaft() == nil {
		return // not in a consortium (yet)
	}
	// The admitted members, and raft's servers: a restarted node's state
	// machine is empty until raft hears a commit index, its
	// configuration is not.
	ids := map[string]bool{}
	c.fsm.Read(func(s *contracts.State) {
		for _, m := range s.Members() {
			if m.State == contracts.MemberAdmitted {
				ids[m.Member.PeerID] = true
			}
		}
	})
	voters, nonvoters := c.servers()
	maps.Copy(ids, voters)
	maps.Copy(ids, nonvoters)
	self := c.host.ID()
	var peers []peer.ID
	for id := range ids {
		if p, err := peer.Decode(id); err == nil && p != self {
			peers = append(peers, p)
		}
	}
	raw := c.host.Raw()
	var wg sync.WaitGroup
	for _, p := range peers {
		if raw.Network().Connectedness(p) == network.Connected || c.blocked.Allowed(p) {
			continue
		}
		wg.Go(func() {
			info := peer.AddrInfo{ID: p, Addrs: raw.Peerstore().Addrs(p)}
			if err := c.host.Connect(ctx, info); err != nil {
				c.log.Debug("member unreachable", "peer", p, "err", err)
			}
		})
	}
	wg.Wait()
}

package node

import (
	"context"
	"encoding/json"
	"log/slog"
	"maps"
	"sync"

	"github.com/hashicorp/raft"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/cxnet/cxnet/contracts"
	"github.com/cxnet/cxnet/kpi"
	"github.com/cxnet/cxnet/protocol"
	"github.com/cxnet/cxnet/store"
)

// peerManager decides which peers may reach this node and keeps it in
// touch with the members: the allow-lists the host and the protocols ask,
// the members' addresses in the peerstore, and a connection to each.
type peerManager struct {
	log  *slog.Logger
	fsm  *contracts.FSM
	logs *store.RaftLog
	// host is the node's libp2p host (set by the consortium).
	host *protocol.Host
	// servers are raft's servers by suffrage (raftManager.servers; set
	// by the consortium).
	servers func() (voters, nonvoters map[string]bool)
	// known are peers allowed before this node's state machine knows them:
	// the members a join reply named, and every server in raft's
	// configuration (a restarted node learns members from the log).
	known *protocol.PeerSet
	// blocked are peers refused whatever their membership (fault
	// injection: BlockPeers).
	blocked *protocol.PeerSet
}

func newPeerManager(log *slog.Logger, fsm *contracts.FSM, logs *store.RaftLog) *peerManager {
	return &peerManager{log: log, fsm: fsm, logs: logs, known: protocol.NewPeerSet(), blocked: protocol.NewPeerSet()}
}

// allowed says whether p may connect: an admitted member, or a peer raft
// or a join told us about.
func (pm *peerManager) allowed(p peer.ID) bool {
	if pm.blocked.Contains(p) {
		return false
	}
	return pm.known.Contains(p) || pm.admitted(p)
}

// inRaft says whether p may speak raft and the governance protocol to
// this node: a server of raft's configuration, or a peer a join or the
// local log named. An admitted member that has not joined yet may only
// use the join protocol.
func (pm *peerManager) inRaft(p peer.ID) bool {
	if pm.blocked.Contains(p) {
		return false
	}
	if pm.known.Contains(p) {
		return true
	}
	voters, nonvoters := pm.servers()
	return voters[p.String()] || nonvoters[p.String()]
}

// block refuses the peers with the given ids whatever their membership,
// or, with on false, no longer (fault injection: Node.BlockPeers).
func (pm *peerManager) block(on bool, ids ...string) {
	for _, s := range ids {
		if id, err := peer.Decode(s); err == nil && on {
			pm.blocked.Add(id)
		} else if err == nil {
			pm.blocked.Remove(id)
		}
	}
	if on {
		pm.host.DisconnectNonMembers()
	}
}

// admitted says whether p is an admitted member's node.
func (pm *peerManager) admitted(p peer.ID) bool {
	ok := false
	pm.fsm.Read(func(s *contracts.State) { ok = s.PeerAllowed(p.String()) })
	return ok
}

// know allows peers before the state machine knows them (raft's servers,
// the members a join named) and protects their connections.
func (pm *peerManager) know(ids ...peer.ID) {
	for _, id := range ids {
		pm.known.Add(id)
		pm.host.Protect(id)
	}
}

// learn puts the admitted members among ms in the peerstore and protects
// their connections; with know, it also allows them before the state
// machine knows them.
func (pm *peerManager) learn(ms []kpi.Member, know bool) {
	for _, m := range ms {
		if m.PeerID == pm.host.ID().String() {
			continue
		}
		info, err := protocol.AddrInfo(m)
		if err != nil {
			pm.log.Warn("member descriptor", "org", string(m.Org), "err", err)
			continue
		}
		if know {
			pm.known.Add(info.ID)
		}
		pm.host.AddPeer(info)
		pm.host.Protect(info.ID)
	}
}

// admittedOf are the admitted members of s.
func admittedOf(s *contracts.State) []kpi.Member {
	var out []kpi.Member
	for _, m := range s.Members() {
		if m.State == contracts.MemberAdmitted {
			out = append(out, m.Member)
		}
	}
	return out
}

// learnMembers puts every admitted member's addresses in the peerstore
// and protects its connections.
func (pm *peerManager) learnMembers() {
	if pm.host == nil {
		return
	}
	var members []kpi.Member
	pm.fsm.Read(func(s *contracts.State) { members = admittedOf(s) })
	pm.learn(members, false)
}

// seedPeers tells the host where the members are before raft has replayed
// the log (raft applies entries only once it hears of the commit index, and
// it cannot hear without addresses): the members of the restored snapshot
// and of every governance entry in the local log, applied to a scratch
// state.
func (pm *peerManager) seedPeers() {
	pm.learnMembers()
	first, err1 := pm.logs.FirstIndex()
	last, err2 := pm.logs.LastIndex()
	if err1 != nil || err2 != nil || last == 0 {
		return
	}
	// The scratch state starts from this node's own (a restored snapshot,
	// whose entries the log may no longer hold) and takes the log from
	// there.
	var snap []byte
	pm.fsm.Read(func(s *contracts.State) { snap, _ = json.Marshal(s) })
	from := max(first, pm.fsm.Index()+1)
	scratch := contracts.NewState()
	if err := json.Unmarshal(snap, scratch); err != nil {
		pm.log.Warn("seed peers from the local log", "err", err)
		return
	}
	var l raft.Log
	for i := from; i <= last; i++ {
		if pm.logs.GetLog(i, &l) != nil || l.Type != raft.LogCommand {
			continue
		}
		scratch.Apply(i, l.Data) // refusals are the log's business, not ours
	}
	pm.learn(admittedOf(scratch), true)
}

// connectMembers dials, at once, each member this node has no connection
// to. Identify then tells the member this node's current addresses: a
// node restarted on another port is found again at once, even a
// non-voter (which never campaigns, so raft alone would never dial out),
// without a governance entry.
func (pm *peerManager) connectMembers(ctx context.Context) {
	// The admitted members, and raft's servers: a restarted node's state
	// machine is empty until raft hears a commit index, its
	// configuration is not.
	voters, nonvoters := pm.servers()
	if len(voters) == 0 {
		return // not in a consortium (yet)
	}
	ids := map[string]bool{}
	pm.fsm.Read(func(s *contracts.State) {
		for _, m := range admittedOf(s) {
			ids[m.PeerID] = true
		}
	})
	maps.Copy(ids, voters)
	maps.Copy(ids, nonvoters)
	self := pm.host.ID()
	raw := pm.host.Raw()
	var wg sync.WaitGroup
	for id := range ids {
		p, err := peer.Decode(id)
		if err != nil || p == self || raw.Network().Connectedness(p) == network.Connected || pm.blocked.Contains(p) {
			continue
		}
		wg.Go(func() {
			info := peer.AddrInfo{ID: p, Addrs: raw.Peerstore().Addrs(p)}
			if err := pm.host.Connect(ctx, info); err != nil {
				pm.log.Debug("member unreachable", "peer", p, "err", err)
			}
		})
	}
	wg.Wait()
}

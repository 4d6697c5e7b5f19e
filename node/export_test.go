package node

import "github.com/libp2p/go-libp2p/core/peer"

// LoseApplyReplies makes this node, while it is the raft leader, answer
// its next n applied entries as if it had lost the lead between commit
// and reply: the entries are in the log, the submitters are told
// raft.ErrLeadershipLost.
func (n *Node) LoseApplyReplies(k int32) { n.cons.loseReplies.Store(k) }

// KnowsAddrs reports whether this node's libp2p peerstore holds an
// address of the peer.
func (n *Node) KnowsAddrs(peerID string) bool {
	id, err := peer.Decode(peerID)
	return err == nil && len(n.cons.host.Raw().Peerstore().Addrs(id)) > 0
}

package node

// LoseApplyReplies makes this node, while it is the raft leader, answer
// its next n applied entries as if it had lost the lead between commit
// and reply: the entries are in the log, the submitters are told
// raft.ErrLeadershipLost.
func (n *Node) LoseApplyReplies(k int32) { n.cons.loseReplies.Store(k) }

package node

import (
	"context"
	"slices"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/cxnet/cxnet/contracts"
	"github.com/cxnet/cxnet/kpi"
)

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

// Deviation is a way for a test to make a node deviate from the
// protocol, as a cheating member's modified node would.
type Deviation struct {
	// RevealOtherKeyShare: the node reveals another public-key share than
	// the one it committed to (the rogue-key attack's last step).
	RevealOtherKeyShare bool
	// FetchBeforeSeal: as aggregator, the node asks for the participants'
	// ciphertexts before it seals the round (to choose its own input
	// after seeing theirs).
	FetchBeforeSeal bool
	// DropInput: as aggregator, the node leaves this organisation's input
	// out of what it has decrypted.
	DropInput string
	// ForgeShare: as aggregator, the node changes another decryptor's
	// share before passing the shares on.
	ForgeShare bool
	// InflateCounts: as aggregator, the node claims every cell reaches
	// the floor, with a count of 1000, when it asks for the pads.
	InflateCounts bool
}

// Deviate makes the node deviate as d says (adversarial tests only).
func (n *Node) Deviate(d Deviation) {
	c := n.cons
	h := &deviations{}
	if d.RevealOtherKeyShare {
		h.keyShare = func(e contracts.KeyEpoch, share []byte) []byte {
			if _, committed := e.Commits[c.keys.org]; !committed {
				return share
			}
			other := slices.Clone(share)
			other[len(other)-1] ^= 1
			return other
		}
	}
	if d.FetchBeforeSeal {
		h.beforeSeal = func(round string) {
			for _, org := range c.dev().participants(c, round) {
				var in roundInput
				err := c.callRound(context.Background(), org, roundRequest{Op: opFetch, Round: round}, &in)
				c.log.Warn("deviating: fetched before the seal", "from", string(org), "err", err)
			}
		}
	}
	if d.DropInput != "" {
		h.inputs = func(_ string, in map[kpi.OrgID]roundInput) { delete(in, kpi.OrgID(d.DropInput)) }
	}
	if d.ForgeShare {
		h.shares = func(_ string, s map[kpi.OrgID]roundShare) {
			for org, sh := range s {
				if org != c.keys.org {
					sh.Counts = slices.Clone(sh.Counts)
					sh.Counts[0] = slices.Clone(sh.Counts[0])
					sh.Counts[0][len(sh.Counts[0])-1] ^= 1
					s[org] = sh
					return
				}
			}
		}
	}
	if d.InflateCounts {
		h.opened = func(_ string, o *kpi.Opened) {
			for i := range o.Counts {
				o.Counts[i] = 1000
			}
		}
	}
	c.deviate.Store(h)
}

// participants are the participants of a round's contract.
func (*deviations) participants(c *consortium, round string) []kpi.OrgID {
	var out []kpi.OrgID
	c.fsm.Read(func(s *contracts.State) {
		r, _ := s.Round(round)
		rec, _ := s.Contract(r.Contract)
		out = rec.Participants
	})
	return out
}

package node

import (
	"context"
	"slices"

	"github.com/hashicorp/raft"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/cxnet/cxnet/contracts"
	"github.com/cxnet/cxnet/kpi"
	"github.com/cxnet/cxnet/node/rounds"
	"github.com/cxnet/cxnet/privacy"
	"github.com/cxnet/cxnet/protocol/round"
)

// LoseApplyReplies makes this node, while it is the raft leader, answer
// its next n applied entries as if it had lost the lead between commit
// and reply: the entries are in the log, the submitters are told
// raft.ErrLeadershipLost.
func (n *Node) LoseApplyReplies(k int32) { n.cons.raft.loseReplies.Store(k) }

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
	// out of the sum it has decrypted.
	DropInput string
	// ForgeShare: as aggregator, the node counts another decryptor's
	// share twice in the shares' sum it has the decryptors open (any
	// other sum than the true one, to open counts of its choosing).
	ForgeShare bool
	// InflateCounts: as aggregator, the node claims every cell reaches
	// the floor, with a count of 1000, when it asks for the pads.
	InflateCounts bool
	// ForgeRelease: as aggregator, the node publishes a release whose
	// opened sums are not those the decryptors attested (to release
	// values of its choosing).
	ForgeRelease bool
	// ForgePadSum: as aggregator, the node has the participants
	// fingerprint their pads against a sum off by one in a component, and
	// publishes it (to shift a released value).
	ForgePadSum bool
	// AfterCommit and AfterDecrypt run on the aggregator once the
	// participants committed (before the seal), and once the decryptors
	// gave their shares (faults: a test stops a node there).
	AfterCommit, AfterDecrypt func()
}

// Deviate makes the node deviate as d says (adversarial tests only).
func (n *Node) Deviate(d Deviation) {
	c := n.cons
	h := &rounds.Deviations{}
	var keyShare func(e contracts.KeyEpoch, share []byte) []byte
	if d.RevealOtherKeyShare {
		keyShare = func(e contracts.KeyEpoch, share []byte) []byte {
			if _, committed := e.Commits[kpi.OrgID(c.cfg.Org)]; !committed {
				return share
			}
			other := slices.Clone(share)
			other[len(other)-1] ^= 1
			return other
		}
	}
	if d.FetchBeforeSeal {
		h.BeforeSeal = func(id string) {
			for _, org := range c.participants(id) {
				var in round.Input
				err := c.rounds.Call(context.Background(), org, round.Request{Op: round.OpFetch, Round: id}, &in)
				c.log.Warn("deviating: fetched before the seal", "from", string(org), "err", err)
			}
		}
	}
	if d.ForgeRelease {
		h.Release = func(r *contracts.RoundRelease) {
			r.Opened.Sums = slices.Clone(r.Opened.Sums)
			if len(r.Opened.Sums) > 0 {
				r.Opened.Sums[0]++
			}
		}
	}
	if d.ForgePadSum {
		h.PadSum = func(sum []byte) {
			if len(sum) > 0 {
				sum[0]++
			}
		}
	}
	if f := d.AfterCommit; f != nil {
		h.BeforeSeal = func(string) { f() }
	}
	if f := d.AfterDecrypt; f != nil {
		h.Shares = func(string, map[kpi.OrgID]round.Share) { f() }
	}
	if d.DropInput != "" {
		h.Inputs = func(_ string, in map[kpi.OrgID]round.Input) { delete(in, kpi.OrgID(d.DropInput)) }
		h.Unchecked = true
	}
	if d.ForgeShare {
		h.ShareParts = func(active []kpi.OrgID) []kpi.OrgID {
			for _, org := range active {
				if org != kpi.OrgID(c.cfg.Org) {
					return append(slices.Clone(active), org)
				}
			}
			return active
		}
		h.Unchecked = true
	}
	if d.InflateCounts {
		h.Opened = func(_ string, o *kpi.Opened) {
			for i := range o.Counts {
				o.Counts[i] = 1000
			}
		}
	}
	c.keyShare.Store(nil)
	if keyShare != nil {
		c.keyShare.Store(&keyShare)
	}
	c.rounds.Deviate(h)
}

// participants are the participants of a round's contract.
func (c *consortium) participants(round string) []kpi.OrgID {
	var out []kpi.OrgID
	c.fsm.Read(func(s *contracts.State) {
		r, _ := s.Round(kpi.RoundID(round))
		rec, _ := s.Contract(r.Contract)
		out = rec.Participants
	})
	return out
}

// Tap records every round request the node sends to another member and
// the reply, as they cross the stream (adversarial tests only).
func (n *Node) Tap(f func(to string, req, reply []byte)) {
	n.cons.keyShare.Store(nil)
	n.cons.rounds.Deviate(&rounds.Deviations{Tap: func(to kpi.OrgID, req, reply []byte) { f(string(to), req, reply) }})
}

// LogEntries returns the command entries of the node's raft log.
func (n *Node) LogEntries() [][]byte {
	logs := n.cons.db.RaftLog()
	first, _ := logs.FirstIndex()
	last, _ := logs.LastIndex()
	var out [][]byte
	for i := first; i <= last && i > 0; i++ {
		var l raft.Log
		if logs.GetLog(i, &l) == nil && l.Type == raft.LogCommand {
			out = append(out, l.Data)
		}
	}
	return out
}

// CheckRoundMessage decodes a round request or reply as the protocol
// defines them and checks every ciphertext and share in it is well
// formed: it returns how many it checked.
func CheckRoundMessage(b []byte, request bool) (int, error) {
	p := privacy.DefaultParams()
	n := 0
	cts := func(v privacy.Ciphertexts) error {
		n += len(v)
		return privacy.CheckCiphertexts(p, v)
	}
	shares := func(v privacy.Ciphertexts) error {
		n += len(v)
		return privacy.CheckShares(p, v)
	}
	if request {
		req, err := round.Decode(b)
		if err != nil {
			return 0, err
		}
		switch {
		case req.Op == round.OpDecrypt: // the sum of the inputs
			return n, cts(req.Sum.Ciphertexts)
		case req.Op == round.OpAttest: // the sum of the shares
			return n, shares(req.Sum.Ciphertexts)
		}
		return n, nil
	}
	if len(b) > 0 && b[0]>>5 == 2 { // a CBOR byte string: an attestation
		var sig []byte
		return 0, round.DecodeReply(b, &sig)
	}
	var reply struct {
		Ciphertexts privacy.Ciphertexts `json:"ciphertexts"`
		Sig         []byte              `json:"sig"`
		Pads        []byte              `json:"pads"`
		Fingerprint []uint64            `json:"fingerprint"`
		Entry       []byte              `json:"entry"`
		Print       string              `json:"print"`
	}
	if err := round.DecodeReply(b, &reply); err != nil {
		return 0, err
	}
	if reply.Sig != nil && reply.Pads == nil && reply.Fingerprint == nil { // a share
		return n, shares(reply.Ciphertexts)
	}
	return n, cts(reply.Ciphertexts)
}

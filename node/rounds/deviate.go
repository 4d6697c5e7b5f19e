package rounds

import (
	"github.com/cxnet/cxnet/contracts"
	"github.com/cxnet/cxnet/kpi"
	"github.com/cxnet/cxnet/protocol/round"
)

// Deviations make a node deviate from the protocol, for the adversarial
// tests only: node's export_test.go sets them (Deviate), no real node
// does, and no flag or config reaches them. A nil field is the honest
// behaviour. Each hook sees or changes what the node is about to do at
// one step, as a cheating member's modified node would.
type Deviations struct {
	// BeforeSeal runs on the aggregator after the commitments, before it
	// seals the round.
	BeforeSeal func(round string)
	// Inputs, Shares and Opened change what the aggregator collected
	// before it passes it on.
	Inputs func(round string, in map[kpi.OrgID]round.Input)
	Shares func(round string, s map[kpi.OrgID]round.Share)
	Opened func(round string, o *kpi.Opened)
	// ShareParts chooses whose shares the aggregator sums (the threshold
	// set, once each).
	ShareParts func(active []kpi.OrgID) []kpi.OrgID
	// Unchecked: the aggregator passes on what it collected without
	// checking the fingerprints it got (the decryptors check them).
	Unchecked bool
	// Release changes the release this aggregator publishes.
	Release func(r *contracts.RoundRelease)
	// PadSum changes the sum of the pads the aggregator asks the
	// participants to fingerprint theirs against.
	PadSum func(sum []byte)
	// Tap sees every round request this node sends and the reply it
	// gets, as a wiretap on the stream would after decryption.
	Tap func(to kpi.OrgID, req, reply []byte)
}

// Deviate makes this node's rounds deviate as d says, from now on (nil:
// honest again). Adversarial tests only.
func (m *Manager) Deviate(d *Deviations) { m.deviate.Store(d) }

var honest = &Deviations{}

// dev returns this node's deviations (none, for every real node).
func (m *Manager) dev() *Deviations {
	if d := m.deviate.Load(); d != nil {
		return d
	}
	return honest
}

package node

import (
	"github.com/cxnet/cxnet/contracts"
	"github.com/cxnet/cxnet/kpi"
	"github.com/cxnet/cxnet/protocol/round"
)

// deviations make a node deviate from the protocol, for the adversarial
// tests: export_test.go sets them, nothing else does. A nil field is the
// honest behaviour. Each hook sees or changes what the node is about to
// do at one step, as a cheating member's modified node would.
type deviations struct {
	// keyShare replaces the public-key share this node commits to and
	// publishes for epoch e.
	keyShare func(e contracts.KeyEpoch, share []byte) []byte
	// inputDigest replaces the digest this participant registers.
	inputDigest func(round, digest string) string
	// share changes this decryptor's share before it is signed.
	share func(round string, s *round.Share)
	// beforeSeal runs on the aggregator after the commitments, before it
	// seals the round.
	beforeSeal func(round string)
	// inputs, shares and opened change what the aggregator collected
	// before it passes it on.
	inputs func(round string, in map[kpi.OrgID]round.Input)
	shares func(round string, s map[kpi.OrgID]round.Share)
	opened func(round string, o *kpi.Opened)
	// shareParts chooses whose shares the aggregator sums (the threshold
	// set, once each).
	shareParts func(active []kpi.OrgID) []kpi.OrgID
	// unchecked: the aggregator passes on what it collected without
	// checking the fingerprints it got (the decryptors check them).
	unchecked bool
	// release changes the release this aggregator publishes.
	release func(r *contracts.RoundRelease)
	// tap sees every round request this node sends and the reply it
	// gets, as a wiretap on the stream would after decryption.
	tap func(to kpi.OrgID, req, reply []byte)
}

var honest = &deviations{}

// dev returns this node's deviations (none, for every real node).
func (c *consortium) dev() *deviations {
	if d := c.deviate.Load(); d != nil {
		return d
	}
	return honest
}

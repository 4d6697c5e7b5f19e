// Package round is the /cxnet/round protocol: what a KPI round's
// aggregator asks the other members' nodes, and what they answer. Its
// messages, the client the aggregator calls with and the server the
// members answer with are side by side here; what a member checks before
// it answers (the round's policy) belongs to the node, behind Backend.
//
// The steps of a round, each a request from the aggregator:
//
//	commit   a participant computes, pads, encrypts and commits its input
//	fetch    a participant hands over its ciphertexts, once the round is sealed
//	decrypt  a decryptor gives its signed share of the sums of the sealed inputs
//	attest   a decryptor opens the sums from every share and signs what opened
//	pads     a participant reveals (or seals to the readers) its pads of the kept cells
//
// It imports only the standard library, kpi, go-libp2p and protocol/rpc.
package round

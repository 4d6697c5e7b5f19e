// Package round is the /cxnet/round protocol: what a KPI round's
// aggregator asks the other members' nodes, and what they answer. Its
// messages, the client the aggregator calls with and the server the
// members answer with are side by side here; what a member checks before
// it answers (the round's policy) belongs to the node, behind Backend.
//
// The steps of a round, each a request from the aggregator:
//
//	commit   a participant computes, pads, encrypts and keeps its input, and
//	         answers its signed commitment (round.input), which the seal carries
//	fetch    a participant hands over its ciphertexts, once the round is sealed
//	print    a participant signs its input's fingerprint against the inputs' sum
//	decrypt  a decryptor checks the sum by the fingerprints and gives its signed share
//	print    a decryptor signs its share's fingerprint against the shares' sum
//	attest   a decryptor checks the shares' sum by the fingerprints, opens the
//	         round's sums with it and signs what opened
//	pads     a participant reveals (or seals to the readers) its pads of the kept cells
//
// Messages are CBOR (codec.go).
//
// It imports only the standard library, kpi, go-libp2p, fxamacker/cbor and
// protocol/rpc.
package round

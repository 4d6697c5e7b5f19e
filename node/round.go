package node

// KPI rounds (DESIGN §5), safe against one member that deviates. The node
// that opens a round aggregates it:
//
//  1. it opens the round in the log (round.open);
//  2. commit: it asks every participant to commit to its input. The
//     participant computes its components over its own records, adds its
//     share of DP noise (if any) and a secret uniform 64-bit pad to every
//     component, encrypts the cells' counts and the padded components
//     under the consortium's key, keeps them, and registers their digest
//     in the log (round.input). No ciphertext leaves it yet;
//  3. seal: the aggregator seals the round (round.seal); the state
//     machine fixes the inputs — every input registered, no other — or
//     fails the round when the privacy rules refuse that set;
//  4. fetch: only now does each sealed participant hand its ciphertexts
//     to the aggregator, so no input can be chosen after seeing another;
//  5. decrypt: a threshold set of key members each check the inputs
//     against the sealed digests, sum them and give one decryption share
//     of the sums (kept, and given again unchanged), signed;
//  6. attest: each of them gets every signed share, opens the counts and
//     the padded sums itself, decides which cells reach the floor and
//     signs what it opened (kpi.Opened);
//  7. pads: each sealed participant checks the decryptors' signatures and
//     the floor, and reveals its pads of the kept cells only, signed:
//     the padded sum of a cell under the floor stays uniformly random;
//  8. release: the aggregator publishes the signed attestations and pads
//     (round.release), and every node's state machine computes the
//     released cells from them itself.
//
// A failure at any step is recorded in the log (round.fail) with the
// reason, naming the member that failed or deviated when it is known.

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/cxnet/cxnet/contracts"
	"github.com/cxnet/cxnet/kpi"
	"github.com/cxnet/cxnet/privacy"
	"github.com/cxnet/cxnet/protocol/round"
	"github.com/cxnet/cxnet/protocol/rpc"
)

// roundLimits bound /cxnet/round exchanges: a decryption request carries
// every input of the round.
var roundLimits = rpc.Limits{MaxMsgSize: 64 << 20, Timeout: 2 * time.Minute}

// inputDigest is what a participant registers in the log for its input.
// It covers the ciphertexts only, so an input replayed into another round
// has the same digest, and the state machine refuses it.
func inputDigest(in *round.Input) string {
	h := sha256.New()
	h.Write([]byte("cxnet/round-input/v2\x00"))
	for _, v := range [][][]byte{in.Counts, in.Values} {
		fmt.Fprintf(h, "%d\x00", len(v))
		for _, b := range v {
			fmt.Fprintf(h, "%d\x00", len(b))
			h.Write(b)
		}
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}

// keptInput is what a participant keeps of its input: the ciphertexts and
// the pads, which it reveals only for the cells that reach the floor.
type keptInput struct {
	round.Input
	Pads []uint64 `json:"pads"`
}

// shareBytes is what a decryptor signs with its share.
func shareBytes(consortiumID, id string, active []kpi.OrgID, s *round.Share) []byte {
	h := sha256.New()
	b, _ := json.Marshal(struct {
		Active []kpi.OrgID         `json:"active"`
		Counts privacy.Ciphertexts `json:"counts"`
		Values privacy.Ciphertexts `json:"values"`
	}{active, s.Counts, s.Values})
	h.Write(b)
	return []byte("cxnet/round-share/v1\x00" + consortiumID + "\x00" + id + "\x00" + hex.EncodeToString(h.Sum(nil)))
}

// keptShare is what a decryptor keeps of a round: the set it decrypted
// for and its share (secret "share"), and the sums it decrypted (secret
// "sums").
type keptShare struct {
	Active []kpi.OrgID `json:"active"`
	Share  round.Share `json:"share"`
	keptSums
}

type keptSums struct {
	Counts privacy.Ciphertexts `json:"counts"`
	Values privacy.Ciphertexts `json:"values"`
}

// roundView is what a node checks a round against: its own state.
type roundView struct {
	round    contracts.Round
	contract *contracts.Contract
	keys     contracts.KeyEpoch
	cid      string // the consortium's id
}

// roundView reads round id from this node's state and checks it may take
// part: the round is in state want, its contract active at the round's
// version, and the round's key epoch is the consortium's key.
func (c *consortium) roundView(id string, want contracts.RoundState) (*roundView, error) {
	var (
		v      roundView
		ok, hk bool
		rec    contracts.ContractRecord
		hasRec bool
	)
	c.fsm.Read(func(s *contracts.State) {
		v.round, ok = s.Round(kpi.RoundID(id))
		v.keys, hk = s.Keys()
		rec, hasRec = s.Contract(v.round.Contract)
		v.cid = s.ID()
	})
	switch {
	case !ok:
		return nil, fmt.Errorf("there is no round %q", id)
	case v.round.State != want:
		what := string(v.round.State)
		if v.round.Reason != "" {
			what += ": " + v.round.Reason
		}
		return nil, fmt.Errorf("round %s is %s, not %s", id, what, want)
	case !hasRec || rec.State != contracts.ContractActive || rec.Version != v.round.Version || rec.Hash != v.round.Hash:
		return nil, fmt.Errorf("round %s: contract %s v%d is no longer active at that version", id, v.round.Contract, v.round.Version)
	case !hk || v.keys.Epoch != v.round.Epoch:
		return nil, fmt.Errorf("round %s: key epoch %d is no longer the consortium's key", id, v.round.Epoch)
	}
	var err error
	if v.contract, err = rec.Contract(); err != nil {
		return nil, err
	}
	if eps := v.contract.Privacy.Epsilon; eps.Mantissa != 0 && v.round.Epsilon != eps.String() {
		return nil, fmt.Errorf("round %s spends epsilon %q, but %s's is %s", id, v.round.Epsilon, v.contract.ID, eps)
	}
	return &v, nil
}

// roundSender authorises a /cxnet/round stream before a byte of it is
// read: only the aggregator of an ongoing round sends large requests (a
// decryption request carries every input), up to roundLimits. Another
// admitted member may send a small one, up to smallRoundRequest: the
// first request of a round (commit) can arrive before this node applied
// the round's opening, and the handler checks it once synced. Anyone
// else is refused at once.
func (c *consortium) roundSender(p peer.ID) (int, error) {
	var member, aggregating bool
	c.fsm.Read(func(s *contracts.State) {
		for _, m := range s.Members() {
			if m.Member.PeerID == p.String() && m.State == contracts.MemberAdmitted {
				member, aggregating = true, s.Aggregating(m.Member.Org)
				return
			}
		}
	})
	switch {
	case aggregating:
		return roundLimits.MaxMsgSize, nil
	case member:
		return smallRoundRequest, nil
	}
	return 0, errors.New("only members send round requests")
}

// smallRoundRequest bounds a round request from a member this node does
// not know to aggregate an ongoing round.
const smallRoundRequest = 16 << 10

var _ round.Backend = roundBackend{}

// secretRound prefixes what this node keeps of a round it takes part in,
// as secrets of the round's key epoch: "input" (its encrypted input and
// pads), "share" (its decryption share) and "sums" (the sums it
// decrypted).
const secretRound = "round/"

func roundSecret(id, what string) string { return secretRound + id + "/" + what }

// forgetEndedRounds deletes what this node kept of the rounds of the
// consortium's key epoch that ended (released or failed): the policy
// refuses every request for an ended round, so they are of no more use.
// Older epochs' go with their key. A share stored while its round ended
// is caught by the next call.
func (c *consortium) forgetEndedRounds() error {
	var keys contracts.KeyEpoch
	var ok bool
	c.fsm.Read(func(s *contracts.State) { keys, ok = s.Keys() })
	if !ok {
		return nil
	}
	names, err := c.db.SecretNames(keys.Epoch, secretRound)
	if err != nil || len(names) == 0 {
		return err
	}
	var ended []string
	c.fsm.Read(func(s *contracts.State) {
		for _, name := range names {
			// round id = contract id (no "/") + "/" + log index
			parts := strings.SplitN(strings.TrimPrefix(name, secretRound), "/", 3)
			if len(parts) < 2 {
				ended = append(ended, name)
				continue
			}
			if r, ok := s.Round(kpi.RoundID(parts[0] + "/" + parts[1])); !ok || !r.State.Ongoing() {
				ended = append(ended, name)
			}
		}
	})
	if len(ended) == 0 {
		return nil
	}
	return c.db.DeleteNamedSecrets(keys.Epoch, ended...)
}

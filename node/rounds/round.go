package rounds

// What both sides of a round share: the digests and fingerprints they
// sign and check, what a member keeps of a round, and a member's view of
// a round from its own state.

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/cxnet/cxnet/contracts"
	"github.com/cxnet/cxnet/kpi"
	"github.com/cxnet/cxnet/privacy"
	"github.com/cxnet/cxnet/protocol/round"
	"github.com/cxnet/cxnet/protocol/rpc"
)

// roundLimits bound /cxnet/round exchanges: the largest is a participant's
// input, or a sum of the inputs (as large).
var roundLimits = rpc.Limits{MaxMsgSize: 64 << 20, Timeout: 2 * time.Minute}

// inputDigest is what a participant registers in the log for its input.
// It covers the ciphertexts only, so an input replayed into another round
// has the same digest, and the state machine refuses it.
func inputDigest(in *round.Input) string {
	h := sha256.New()
	h.Write([]byte("cxnet/round-input/v2\x00"))
	hashVectors(h, in.Ciphertexts)
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}

// sumDigest names a sum of inputs or of shares; the fingerprints that
// check it are drawn from it (printSeed).
func sumDigest(of round.Of, sum *round.Input) []byte {
	h := sha256.New()
	fmt.Fprintf(h, "cxnet/round-sum/v1\x00%s\x00", of)
	hashVectors(h, sum.Ciphertexts)
	return h.Sum(nil)
}

// printSeed is the seed of the fingerprints of a round's inputs or shares
// against the sum whose digest is digest.
func printSeed(consortiumID string, id kpi.RoundID, of round.Of, digest []byte) []byte {
	return fmt.Appendf(nil, "cxnet/round-print/v1\x00%s\x00%s\x00%s\x00%x", consortiumID, id, of, digest)
}

// printBytes is what a member signs with a fingerprint.
func printBytes(consortiumID string, id kpi.RoundID, of round.Of, digest []byte, fp []uint64) []byte {
	return fmt.Appendf(printSeed(consortiumID, id, of, digest), "\x00%v", fp)
}

// fingerprint is the fingerprint of an input (of: input) or of a share or
// a sum of shares (of: share) under seed.
func fingerprint(p privacy.Params, of round.Of, x *round.Input, seed []byte) (privacy.Fingerprint, error) {
	if of == round.OfShare {
		return privacy.FingerprintShares(p, x.Ciphertexts, seed)
	}
	return privacy.FingerprintCiphertexts(p, x.Ciphertexts, seed)
}

// checkPrints checks that sum is the sum of the parts of exactly the
// members want, by their signed fingerprints against it.
func (m *Manager) checkPrints(v *roundView, of round.Of, sum *round.Input, prints map[kpi.OrgID]round.Print, want []kpi.OrgID) error {
	got := slices.Sorted(maps.Keys(prints))
	if of == round.OfInput {
		if err := contracts.CheckInputs(&v.round, got); err != nil {
			return err
		}
	} else if !slices.Equal(got, want) {
		return fmt.Errorf("round %s: fingerprints of the %ss of %v, want exactly %v's", v.round.ID, of, got, want)
	}
	digest := sumDigest(of, sum)
	var err error
	parts := make([]privacy.Fingerprint, 0, len(want))
	m.cfg.State(func(s *contracts.State) {
		for _, o := range want {
			pr := prints[o]
			if e := s.VerifyMember(o, printBytes(v.cid, v.round.ID, of, digest, pr.Fingerprint), pr.Sig); e != nil {
				err = fmt.Errorf("round %s: the fingerprint of the %s said to be %s's: %w", v.round.ID, of, o, e)
				return
			}
			parts = append(parts, pr.Fingerprint)
		}
	})
	if err != nil {
		return err
	}
	fp, err := fingerprint(m.cfg.Params, of, sum, printSeed(v.cid, v.round.ID, of, digest))
	if err != nil {
		return fmt.Errorf("round %s: the sum of the %ss: %w", v.round.ID, of, err)
	}
	if err := privacy.CheckSum(m.cfg.Params, fp, parts); err != nil {
		return fmt.Errorf("round %s: the sum to open is not the sum of the %ss of %v: %w", v.round.ID, of, want, err)
	}
	return nil
}

// hashVectors writes vectors of encoded ciphertexts or shares to h,
// each length first, so that no two lists hash alike.
func hashVectors(h io.Writer, vs ...[][]byte) {
	for _, v := range vs {
		fmt.Fprintf(h, "%d\x00", len(v))
		for _, b := range v {
			fmt.Fprintf(h, "%d\x00", len(b))
			h.Write(b)
		}
	}
}

// keptInput is what a participant keeps of its input: the ciphertexts and
// the pads, which it reveals only for the cells that reach the floor.
type keptInput struct {
	round.Input
	Pads []uint64 `json:"pads"`
	// Entry is the participant's signed commitment to the input
	// (round.input), which the seal carries.
	Entry []byte `json:"entry"`
}

// shareBytes is what a decryptor signs with its share.
func shareBytes(consortiumID, id string, active []kpi.OrgID, s *round.Share) []byte {
	h := sha256.New()
	fmt.Fprintf(h, "%q\x00", active)
	hashVectors(h, s.Ciphertexts)
	return []byte("cxnet/round-share/v2\x00" + consortiumID + "\x00" + id + "\x00" + hex.EncodeToString(h.Sum(nil)))
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
	Sum privacy.Ciphertexts `json:"sum"`
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
func (m *Manager) roundView(id string, want contracts.RoundState) (*roundView, error) {
	var (
		v      roundView
		ok, hk bool
		rec    contracts.ContractRecord
		hasRec bool
	)
	m.cfg.State(func(s *contracts.State) {
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
func (m *Manager) roundSender(p peer.ID) (int, error) {
	var member, aggregating bool
	m.cfg.State(func(s *contracts.State) {
		for _, mem := range s.Members() {
			if mem.Member.PeerID == p.String() && mem.State == contracts.MemberAdmitted {
				member, aggregating = true, s.Aggregating(mem.Member.Org)
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

// secretRound prefixes what this node keeps of a round it takes part in,
// as secrets of the round's key epoch: "input" (its encrypted input and
// pads), "share" (its decryption share) and "sums" (the sums it
// decrypted).
const secretRound = "round/"

func roundSecret(id, what string) string { return secretRound + id + "/" + what }

// ForgetEnded deletes what this node kept of the rounds of the
// consortium's key epoch that ended (released or failed): the policy
// refuses every request for an ended round, so they are of no more use.
// Older epochs' go with their key. A share stored while its round ended
// is caught by the next call.
func (m *Manager) ForgetEnded() error {
	var keys contracts.KeyEpoch
	var ok bool
	m.cfg.State(func(s *contracts.State) { keys, ok = s.Keys() })
	if !ok {
		return nil
	}
	names, err := m.cfg.Secrets.SecretNames(keys.Epoch, secretRound)
	if err != nil || len(names) == 0 {
		return err
	}
	var ended []string
	m.cfg.State(func(s *contracts.State) {
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
	return m.cfg.Secrets.DeleteNamedSecrets(keys.Epoch, ended...)
}

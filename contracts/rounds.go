package contracts

// KPI rounds in the governance state. A round computes one active
// contract's cells over the participants' encrypted inputs (DESIGN §5):
// a member opens it (round.open) and aggregates; each participant
// registers the digest of the input it sent (round.input), so that every
// member giving a decryption share can check the aggregate is the sum of
// exactly the registered inputs; the aggregator publishes the released
// cells (round.release). Every node keeps every round, so results can be
// read from any node.

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/cxnet/cxnet/kpi"
)

// Event types of rounds.
const (
	EventRoundOpened   = "round.opened"
	EventRoundInput    = "round.input"
	EventRoundSealed   = "round.sealed"
	EventRoundReleased = "round.released"
	EventRoundFailed   = "round.failed"
)

// RoundState is where a round is.
type RoundState string

// The round states.
const (
	RoundCollecting RoundState = "open"     // collecting the participants' input commitments
	RoundSealed     RoundState = "sealed"   // its inputs are fixed; being decrypted
	RoundReleased   RoundState = "released" // its result is in the log
	RoundFailed     RoundState = "failed"   // it ended without a release; Reason says why
)

// Ongoing reports whether a round in this state may still release.
func (s RoundState) Ongoing() bool { return s == RoundCollecting || s == RoundSealed }

// Limits on rounds.
const (
	MaxReleaseSize = 8 << 20 // bytes of a release's cells JSON
	maxRoundIDLen  = 200
	maxFailReason  = 1000
)

// RoundOpen opens a round of the current version of contract Contract
// under key epoch Epoch (the consortium's key, which must cover the
// contract's participants). The signer aggregates it. Its id is
// "<contract>/<log index>".
type RoundOpen struct {
	Header
	Contract kpi.ContractID `json:"contract"`
	Version  int            `json:"version"`
	Hash     string         `json:"hash"`
	Epoch    uint64         `json:"epoch"`
}

// RoundInput commits the signer to its input to round Round before any
// ciphertext of it leaves the signer's node: Digest is InputDigest of the
// ciphertexts. An input whose digest was registered before, in any round
// of the key epoch, is refused (an exact replay).
type RoundInput struct {
	Header
	Round  kpi.RoundID `json:"round"`
	Digest string      `json:"digest"`
}

// RoundSeal fixes the inputs of round Round: every input registered when
// the seal is applied, and no other. Only the aggregator seals, and only
// after the seal do participants hand their ciphertexts to it, so no
// input can depend on another's ciphertext. The state machine, not the
// aggregator, decides the set; a set the privacy rules refuse (too few
// inputs, or one that differs by one or two organisations from an
// earlier release) fails the round.
//
// Inputs are participants' round.input entries, each signed by its
// participant, that the aggregator collected: they are registered, as if
// each had been applied on its own, just before the seal — one log entry
// for the round's commitments instead of one per participant. One that
// would be refused on its own refuses the whole seal.
type RoundSeal struct {
	Header
	Round  kpi.RoundID `json:"round"`
	Inputs [][]byte    `json:"inputs,omitempty"`
}

// RoundFail ends an ongoing round without a release. The aggregator
// records why its round failed; any other member of the round (a
// participant or a member of the round's key epoch) records a deviation
// it saw, naming the member in Blame.
type RoundFail struct {
	Header
	Round  kpi.RoundID `json:"round"`
	Reason string      `json:"reason"`
	Blame  []kpi.OrgID `json:"blame,omitempty"`
}

// Round is a round as the state records it.
type Round struct {
	ID         kpi.RoundID          `json:"id"`
	Contract   kpi.ContractID       `json:"contract"`
	Version    int                  `json:"version"`
	Hash       string               `json:"hash"`
	Epoch      uint64               `json:"epoch"`
	Aggregator kpi.OrgID            `json:"aggregator"`
	OpenedAt   uint64               `json:"opened_at"`         // log index
	Opened     string               `json:"opened"`            // the opener's clock, RFC 3339 (informative)
	Epsilon    string               `json:"epsilon,omitempty"` // the privacy.epsilon this round spends; "" for an exact release
	Inputs     map[kpi.OrgID]string `json:"inputs"`            // participant -> digest of its input
	Sealed     []kpi.OrgID          `json:"sealed,omitempty"`  // the inputs the round sums, fixed by round.seal
	State      RoundState           `json:"state"`
	Release    *RoundResult         `json:"release,omitempty"`
	// Reason says why a failed round failed; Blame names the members a
	// report held responsible, ReportedBy who reported it.
	Reason     string      `json:"reason,omitempty"`
	Blame      []kpi.OrgID `json:"blame,omitempty"`
	ReportedBy kpi.OrgID   `json:"reported_by,omitempty"`
	EndedAt    uint64      `json:"ended_at,omitempty"` // log index of the release or the failure
	Ended      string      `json:"ended,omitempty"`    // the reporter's clock, RFC 3339 (informative)
}

// RoundResult is a released round's result: the cells, or, for a
// contract with readers, the result sealed to them.
type RoundResult struct {
	Inputs     []kpi.OrgID     `json:"inputs"`
	Decryptors []kpi.OrgID     `json:"decryptors"`
	Cells      json.RawMessage `json:"cells,omitempty"`
	Sealed     *SealedResult   `json:"sealed,omitempty"`
	Suppressed int             `json:"suppressed"`
	At         uint64          `json:"at"`       // log index
	Released   string          `json:"released"` // the aggregator's clock, RFC 3339 (informative)
}

func (r *Round) clone() Round {
	c := *r
	c.Inputs = maps.Clone(r.Inputs)
	c.Sealed = slices.Clone(r.Sealed)
	c.Blame = slices.Clone(r.Blame)
	if r.Release != nil {
		rel := *r.Release
		c.Release = &rel
	}
	return c
}

// Round returns a round by id.
func (s *State) Round(id kpi.RoundID) (Round, bool) {
	r, ok := s.rounds[id]
	if !ok {
		return Round{}, false
	}
	return r.clone(), true
}

// Rounds returns the rounds of a contract ("" for all), oldest first.
func (s *State) Rounds(contract kpi.ContractID) []Round {
	var out []Round
	for _, r := range s.rounds {
		if contract == "" || r.Contract == contract {
			out = append(out, r.clone())
		}
	}
	slices.SortFunc(out, func(a, b Round) int { return int(a.OpenedAt) - int(b.OpenedAt) })
	return out
}

// Aggregating reports whether org aggregates a round that is still
// ongoing.
func (s *State) Aggregating(org kpi.OrgID) bool {
	for _, r := range s.rounds {
		if r.Aggregator == org && r.State.Ongoing() {
			return true
		}
	}
	return false
}

// EpsilonSpent is the differential-privacy budget a contract's rounds
// have spent: every round ever opened may have released something (its
// counts at least), so each spends its epsilon.
func (s *State) EpsilonSpent(contract kpi.ContractID) *big.Rat {
	spent := new(big.Rat)
	for _, r := range s.rounds {
		if r.Contract == contract && r.Epsilon != "" {
			if d, err := kpi.ParseDecimal(r.Epsilon); err == nil {
				spent.Add(spent, d.Rat())
			}
		}
	}
	return spent
}

// ValidDigest reports whether d is "sha256:" and 64 lower-case hex digits.
func ValidDigest(d string) bool {
	h, ok := strings.CutPrefix(d, "sha256:")
	if !ok || len(h) != 64 || strings.ToLower(h) != h {
		return false
	}
	_, err := hex.DecodeString(h)
	return err == nil
}

func (a *apply) roundOpen(b *RoundOpen) (Event, *RejectError) {
	rec, ok := a.s.contracts[b.Contract]
	switch {
	case !ok:
		return Event{}, refuse("there is no contract %s", b.Contract)
	case b.Version != rec.Version || b.Hash != rec.Hash:
		return Event{}, refuse("the round names %s v%d (hash %s) but the current version is v%d (hash %s)", b.Contract, b.Version, b.Hash, rec.Version, rec.Hash)
	case rec.State != ContractActive:
		return Event{}, refuse("%s v%d is %s; only an active contract runs rounds", b.Contract, rec.Version, rec.State)
	case a.s.keys == nil || b.Epoch != a.s.keys.Epoch:
		return Event{}, refuse("key epoch %d is not the consortium's key", b.Epoch)
	}
	c, err := rec.Contract()
	if err != nil {
		return Event{}, refuse("contract %s does not parse: %v", b.Contract, err)
	}
	if !slices.Contains(rec.Participants, a.e.Org) {
		if slices.Contains(c.Readers, a.e.Org) {
			return Event{}, refuse("%s reads %s's results and does not aggregate its rounds: a participant opens them", a.e.Org, b.Contract)
		}
		return Event{}, refuse("%s is neither a participant nor a reader of %s", a.e.Org, b.Contract)
	}
	eps := c.Privacy.Epsilon
	if eps.Mantissa != 0 {
		spent := a.s.EpsilonSpent(b.Contract)
		if total := new(big.Rat).Add(spent, eps.Rat()); total.Cmp(c.Privacy.Budget.Rat()) > 0 {
			return Event{}, refuse("%s's privacy budget is spent: %s of %s used, a round needs %s more; a new version with a new budget needs approval",
				b.Contract, spent.FloatString(3), c.Privacy.Budget, eps)
		}
	}
	id := kpi.RoundID(string(b.Contract) + "/" + strconv.FormatUint(a.index, 10))
	ev := Event{Type: EventRoundOpened, Object: string(id), Detail: map[string]string{
		"contract": string(b.Contract), "version": strconv.Itoa(b.Version), "epoch": strconv.FormatUint(b.Epoch, 10),
	}}
	for _, r := range a.s.rounds {
		if r.Contract == b.Contract && r.State.Ongoing() {
			a.fail(r, b.Time, "abandoned: round "+string(id)+" of the contract was opened before it ended", nil)
			ev.Detail["abandons"] = string(r.ID)
		}
	}
	if a.s.rounds == nil {
		a.s.rounds = map[kpi.RoundID]*Round{}
	}
	a.s.rounds[id] = &Round{ID: id, Contract: b.Contract, Version: b.Version, Hash: b.Hash, Epoch: b.Epoch,
		Aggregator: a.e.Org, OpenedAt: a.index, Opened: b.Time.UTC().Format("2006-01-02T15:04:05Z07:00"),
		Inputs: map[kpi.OrgID]string{}, State: RoundCollecting}
	if eps.Mantissa != 0 {
		a.s.rounds[id].Epsilon = eps.String()
		ev.Detail["epsilon"] = eps.String()
	}
	return ev, nil
}

// roundIn finds round id in state want.
func (a *apply) roundIn(id kpi.RoundID, want RoundState) (*Round, *RejectError) {
	r, ok := a.s.rounds[id]
	switch {
	case !ok:
		return nil, refuse("there is no round %q", id)
	case r.State != want:
		return nil, refuse("round %s is %s, not %s", id, r.State, want)
	}
	return r, nil
}

// fail ends round r without a release.
func (a *apply) fail(r *Round, at time.Time, reason string, blame []kpi.OrgID) {
	r.State, r.Reason, r.Blame = RoundFailed, reason, slices.Clone(blame)
	r.EndedAt, r.Ended = a.index, at.UTC().Format("2006-01-02T15:04:05.000Z07:00")
}

func (a *apply) roundInput(b *RoundInput) (Event, *RejectError) {
	r, rej := a.roundIn(b.Round, RoundCollecting)
	if rej != nil {
		return Event{}, rej
	}
	rec := a.s.contracts[r.Contract]
	switch {
	case !slices.Contains(rec.Participants, a.e.Org):
		return Event{}, refuse("%s is not a participant of %s", a.e.Org, r.Contract)
	case !ValidDigest(b.Digest):
		return Event{}, refuse("digest %q must be sha256: and 64 hex digits", b.Digest)
	}
	if _, ok := r.Inputs[a.e.Org]; ok {
		return Event{}, &RejectError{Reason: string(a.e.Org) + " has already sent its input to round " + string(r.ID), Err: ErrReplay}
	}
	if other, ok := a.inputSeen(r.Epoch, b.Digest); ok {
		return Event{}, &RejectError{Reason: fmt.Sprintf("%s's input to round %s repeats an input already registered (in round %s): an input is used once", a.e.Org, r.ID, other), Err: ErrReplay}
	}
	r.Inputs[a.e.Org] = b.Digest
	return Event{Type: EventRoundInput, Object: string(r.ID), Detail: map[string]string{
		"inputs": strconv.Itoa(len(r.Inputs)), "participants": strconv.Itoa(len(rec.Participants)),
	}}, nil
}

// MinInputs is how many participants' inputs a round of c must sum: its
// min_participants, or every participant.
func MinInputs(c *Contract) int {
	if c.MinParticipants > 0 {
		return c.MinParticipants
	}
	return len(c.Participants)
}

// inputSeen finds an input digest registered in any round of key epoch
// epoch.
func (a *apply) inputSeen(epoch uint64, digest string) (kpi.RoundID, bool) {
	for _, r := range a.s.rounds {
		if r.Epoch != epoch {
			continue
		}
		for _, d := range r.Inputs {
			if d == digest {
				return r.ID, true
			}
		}
	}
	return "", false
}

func (a *apply) roundSeal(b *RoundSeal) (Event, *RejectError) {
	r, rej := a.roundIn(b.Round, RoundCollecting)
	if rej != nil {
		return Event{}, rej
	}
	if a.e.Org != r.Aggregator {
		return Event{}, refuse("only round %s's aggregator %s seals it", r.ID, r.Aggregator)
	}
	if rej := a.sealedInputs(r, b); rej != nil {
		return Event{}, rej
	}
	c, err := a.s.contracts[r.Contract].Contract()
	if err != nil {
		return Event{}, refuse("contract %s does not parse: %v", r.Contract, err)
	}
	inputs := slices.Sorted(maps.Keys(r.Inputs))
	ev := Event{Type: EventRoundSealed, Object: string(r.ID), Detail: map[string]string{"inputs": joinOrgs(inputs)}}
	reason := ""
	switch {
	case len(inputs) < MinInputs(c):
		reason = fmt.Sprintf("only %d of the %d required inputs were committed (%s)", len(inputs), MinInputs(c), joinOrgs(inputs))
	default:
		reason = a.s.DifferencingRefusal(c, inputs)
	}
	if reason != "" {
		a.fail(r, b.Time, reason, nil)
		ev.Type, ev.Detail["reason"] = EventRoundFailed, reason
		return ev, nil
	}
	r.State, r.Sealed = RoundSealed, inputs
	return ev, nil
}

// sealedInputs registers the round.input entries a seal carries, each
// checked as if it were applied on its own (decoded, signed by a member,
// not applied before, of this round); the first refused leaves the round's
// inputs as they were and refuses the seal.
func (a *apply) sealedInputs(r *Round, b *RoundSeal) *RejectError {
	if len(b.Inputs) == 0 {
		return nil
	}
	if len(b.Inputs) > len(a.s.contracts[r.Contract].Participants) {
		return refuse("the seal carries %d inputs; round %s has %d participants", len(b.Inputs), r.ID, len(a.s.contracts[r.Contract].Participants))
	}
	before := maps.Clone(r.Inputs)
	var sigs []string
	for i, raw := range b.Inputs {
		who := "?"
		rej := func() *RejectError {
			e, err := DecodeEntry(raw)
			if err != nil {
				return &RejectError{Reason: "malformed entry: " + err.Error(), Err: ErrMalformed}
			}
			who = string(e.Org)
			in, ok := e.Value.(*RoundInput)
			if !ok || e.Type != EntryRoundInput {
				return refuse("a %s entry, not round.input", e.Type)
			}
			if in.Round != b.Round {
				return refuse("an input to round %s, not %s", in.Round, b.Round)
			}
			if rej := a.s.authenticate(e); rej != nil {
				return rej
			}
			h := sha256.Sum256(e.Sig)
			sig := hex.EncodeToString(h[:])
			if _, ok := a.s.applied[sig]; ok || slices.Contains(sigs, sig) {
				return &RejectError{Reason: "this exact entry was applied before", Err: ErrReplay}
			}
			sigs = append(sigs, sig)
			_, rej := (&apply{s: a.s, index: a.index, e: e}).roundInput(in)
			return rej
		}()
		if rej != nil {
			r.Inputs = before
			rej.Reason = fmt.Sprintf("the seal's input %d (from %s): %s", i, who, rej.Reason)
			return rej
		}
	}
	for _, sig := range sigs {
		a.s.applied[sig] = struct{}{}
	}
	return nil
}

func (a *apply) roundFail(b *RoundFail) (Event, *RejectError) {
	r, ok := a.s.rounds[b.Round]
	switch {
	case !ok:
		return Event{}, refuse("there is no round %q", b.Round)
	case !r.State.Ongoing():
		return Event{}, refuse("round %s is %s already", r.ID, r.State)
	case b.Reason == "" || len(b.Reason) > maxFailReason || !utf8.ValidString(b.Reason):
		return Event{}, refuse("a failure needs a reason of 1 to %d bytes of UTF-8", maxFailReason)
	case len(b.Blame) > len(a.s.members):
		return Event{}, refuse("a failure blames at most every member")
	}
	rec := a.s.contracts[r.Contract]
	_, keyMember := a.s.keysPoint(r.Epoch, a.e.Org)
	if a.e.Org != r.Aggregator && !slices.Contains(rec.Participants, a.e.Org) && !keyMember {
		return Event{}, refuse("%s takes no part in round %s; only its aggregator, participants and key members report its failure", a.e.Org, r.ID)
	}
	for _, o := range b.Blame {
		if _, ok := a.s.members[o]; !ok {
			return Event{}, refuse("the failure blames %s, who is not a member", o)
		}
	}
	a.fail(r, b.Time, b.Reason, b.Blame)
	r.ReportedBy = a.e.Org
	ev := Event{Type: EventRoundFailed, Object: string(r.ID), Detail: map[string]string{"reason": b.Reason}}
	if len(b.Blame) > 0 {
		ev.Detail["blame"] = joinOrgs(b.Blame)
	}
	return ev, nil
}

// keysPoint reports org's Shamir point in key epoch epoch, when that
// epoch is the consortium's key.
func (s *State) keysPoint(epoch uint64, org kpi.OrgID) (int, bool) {
	if s.keys == nil || s.keys.Epoch != epoch {
		return 0, false
	}
	return s.keys.Point(org)
}

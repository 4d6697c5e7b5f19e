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
	"encoding/hex"
	"encoding/json"
	"maps"
	"math/big"
	"slices"
	"strconv"
	"strings"

	"github.com/cxnet/cxnet/kpi"
)

// Event types of rounds.
const (
	EventRoundOpened   = "round.opened"
	EventRoundInput    = "round.input"
	EventRoundReleased = "round.released"
)

// RoundState is where a round is.
type RoundState string

// The round states.
const (
	RoundCollecting RoundState = "open"      // collecting inputs and decryption shares
	RoundReleased   RoundState = "released"  // its result is in the log
	RoundAbandoned  RoundState = "abandoned" // a newer round of the contract was opened first
)

// Limits on rounds.
const (
	MaxReleaseSize = 2 << 20 // bytes of a release's cells JSON
	maxRoundIDLen  = 200
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

// RoundInput registers the signer's input to round Round: Digest is
// InputDigest of the ciphertexts it sent the aggregator.
type RoundInput struct {
	Header
	Round  string `json:"round"`
	Digest string `json:"digest"`
}

// RoundRelease is a round's result, published by its aggregator: the
// participants whose inputs it sums, the members whose decryption shares
// opened it, and the released cells (JSON, suppressed cells marked).
type RoundRelease struct {
	Header
	Round      string          `json:"round"`
	Inputs     []kpi.OrgID     `json:"inputs"`
	Decryptors []kpi.OrgID     `json:"decryptors"`
	Cells      json.RawMessage `json:"cells"`
	Suppressed int             `json:"suppressed"`
}

// Round is a round as the state records it.
type Round struct {
	ID         string               `json:"id"`
	Contract   kpi.ContractID       `json:"contract"`
	Version    int                  `json:"version"`
	Hash       string               `json:"hash"`
	Epoch      uint64               `json:"epoch"`
	Aggregator kpi.OrgID            `json:"aggregator"`
	OpenedAt   uint64               `json:"opened_at"`         // log index
	Opened     string               `json:"opened"`            // the opener's clock, RFC 3339 (informative)
	Epsilon    string               `json:"epsilon,omitempty"` // the privacy.epsilon this round spends; "" for an exact release
	Inputs     map[kpi.OrgID]string `json:"inputs"`            // participant -> digest of its input
	State      RoundState           `json:"state"`
	Release    *RoundResult         `json:"release,omitempty"`
}

// RoundResult is a released round's result.
type RoundResult struct {
	Inputs     []kpi.OrgID     `json:"inputs"`
	Decryptors []kpi.OrgID     `json:"decryptors"`
	Cells      json.RawMessage `json:"cells"`
	Suppressed int             `json:"suppressed"`
	At         uint64          `json:"at"`       // log index
	Released   string          `json:"released"` // the aggregator's clock, RFC 3339 (informative)
}

func (r *Round) clone() Round {
	c := *r
	c.Inputs = maps.Clone(r.Inputs)
	if r.Release != nil {
		rel := *r.Release
		c.Release = &rel
	}
	return c
}

// Round returns a round by id.
func (s *State) Round(id string) (Round, bool) {
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
	if !slices.Contains(rec.Participants, a.e.Org) && !slices.Contains(c.Readers, a.e.Org) {
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
	id := string(b.Contract) + "/" + strconv.FormatUint(a.index, 10)
	ev := Event{Type: EventRoundOpened, Object: id, Detail: map[string]string{
		"contract": string(b.Contract), "version": strconv.Itoa(b.Version), "epoch": strconv.FormatUint(b.Epoch, 10),
	}}
	for _, r := range a.s.rounds {
		if r.Contract == b.Contract && r.State == RoundCollecting {
			r.State = RoundAbandoned
			ev.Detail["abandons"] = r.ID
		}
	}
	if a.s.rounds == nil {
		a.s.rounds = map[string]*Round{}
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

// openRound finds an open round by id.
func (a *apply) openRound(id string) (*Round, *RejectError) {
	r, ok := a.s.rounds[id]
	switch {
	case !ok:
		return nil, refuse("there is no round %q", id)
	case r.State != RoundCollecting:
		return nil, refuse("round %s is %s", id, r.State)
	}
	return r, nil
}

func (a *apply) roundInput(b *RoundInput) (Event, *RejectError) {
	r, rej := a.openRound(b.Round)
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
		return Event{}, &RejectError{Reason: string(a.e.Org) + " has already sent its input to round " + r.ID, Err: ErrReplay}
	}
	r.Inputs[a.e.Org] = b.Digest
	return Event{Type: EventRoundInput, Object: r.ID, Detail: map[string]string{
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

func (a *apply) roundRelease(b *RoundRelease) (Event, *RejectError) {
	r, rej := a.openRound(b.Round)
	if rej != nil {
		return Event{}, rej
	}
	if a.e.Org != r.Aggregator {
		return Event{}, refuse("only round %s's aggregator %s releases it", r.ID, r.Aggregator)
	}
	c, err := a.s.contracts[r.Contract].Contract()
	if err != nil {
		return Event{}, refuse("contract %s does not parse: %v", r.Contract, err)
	}
	if !slices.IsSorted(b.Inputs) || len(slices.Compact(slices.Clone(b.Inputs))) != len(b.Inputs) {
		return Event{}, refuse("the release's inputs must be sorted and distinct")
	}
	for _, o := range b.Inputs {
		if _, ok := r.Inputs[o]; !ok {
			return Event{}, refuse("the release sums an input from %s, which round %s did not register", o, r.ID)
		}
	}
	switch {
	case len(b.Inputs) < MinInputs(c):
		return Event{}, refuse("the release sums %d inputs; %s needs %d", len(b.Inputs), r.Contract, MinInputs(c))
	case len(b.Cells) == 0 || len(b.Cells) > MaxReleaseSize || !json.Valid(b.Cells):
		return Event{}, refuse("the released cells must be JSON of 1 to %d bytes", MaxReleaseSize)
	case a.s.keys == nil || len(b.Decryptors) < a.s.keys.Threshold:
		return Event{}, refuse("a release needs decryption shares from the key's threshold of members")
	}
	for _, o := range b.Decryptors {
		if _, ok := a.s.keys.Point(o); !ok {
			return Event{}, refuse("decryptor %s is not a member of key epoch %d", o, a.s.keys.Epoch)
		}
	}
	r.State = RoundReleased
	r.Release = &RoundResult{Inputs: slices.Clone(b.Inputs), Decryptors: slices.Clone(b.Decryptors), Cells: slices.Clone(b.Cells),
		Suppressed: b.Suppressed, At: a.index, Released: b.Time.UTC().Format("2006-01-02T15:04:05.000Z07:00")}
	return Event{Type: EventRoundReleased, Object: r.ID, Detail: map[string]string{
		"contract": string(r.Contract), "inputs": joinOrgs(b.Inputs), "suppressed": strconv.Itoa(b.Suppressed),
	}}, nil
}

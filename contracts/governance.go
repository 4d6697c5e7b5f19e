package contracts

// The governance state of a consortium: who is a member and which
// contracts exist, in which state. It changes only through Apply (in
// governance_apply.go), which raft calls with the same entries in the same
// order on every node, so every node holds the same State.

import (
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/cxnet/cxnet/kpi"
)

// AdmissionMajority is the admission rule: a strict majority of the
// admitted members approves a new member.
const AdmissionMajority = "majority"

// Consortium describes the consortium, as founded by its genesis entry.
type Consortium struct {
	ID            string    `json:"id"` // hex SHA-256 of the genesis entry
	Name          string    `json:"name"`
	MinCohort     int       `json:"min_cohort"` // floor for every contract's privacy.min_cohort
	AdmissionRule string    `json:"admission_rule"`
	Founder       kpi.OrgID `json:"founder"`
	Created       time.Time `json:"created"` // the founder's clock when it signed the genesis
}

// MemberState is where a member is in its admission.
type MemberState string

// The member states.
const (
	MemberPending  MemberState = "pending"  // proposed, collecting approvals; may not connect
	MemberAdmitted MemberState = "admitted" // a member
)

// Membership is a member organisation as the consortium knows it.
type Membership struct {
	Member         kpi.Member  `json:"member"` // the signed descriptor
	State          MemberState `json:"state"`
	Approvals      []kpi.OrgID `json:"approvals"` // admitted members that approved, sorted
	ProposedBy     kpi.OrgID   `json:"proposed_by,omitempty"`
	DescriptorHash string      `json:"descriptor_hash"`
	ProposedAt     uint64      `json:"proposed_at"`           // log index
	AdmittedAt     uint64      `json:"admitted_at,omitempty"` // log index; 0 while pending
}

// ContractState is where a contract version is in its lifecycle.
type ContractState string

// The contract states.
//
// An approved contract is active once the consortium's key (the newest
// keyed epoch, keys.go) covers all its participants: at its approval if
// the key exists, or when the epoch that covers them is keyed.
const (
	ContractProposed ContractState = "proposed" // collecting approvals
	ContractApproved ContractState = "approved" // approvals complete
	ContractActive   ContractState = "active"   // approved and keys ready; rounds may run
	ContractRejected ContractState = "rejected" // enough participants rejected it
	ContractRetired  ContractState = "retired"
)

// ContractVersion is one version of a contract and its approvals.
type ContractVersion struct {
	Version      int                  `json:"version"`
	Hash         string               `json:"hash"`
	State        ContractState        `json:"state"`
	Participants []kpi.OrgID          `json:"participants"` // sorted
	Needed       int                  `json:"approvals_needed"`
	Approvals    []kpi.OrgID          `json:"approvals"`  // participants that approved, sorted
	Rejections   map[kpi.OrgID]string `json:"rejections"` // participant -> reason
	ProposedBy   kpi.OrgID            `json:"proposed_by"`
	ProposedAt   uint64               `json:"proposed_at"`          // log index
	DecidedAt    uint64               `json:"decided_at,omitempty"` // log index of approval, rejection or retirement
	Canonical    []byte               `json:"canonical"`            // Contract.Canonical(), whose hash is Hash
}

// Contract parses the version's canonical form. Parses are kept (a
// round's steps, on every node, ask for the same contract many times):
// the contract returned is shared, and must not be changed.
func (v *ContractVersion) Contract() (*Contract, error) {
	key := sha256.Sum256(v.Canonical)
	parsed.mu.Lock()
	c, ok := parsed.byHash[key]
	parsed.mu.Unlock()
	if ok {
		return c, nil
	}
	c, err := Parse(v.Canonical, "contract")
	if err != nil {
		return nil, err
	}
	parsed.mu.Lock()
	defer parsed.mu.Unlock()
	if len(parsed.byHash) >= maxParsed {
		clear(parsed.byHash)
	}
	parsed.byHash[key] = c
	return c, nil
}

// parsed are the contracts ContractVersion.Contract parsed, by the hash of
// their canonical form.
var parsed = struct {
	mu     sync.Mutex
	byHash map[[32]byte]*Contract
}{byHash: map[[32]byte]*Contract{}}

// maxParsed bounds the contracts kept parsed.
const maxParsed = 1024

// ContractRecord is a contract: its current version and the earlier ones.
type ContractRecord struct {
	ID kpi.ContractID `json:"id"`
	ContractVersion
	History []ContractVersion `json:"history,omitempty"` // earlier versions, oldest first
}

// State is the replicated governance state. The zero value is an empty
// state, before the genesis. Change it only with Apply; read it with the
// accessors, which return copies. It marshals to JSON for raft snapshots.
type State struct {
	consortium *Consortium
	members    map[kpi.OrgID]*Membership
	contracts  map[kpi.ContractID]*ContractRecord
	// keys is the newest keyed epoch, pendingKeys the epoch collecting
	// shares; either may be nil (keys.go).
	keys, pendingKeys *KeyEpoch
	// rounds holds every KPI round by id (rounds.go).
	rounds map[kpi.RoundID]*Round
	// applied holds the hex SHA-256 of the signature of every applied
	// entry: an entry applied twice is refused.
	applied map[string]struct{}
}

// NewState returns an empty state, before the genesis.
func NewState() *State { return &State{} }

// Consortium returns the consortium, and false before the genesis.
func (s *State) Consortium() (Consortium, bool) {
	if s.consortium == nil {
		return Consortium{}, false
	}
	return *s.consortium, true
}

// ID returns the consortium id, "" before the genesis.
func (s *State) ID() string {
	if s.consortium == nil {
		return ""
	}
	return s.consortium.ID
}

// Members returns every member, pending ones included, sorted by org.
func (s *State) Members() []Membership {
	out := make([]Membership, 0, len(s.members))
	for _, org := range slices.Sorted(maps.Keys(s.members)) {
		out = append(out, s.members[org].clone())
	}
	return out
}

// Member returns one member, pending or admitted.
func (s *State) Member(org kpi.OrgID) (Membership, bool) {
	m, ok := s.members[org]
	if !ok {
		return Membership{}, false
	}
	return m.clone(), true
}

// AdmittedCount returns how many members are admitted.
func (s *State) AdmittedCount() int {
	n := 0
	for _, m := range s.members {
		if m.State == MemberAdmitted {
			n++
		}
	}
	return n
}

// IsAdmitted reports whether org is an admitted member.
func (s *State) IsAdmitted(org kpi.OrgID) bool {
	m, ok := s.members[org]
	return ok && m.State == MemberAdmitted
}

// PeerAllowed reports whether a libp2p peer may connect: only the nodes
// of admitted members. Pending members may not.
func (s *State) PeerAllowed(peerID string) bool {
	if peerID == "" {
		return false
	}
	for _, m := range s.members {
		if m.State == MemberAdmitted && m.Member.PeerID == peerID {
			return true
		}
	}
	return false
}

// Contracts returns every contract, sorted by id.
func (s *State) Contracts() []ContractRecord {
	out := make([]ContractRecord, 0, len(s.contracts))
	for _, id := range slices.Sorted(maps.Keys(s.contracts)) {
		out = append(out, s.contracts[id].clone())
	}
	return out
}

// Contract returns one contract.
func (s *State) Contract(id kpi.ContractID) (ContractRecord, bool) {
	c, ok := s.contracts[id]
	if !ok {
		return ContractRecord{}, false
	}
	return c.clone(), true
}

func (m *Membership) clone() Membership {
	c := *m
	c.Member.Addrs = slices.Clone(m.Member.Addrs)
	c.Approvals = slices.Clone(m.Approvals)
	return c
}

func (v *ContractVersion) clone() ContractVersion {
	c := *v
	c.Participants = slices.Clone(v.Participants)
	c.Approvals = slices.Clone(v.Approvals)
	c.Rejections = maps.Clone(v.Rejections)
	c.Canonical = slices.Clone(v.Canonical)
	return c
}

func (r *ContractRecord) clone() ContractRecord {
	c := ContractRecord{ID: r.ID, ContractVersion: r.ContractVersion.clone()}
	for i := range r.History {
		c.History = append(c.History, r.History[i].clone())
	}
	return c
}

// stateJSON is the snapshot form of a State. Maps marshal with sorted
// keys and applied is sorted, so equal states give equal bytes.
type stateJSON struct {
	Consortium *Consortium                        `json:"consortium"`
	Members    map[kpi.OrgID]*Membership          `json:"members"`
	Contracts  map[kpi.ContractID]*ContractRecord `json:"contracts"`
	Applied    []string                           `json:"applied"`
	Keys       *KeyEpoch                          `json:"keys,omitempty"`
	Pending    *KeyEpoch                          `json:"pending_keys,omitempty"`
	Rounds     map[kpi.RoundID]*Round             `json:"rounds,omitempty"`
}

// MarshalJSON encodes the state; equal states give equal bytes.
func (s *State) MarshalJSON() ([]byte, error) {
	j := stateJSON{
		Consortium: s.consortium,
		Members:    s.members,
		Contracts:  s.contracts,
		Applied:    slices.Sorted(maps.Keys(s.applied)),
		Keys:       s.keys,
		Pending:    s.pendingKeys,
		Rounds:     s.rounds,
	}
	if j.Members == nil {
		j.Members = map[kpi.OrgID]*Membership{}
	}
	if j.Contracts == nil {
		j.Contracts = map[kpi.ContractID]*ContractRecord{}
	}
	if j.Applied == nil {
		j.Applied = []string{}
	}
	return json.Marshal(j)
}

// UnmarshalJSON replaces the state with a decoded one, after checking
// that it holds together.
func (s *State) UnmarshalJSON(b []byte) error {
	var j stateJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	if err := j.check(); err != nil {
		return fmt.Errorf("contracts: governance state: %w", err)
	}
	*s = State{consortium: j.Consortium, members: j.Members, contracts: j.Contracts, keys: j.Keys, pendingKeys: j.Pending, rounds: j.Rounds}
	if s.consortium != nil && s.members == nil {
		s.members = map[kpi.OrgID]*Membership{}
	}
	if s.consortium != nil && s.contracts == nil {
		s.contracts = map[kpi.ContractID]*ContractRecord{}
	}
	if len(j.Applied) > 0 {
		s.applied = make(map[string]struct{}, len(j.Applied))
		for _, h := range j.Applied {
			s.applied[h] = struct{}{}
		}
	}
	return nil
}

func (j *stateJSON) check() error {
	if j.Consortium == nil && (len(j.Members) > 0 || len(j.Contracts) > 0 || len(j.Applied) > 0 || j.Keys != nil || j.Pending != nil || len(j.Rounds) > 0) {
		return errors.New("members, contracts, keys or applied entries without a consortium")
	}
	for id, r := range j.Rounds {
		if r == nil || r.ID != id || r.Inputs == nil {
			return fmt.Errorf("round %q is stored under another key or has no inputs", id)
		}
	}
	for _, k := range []*KeyEpoch{j.Keys, j.Pending} {
		if k == nil {
			continue
		}
		if !slices.IsSorted(k.Members) || k.Shares == nil {
			return fmt.Errorf("key epoch %d: members unsorted or shares missing", k.Epoch)
		}
		for org := range k.Shares {
			if !slices.Contains(k.Members, org) {
				return fmt.Errorf("key epoch %d: a share from %s, who is not a member of it", k.Epoch, org)
			}
		}
	}
	for org, m := range j.Members {
		switch {
		case m == nil || m.Member.Org != org:
			return fmt.Errorf("member %q is stored under another key", org)
		case m.State != MemberPending && m.State != MemberAdmitted:
			return fmt.Errorf("member %s has unknown state %q", org, m.State)
		}
	}
	for id, c := range j.Contracts {
		if c == nil || c.ID != id {
			return fmt.Errorf("contract %q is stored under another key", id)
		}
		switch c.State {
		case ContractProposed, ContractApproved, ContractActive, ContractRejected, ContractRetired:
		default:
			return fmt.Errorf("contract %s has unknown state %q", id, c.State)
		}
	}
	return nil
}

// Event says what an entry did, for the audit log and metrics.
type Event struct {
	Index   uint64            `json:"index"`
	Type    string            `json:"type"`   // "member.admitted", "contract.approved" … or the entry type when rejected or skipped
	Actor   kpi.OrgID         `json:"actor"`  // the signer; empty when unknown
	Object  string            `json:"object"` // the contract id or member org concerned
	Detail  map[string]string `json:"detail,omitempty"`
	Outcome Outcome           `json:"outcome"`
}

// Outcome says whether an entry changed the state.
type Outcome string

// The outcomes.
const (
	OutcomeApplied  Outcome = "applied"  // the state changed
	OutcomeRejected Outcome = "rejected" // refused; the state is unchanged
	OutcomeSkipped  Outcome = "skipped"  // an entry type this node does not know; the state is unchanged
)

// The event types of applied entries.
const (
	EventConsortiumCreated = "consortium.created"
	EventMemberProposed    = "member.proposed"
	EventMemberApproval    = "member.approval" // an approval recorded; still pending
	EventMemberAdmitted    = "member.admitted"
	EventContractProposed  = "contract.proposed"
	EventContractApproval  = "contract.approval" // an approval recorded; still proposed
	EventContractApproved  = "contract.approved"
	EventContractRejection = "contract.rejection" // a rejection recorded; still proposed
	EventContractRejected  = "contract.rejected"
	EventContractRetired   = "contract.retired"
)

// Errors callers branch on (with errors.Is). A *RejectError wraps one of
// them when it applies.
var (
	// ErrUnknownEntry is returned for an entry type or version this node
	// does not know; a newer node wrote it. The entry is skipped.
	ErrUnknownEntry = errors.New("unknown entry type")
	// ErrNotMember: the signer is not an admitted member.
	ErrNotMember = errors.New("signer is not an admitted member")
	// ErrBadSignature: the signature does not verify with the signer's
	// governance key.
	ErrBadSignature = errors.New("signature does not verify")
	// ErrReplay: the entry, or the vote it casts, was applied before.
	ErrReplay = errors.New("replayed entry")
	// ErrMalformed: the entry does not decode.
	ErrMalformed = errors.New("malformed entry")
)

// RejectError is returned by Apply for an entry it refuses. The state is
// unchanged.
type RejectError struct {
	Index  uint64
	Type   EntryType
	Org    kpi.OrgID // the signer as claimed; empty when the entry did not decode
	Reason string    // lower-case, says why
	Err    error     // a sentinel above, or nil
}

func (e *RejectError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "contracts: entry %d (%s", e.Index, e.Type)
	if e.Org != "" {
		fmt.Fprintf(&b, " by %s", e.Org)
	}
	b.WriteString(") rejected: ")
	b.WriteString(e.Reason)
	return b.String()
}

// Unwrap returns the sentinel error, if any.
func (e *RejectError) Unwrap() error { return e.Err }

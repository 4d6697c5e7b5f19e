package contracts

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/cxnet/cxnet/kpi"
)

// Apply applies the governance entry raw, found at log index index. It is
// deterministic: the outcome depends only on the state and the entry, never
// on a clock or on anything local, so every node that applies the same log
// holds the same state.
//
// Apply verifies everything itself: the entry decodes; its signer is an
// admitted member (for the genesis: the founder it names, and only as the
// first entry); the signature verifies with the signer's governance key
// as the state records it, over the consortium's id; the entry was not
// applied before; and the rules of the entry's type hold. A refused entry
// leaves the state unchanged and returns a *RejectError. An entry of a type
// or version this node does not know (written by a newer node) leaves the
// state unchanged and returns an error wrapping ErrUnknownEntry.
//
// The Event says what happened, for the audit log; it is filled in every
// case.
func (s *State) Apply(index uint64, raw []byte) (Event, error) {
	e, err := DecodeEntry(raw)
	if err != nil {
		var t EntryType
		if len(raw) > 0 {
			t = EntryType(raw[0])
		}
		return s.rejected(index, &Entry{Type: t}, &RejectError{Reason: "malformed entry: " + err.Error(), Err: ErrMalformed})
	}
	if !e.Known() {
		ev := Event{Index: index, Type: e.Type.String(), Outcome: OutcomeSkipped,
			Detail: map[string]string{"entry_type": strconv.Itoa(int(e.Type)), "entry_version": strconv.Itoa(int(e.Version))}}
		return ev, fmt.Errorf("contracts: entry %d: %w %d version %d: a newer node wrote it; skipped (upgrade this node)",
			index, ErrUnknownEntry, e.Type, e.Version)
	}
	if rej := s.authenticate(e); rej != nil {
		return s.rejected(index, e, rej)
	}
	sigHash := sha256.Sum256(e.Sig)
	if _, ok := s.applied[hex.EncodeToString(sigHash[:])]; ok {
		return s.rejected(index, e, &RejectError{Reason: "this exact entry was applied before", Err: ErrReplay})
	}
	a := &apply{s: s, index: index, e: e}
	var ev Event
	var rej *RejectError
	switch b := e.Value.(type) {
	case *Genesis:
		ev, rej = a.genesis(b, raw)
	case *AdmitPropose:
		ev, rej = a.admitPropose(b)
	case *AdmitApprove:
		ev, rej = a.admitApprove(b)
	case *ContractPropose:
		ev, rej = a.contractPropose(b)
	case *ContractApprove:
		ev, rej = a.contractApprove(b)
	case *ContractReject:
		ev, rej = a.contractReject(b)
	case *ContractRetire:
		ev, rej = a.contractRetire(b)
	case *KeysOpen:
		ev, rej = a.keysOpen(b)
	case *KeysCommit:
		ev, rej = a.keysCommit(b)
	case *KeysShare:
		ev, rej = a.keysShare(b)
	case *RoundOpen:
		ev, rej = a.roundOpen(b)
	case *RoundInput:
		ev, rej = a.roundInput(b)
	case *RoundSeal:
		ev, rej = a.roundSeal(b)
	case *RoundRelease:
		ev, rej = a.roundRelease(b)
	case *RoundFail:
		ev, rej = a.roundFail(b)
	default: // Known() guarantees a body
		rej = &RejectError{Reason: "entry has no body", Err: ErrMalformed}
	}
	if rej != nil {
		return s.rejected(index, e, rej)
	}
	if s.applied == nil {
		s.applied = map[string]struct{}{}
	}
	s.applied[hex.EncodeToString(sigHash[:])] = struct{}{}
	ev.Index = index
	ev.Actor = e.Org
	ev.Outcome = OutcomeApplied
	if ev.Detail == nil {
		ev.Detail = map[string]string{}
	}
	if t := e.Value.(entryBody).header().Time; !t.IsZero() {
		ev.Detail["signed_at"] = t.UTC().Format(time.RFC3339Nano)
	}
	return ev, nil
}

// rejected completes rej and the event that reports it.
func (s *State) rejected(index uint64, e *Entry, rej *RejectError) (Event, error) {
	rej.Index, rej.Type, rej.Org = index, e.Type, e.Org
	ev := Event{Index: index, Type: e.Type.String(), Actor: e.Org, Object: objectOf(e),
		Detail: map[string]string{"reason": rej.Reason}, Outcome: OutcomeRejected}
	return ev, rej
}

// objectOf names what an entry is about.
func objectOf(e *Entry) string {
	if b, ok := e.Value.(entryBody); ok {
		return b.object()
	}
	return ""
}

// authenticate checks who signed e: the founder for a genesis on an empty
// state, an admitted member otherwise, with that member's governance key.
func (s *State) authenticate(e *Entry) *RejectError {
	var pub ed25519.PublicKey
	consortiumID := ""
	if g, ok := e.Value.(*Genesis); ok {
		if s.consortium != nil {
			return &RejectError{Reason: "the consortium already exists; a genesis is only valid as the first entry"}
		}
		if e.Org != g.Founder.Org {
			return &RejectError{Reason: fmt.Sprintf("the genesis must be signed by its founder %s", g.Founder.Org), Err: ErrNotMember}
		}
		if err := checkDescriptor(g.Founder); err != nil {
			return &RejectError{Reason: "founder descriptor: " + err.Error()}
		}
		pub, _ = g.Founder.PublicKey() // checked by checkDescriptor
	} else {
		if s.consortium == nil {
			return &RejectError{Reason: "there is no consortium yet; the first entry must be a genesis"}
		}
		m, ok := s.members[e.Org]
		switch {
		case !ok:
			return &RejectError{Reason: fmt.Sprintf("%s is not a member of the consortium", e.Org), Err: ErrNotMember}
		case m.State != MemberAdmitted:
			return &RejectError{Reason: fmt.Sprintf("%s is pending admission, not yet a member", e.Org), Err: ErrNotMember}
		}
		var err error
		if pub, err = m.Member.PublicKey(); err != nil { // checked at admission
			return &RejectError{Reason: err.Error(), Err: ErrBadSignature}
		}
		consortiumID = s.consortium.ID
	}
	if !ed25519.Verify(pub, SigningBytes(e.Type, consortiumID, e.Body), e.Sig) {
		return &RejectError{Reason: fmt.Sprintf("signature does not verify with %s's governance key for this consortium", e.Org), Err: ErrBadSignature}
	}
	return nil
}

// checkDescriptor checks a member descriptor on its own: signed by its
// governance key, an org id that contracts can name, sizes within limits.
func checkDescriptor(m kpi.Member) error {
	switch {
	case !orgIDRe.MatchString(string(m.Org)):
		return fmt.Errorf("org %q must be 2 to 64 of a-z, 0-9 and -", m.Org)
	case m.PeerID == "" || len(m.PeerID) > maxPeerIDLen || !utf8.ValidString(m.PeerID):
		return fmt.Errorf("member %s: peer_id must have 1 to %d bytes", m.Org, maxPeerIDLen)
	case len(m.Name) > maxGovNameLen || !utf8.ValidString(m.Name) || len(m.Kind) > maxGovNameLen || !utf8.ValidString(m.Kind):
		return fmt.Errorf("member %s: name and kind must be UTF-8 text of at most %d bytes", m.Org, maxGovNameLen)
	case len(m.Addrs) > maxAddrs:
		return fmt.Errorf("member %s: %d addrs; at most %d are allowed", m.Org, len(m.Addrs), maxAddrs)
	}
	for _, a := range m.Addrs {
		if len(a) > maxAddrLen || !utf8.ValidString(a) {
			return fmt.Errorf("member %s: an address is longer than %d bytes", m.Org, maxAddrLen)
		}
	}
	return m.Verify()
}

// apply is one entry being applied. Its methods check every rule first
// and change the state only once nothing can fail.
type apply struct {
	s     *State
	index uint64
	e     *Entry
}

func refuse(format string, args ...any) *RejectError {
	return &RejectError{Reason: fmt.Sprintf(format, args...)}
}

func (a *apply) genesis(g *Genesis, raw []byte) (Event, *RejectError) {
	minCohort, rule := g.MinCohort, g.AdmissionRule
	if minCohort == 0 {
		minCohort = DefaultMinCohort
	}
	if rule == "" {
		rule = AdmissionMajority
	}
	switch {
	case strings.TrimSpace(g.Name) == "" || len(g.Name) > maxGovNameLen || !utf8.ValidString(g.Name):
		return Event{}, refuse("the consortium name must be UTF-8 text of 1 to %d bytes", maxGovNameLen)
	case minCohort < 1:
		return Event{}, refuse("min_cohort %d must be 1 or more", g.MinCohort)
	case rule != AdmissionMajority:
		return Event{}, refuse("admission rule %q is not supported; use %q", g.AdmissionRule, AdmissionMajority)
	}
	sum := sha256.Sum256(raw)
	c := &Consortium{ID: hex.EncodeToString(sum[:]), Name: g.Name, MinCohort: minCohort,
		AdmissionRule: rule, Founder: g.Founder.Org, Created: g.Time}
	founder := g.Founder
	founder.Addrs = slices.Clone(founder.Addrs)
	a.s.consortium = c
	a.s.members = map[kpi.OrgID]*Membership{founder.Org: {
		Member: founder, State: MemberAdmitted, Approvals: []kpi.OrgID{founder.Org},
		ProposedBy: founder.Org, DescriptorHash: DescriptorHash(founder),
		ProposedAt: a.index, AdmittedAt: a.index,
	}}
	a.s.contracts = map[kpi.ContractID]*ContractRecord{}
	return Event{Type: EventConsortiumCreated, Object: g.Name, Detail: map[string]string{
		"consortium": c.ID, "founder": string(founder.Org), "min_cohort": strconv.Itoa(minCohort),
	}}, nil
}

// admissionsNeeded is how many approvals admit a member: a strict majority
// of the admitted members.
func (s *State) admissionsNeeded() int { return s.AdmittedCount()/2 + 1 }

func (a *apply) admitPropose(b *AdmitPropose) (Event, *RejectError) {
	m := b.Member
	if err := checkDescriptor(m); err != nil {
		return Event{}, refuse("descriptor: %v", err)
	}
	if old, ok := a.s.members[m.Org]; ok {
		if old.State == MemberPending {
			return Event{}, refuse("%s is already pending admission; approve it instead", m.Org)
		}
		return Event{}, refuse("%s is already a member", m.Org)
	}
	for _, org := range slices.Sorted(maps.Keys(a.s.members)) {
		other := a.s.members[org].Member
		if other.PeerID == m.PeerID {
			return Event{}, refuse("peer id %s is already used by member %s", m.PeerID, org)
		}
		if other.GovernanceKey == m.GovernanceKey {
			return Event{}, refuse("the governance key of %s is already used by member %s", m.Org, org)
		}
	}
	needed := a.s.admissionsNeeded()
	rec := &Membership{Member: m, State: MemberPending, Approvals: []kpi.OrgID{a.e.Org},
		ProposedBy: a.e.Org, DescriptorHash: DescriptorHash(m), ProposedAt: a.index}
	rec.Member.Addrs = slices.Clone(m.Addrs)
	ev := Event{Type: EventMemberProposed, Object: string(m.Org), Detail: map[string]string{
		"approvals": "1", "needed": strconv.Itoa(needed), "peer_id": m.PeerID, "descriptor_hash": rec.DescriptorHash,
	}}
	if len(rec.Approvals) >= needed {
		rec.State, rec.AdmittedAt = MemberAdmitted, a.index
		ev.Type = EventMemberAdmitted
	}
	a.s.members[m.Org] = rec
	return ev, nil
}

func (a *apply) admitApprove(b *AdmitApprove) (Event, *RejectError) {
	rec, ok := a.s.members[b.Org]
	switch {
	case !ok:
		return Event{}, refuse("%s is not a pending member; propose its admission first", b.Org)
	case rec.State == MemberAdmitted:
		return Event{}, refuse("%s is already admitted", b.Org)
	case b.DescriptorHash != rec.DescriptorHash:
		return Event{}, refuse("descriptor hash %q does not match the pending descriptor of %s (%s)", b.DescriptorHash, b.Org, rec.DescriptorHash)
	case slices.Contains(rec.Approvals, a.e.Org):
		return Event{}, &RejectError{Reason: fmt.Sprintf("%s has already approved %s", a.e.Org, b.Org), Err: ErrReplay}
	}
	needed := a.s.admissionsNeeded()
	rec.Approvals = insertSorted(rec.Approvals, a.e.Org)
	ev := Event{Type: EventMemberApproval, Object: string(b.Org), Detail: map[string]string{
		"approvals": strconv.Itoa(len(rec.Approvals)), "needed": strconv.Itoa(needed),
	}}
	if len(rec.Approvals) >= needed {
		rec.State, rec.AdmittedAt = MemberAdmitted, a.index
		ev.Type = EventMemberAdmitted
	}
	return ev, nil
}

func (a *apply) contractPropose(b *ContractPropose) (Event, *RejectError) {
	c, err := Parse(b.Contract, "contract")
	if err != nil {
		return Event{}, refuse("the contract does not parse: %s", strings.ReplaceAll(err.Error(), "\n", "; "))
	}
	if h := c.Hash(); b.Hash != h {
		return Event{}, refuse("hash %q does not match contract %s v%d (%s)", b.Hash, c.ID, c.Version, h)
	}
	if out := a.s.notAdmitted(c.Participants); len(out) > 0 {
		return Event{}, refuse("contract %s: participants %s are not admitted members", c.ID, joinOrgs(out))
	}
	if out := a.s.notAdmitted(c.Readers); len(out) > 0 {
		return Event{}, refuse("contract %s: readers %s are not admitted members", c.ID, joinOrgs(out))
	}
	if floor := a.s.consortium.MinCohort; c.Privacy.MinCohort < floor {
		return Event{}, refuse("contract %s: min_cohort %d is below the consortium's floor of %d", c.ID, c.Privacy.MinCohort, floor)
	}
	if why := participantRule(c); why != "" {
		return Event{}, refuse("%s", why)
	}
	rec, exists := a.s.contracts[c.ID]
	if exists && c.Version != rec.Version+1 {
		return Event{}, refuse("contract %s: version %d cannot follow the current v%d (%s); propose version %d",
			c.ID, c.Version, rec.Version, rec.State, rec.Version+1)
	}
	participants := slices.Clone(c.Participants)
	slices.Sort(participants)
	v := ContractVersion{
		Version: c.Version, Hash: b.Hash, State: ContractProposed,
		Participants: participants, Needed: c.ApprovalsNeeded(), Approvals: []kpi.OrgID{},
		Rejections: map[kpi.OrgID]string{}, ProposedBy: a.e.Org, ProposedAt: a.index,
		Canonical: c.Canonical(),
	}
	if slices.Contains(participants, a.e.Org) {
		v.Approvals = append(v.Approvals, a.e.Org)
	}
	ev := a.tally(EventContractProposed, string(c.ID), &v)
	if !exists {
		a.s.contracts[c.ID] = &ContractRecord{ID: c.ID, ContractVersion: v}
		return ev, nil
	}
	ev.Detail["previous_state"] = string(rec.State)
	rec.History = append(rec.History, rec.ContractVersion)
	rec.ContractVersion = v
	return ev, nil
}

// tally counts a contract version's approvals after a proposal or an
// approval: once they reach what is needed, the version is approved. It
// returns the event of what happened.
func (a *apply) tally(what, id string, v *ContractVersion) Event {
	ev := Event{Type: what, Object: id, Detail: map[string]string{
		"version": strconv.Itoa(v.Version), "hash": v.Hash,
		"approvals": strconv.Itoa(len(v.Approvals)), "needed": strconv.Itoa(v.Needed),
	}}
	if len(v.Approvals) >= v.Needed {
		v.State, v.DecidedAt = ContractApproved, a.index
		ev.Type = EventContractApproved
		if a.s.keysCover(v.Participants) {
			v.State = ContractActive
			ev.Detail["state"] = string(ContractActive)
			ev.Detail["key_epoch"] = strconv.FormatUint(a.s.keys.Epoch, 10)
		}
	}
	return ev
}

// current finds the contract a vote names and checks the vote names its
// current version, while it is still proposed, and that the signer is a
// participant who has not voted yet.
func (a *apply) current(id kpi.ContractID, version int, hash string) (*ContractRecord, *RejectError) {
	rec, ok := a.s.contracts[id]
	switch {
	case !ok:
		return nil, refuse("there is no contract %s", id)
	case version != rec.Version || hash != rec.Hash:
		r := refuse("the entry names %s v%d (hash %s) but the current version is v%d (hash %s)", id, version, hash, rec.Version, rec.Hash)
		if version < rec.Version {
			r.Err = ErrReplay
		}
		return nil, r
	case rec.State != ContractProposed:
		return nil, refuse("%s v%d is %s; only a proposed contract takes approvals or rejections", id, rec.Version, rec.State)
	case !slices.Contains(rec.Participants, a.e.Org):
		return nil, refuse("%s is not a participant of %s v%d (participants: %s)", a.e.Org, id, rec.Version, joinOrgs(rec.Participants))
	case slices.Contains(rec.Approvals, a.e.Org):
		return nil, &RejectError{Reason: fmt.Sprintf("%s has already approved %s v%d", a.e.Org, id, rec.Version), Err: ErrReplay}
	}
	if _, ok := rec.Rejections[a.e.Org]; ok {
		return nil, &RejectError{Reason: fmt.Sprintf("%s has already rejected %s v%d", a.e.Org, id, rec.Version), Err: ErrReplay}
	}
	return rec, nil
}

func (a *apply) contractApprove(b *ContractApprove) (Event, *RejectError) {
	rec, rej := a.current(b.ID, b.Version, b.Hash)
	if rej != nil {
		return Event{}, rej
	}
	rec.Approvals = insertSorted(rec.Approvals, a.e.Org)
	return a.tally(EventContractApproval, string(b.ID), &rec.ContractVersion), nil
}

func (a *apply) contractReject(b *ContractReject) (Event, *RejectError) {
	if strings.TrimSpace(b.Reason) == "" || len(b.Reason) > MaxReasonLen || !utf8.ValidString(b.Reason) {
		return Event{}, refuse("a rejection needs a reason of 1 to %d bytes of UTF-8 text", MaxReasonLen)
	}
	rec, rej := a.current(b.ID, b.Version, b.Hash)
	if rej != nil {
		return Event{}, rej
	}
	if rec.Rejections == nil {
		rec.Rejections = map[kpi.OrgID]string{}
	}
	rec.Rejections[a.e.Org] = b.Reason
	possible := len(rec.Participants) - len(rec.Rejections)
	ev := Event{Type: EventContractRejection, Object: string(b.ID), Detail: map[string]string{
		"version": strconv.Itoa(rec.Version), "hash": rec.Hash, "reason": b.Reason,
		"rejections": strconv.Itoa(len(rec.Rejections)), "needed": strconv.Itoa(rec.Needed),
	}}
	if possible < rec.Needed {
		rec.State, rec.DecidedAt = ContractRejected, a.index
		ev.Type = EventContractRejected
	}
	return ev, nil
}

func (a *apply) contractRetire(b *ContractRetire) (Event, *RejectError) {
	rec, ok := a.s.contracts[b.ID]
	switch {
	case !ok:
		return Event{}, refuse("there is no contract %s", b.ID)
	case b.Version != rec.Version:
		r := refuse("the entry names %s v%d but the current version is v%d", b.ID, b.Version, rec.Version)
		if b.Version < rec.Version {
			r.Err = ErrReplay
		}
		return Event{}, r
	case rec.State == ContractRetired || rec.State == ContractRejected:
		return Event{}, refuse("%s v%d is already %s", b.ID, rec.Version, rec.State)
	case a.e.Org != rec.ProposedBy && !slices.Contains(rec.Participants, a.e.Org):
		return Event{}, refuse("%s is neither a participant nor the proposer of %s v%d", a.e.Org, b.ID, rec.Version)
	}
	prev := rec.State
	rec.State, rec.DecidedAt = ContractRetired, a.index
	return Event{Type: EventContractRetired, Object: string(b.ID), Detail: map[string]string{
		"version": strconv.Itoa(rec.Version), "previous_state": string(prev),
	}}, nil
}

// notAdmitted returns the orgs that are not admitted members, sorted.
func (s *State) notAdmitted(orgs []kpi.OrgID) []kpi.OrgID {
	var out []kpi.OrgID
	for _, o := range orgs {
		if !s.IsAdmitted(o) {
			out = append(out, o)
		}
	}
	slices.Sort(out)
	return out
}

func joinOrgs(orgs []kpi.OrgID) string {
	ss := make([]string, len(orgs))
	for i, o := range orgs {
		ss[i] = string(o)
	}
	return strings.Join(ss, ", ")
}

func insertSorted(orgs []kpi.OrgID, o kpi.OrgID) []kpi.OrgID {
	i, found := slices.BinarySearch(orgs, o)
	if found {
		return orgs
	}
	return slices.Insert(orgs, i, o)
}

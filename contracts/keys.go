package contracts

// Key epochs in the governance state. The privacy layer needs one
// collective public key for the members of a contract before a round can
// run; governance records which members set up which key, so that every
// node knows, from the log alone, which contracts are active.
//
// A key epoch is opened (KeysOpen) for every admitted member. Each member
// first commits to its public-key share (KeysCommit: a digest); once every
// member has committed, each reveals its share (KeysShare), which must
// match its commitment. The epoch is keyed once every share is in. The
// newest keyed epoch is the consortium's key; an approved contract whose
// participants it covers is active. A newer epoch, opened when the
// membership changes, replaces an unkeyed one and, once keyed, the old
// key.

import (
	"crypto/hpke"
	"crypto/sha256"
	"encoding/hex"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/cxnet/cxnet/kpi"
)

// Event types of key epochs.
const (
	EventKeysOpened    = "keys.opened"
	EventKeysCommitted = "keys.committed" // a commitment recorded
	EventKeysShared    = "keys.shared"    // a share recorded; still collecting
	EventKeysReady     = "keys.ready"     // every share is in: the epoch is the consortium's key
)

// KeyEpoch is a key epoch as the state records it.
type KeyEpoch struct {
	Epoch     uint64      `json:"epoch"`
	Members   []kpi.OrgID `json:"members"` // sorted; a member's Shamir point is its position + 1
	Threshold int         `json:"threshold"`
	Seed      string      `json:"seed"`   // hex, 32 bytes
	Params    string      `json:"params"` // the homomorphic parameters' name
	OpenedBy  kpi.OrgID   `json:"opened_by"`
	OpenedAt  uint64      `json:"opened_at"` // log index
	// Commits maps each member that has committed to its public-key
	// share to the commitment (KeyShareDigest).
	Commits map[kpi.OrgID]string `json:"commits"`
	// ReaderKeys maps each member that has committed to the public key
	// results are sealed to for it (KeysCommit.ReaderKey).
	ReaderKeys map[kpi.OrgID][]byte `json:"reader_keys,omitempty"`
	// Shares maps each member that has published its public-key share to
	// the share.
	Shares  map[kpi.OrgID][]byte `json:"shares"`
	KeyedAt uint64               `json:"keyed_at,omitempty"` // log index of the last share; 0 while collecting
}

// Keyed reports whether every member has published its share.
func (k *KeyEpoch) Keyed() bool { return k.KeyedAt != 0 }

// Committed reports whether every member has committed to its share:
// shares may then be revealed.
func (k *KeyEpoch) Committed() bool { return len(k.Commits) == len(k.Members) }

// Uncommitted returns the members whose commitment is still missing,
// sorted.
func (k *KeyEpoch) Uncommitted() []kpi.OrgID { return absentFrom(k.Members, k.Commits) }

// absentFrom returns the members (sorted) that m has no entry for.
func absentFrom[V any](members []kpi.OrgID, m map[kpi.OrgID]V) []kpi.OrgID {
	var out []kpi.OrgID
	for _, o := range members {
		if _, ok := m[o]; !ok {
			out = append(out, o)
		}
	}
	return out
}

// KeyShareDigest is the commitment to org's public-key share of key
// epoch epoch: "sha256:" and the hex SHA-256 of
//
//	"cxnet/keys-share/v1\x00" | epoch (decimal) | "\x00" | org | "\x00" | share
//
// Binding the epoch and the member means a commitment cannot be copied
// from another member or another epoch.
func KeyShareDigest(epoch uint64, org kpi.OrgID, share []byte) string {
	h := sha256.New()
	h.Write([]byte("cxnet/keys-share/v1\x00" + strconv.FormatUint(epoch, 10) + "\x00" + string(org) + "\x00"))
	h.Write(share)
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}

// Missing returns the members whose share is still missing, sorted.
func (k *KeyEpoch) Missing() []kpi.OrgID { return absentFrom(k.Members, k.Shares) }

// OrderedShares returns the shares in member order; nil entries for
// members whose share is missing.
func (k *KeyEpoch) OrderedShares() [][]byte {
	out := make([][]byte, len(k.Members))
	for i, m := range k.Members {
		out[i] = k.Shares[m]
	}
	return out
}

// Point returns the Shamir point of org in this epoch (its position in
// Members plus one), and false when org is not a member of it.
func (k *KeyEpoch) Point(org kpi.OrgID) (int, bool) {
	i, ok := slices.BinarySearch(k.Members, org)
	return i + 1, ok
}

func (k *KeyEpoch) clone() KeyEpoch {
	c := *k
	c.Members = slices.Clone(k.Members)
	c.Commits = maps.Clone(k.Commits)
	c.ReaderKeys = maps.Clone(k.ReaderKeys)
	c.Shares = maps.Clone(k.Shares) // the byte slices are never modified
	return c
}

// Keys returns the consortium's key: the newest keyed epoch, and false
// while no epoch is keyed.
func (s *State) Keys() (KeyEpoch, bool) {
	if s.keys == nil {
		return KeyEpoch{}, false
	}
	return s.keys.clone(), true
}

// PendingKeys returns the epoch collecting shares, and false when none is.
func (s *State) PendingKeys() (KeyEpoch, bool) {
	if s.pendingKeys == nil {
		return KeyEpoch{}, false
	}
	return s.pendingKeys.clone(), true
}

// NeedsKeyEpoch reports whether the admitted members differ from those of
// both the consortium's key and the epoch collecting shares: a member
// should then open a new epoch (the node's key manager does).
func (s *State) NeedsKeyEpoch() bool {
	if s.consortium == nil {
		return false
	}
	admitted := s.admittedOrgs()
	for _, k := range []*KeyEpoch{s.keys, s.pendingKeys} {
		if k != nil && slices.Equal(k.Members, admitted) {
			return false
		}
	}
	return true
}

// NextKeyEpoch is the number the next KeysOpen must carry.
func (s *State) NextKeyEpoch() uint64 {
	var n uint64
	for _, k := range []*KeyEpoch{s.keys, s.pendingKeys} {
		if k != nil && k.Epoch > n {
			n = k.Epoch
		}
	}
	return n + 1
}

// DefaultThreshold is the decryption threshold of an epoch of n members:
// a strict majority, so that no minority can decrypt anything.
func DefaultThreshold(n int) int { return n/2 + 1 }

// admittedOrgs returns the admitted members, sorted.
func (s *State) admittedOrgs() []kpi.OrgID {
	var out []kpi.OrgID
	for _, org := range slices.Sorted(maps.Keys(s.members)) {
		if s.members[org].State == MemberAdmitted {
			out = append(out, org)
		}
	}
	return out
}

// keysCover reports whether the consortium's key covers every one of orgs.
func (s *State) keysCover(orgs []kpi.OrgID) bool {
	if s.keys == nil {
		return false
	}
	for _, o := range orgs {
		if _, ok := s.keys.Point(o); !ok {
			return false
		}
	}
	return true
}

func (a *apply) keysOpen(b *KeysOpen) (Event, *RejectError) {
	admitted := a.s.admittedOrgs()
	next := a.s.NextKeyEpoch()
	seed, err := hex.DecodeString(b.Seed)
	switch {
	case b.Epoch != next:
		r := refuse("key epoch %d cannot be opened; the next is %d", b.Epoch, next)
		if b.Epoch < next {
			r.Err = ErrReplay
		}
		return Event{}, r
	case !slices.Equal(b.Members, admitted):
		return Event{}, refuse("key epoch %d names members %s; it must name every admitted member, sorted: %s",
			b.Epoch, joinOrgs(b.Members), joinOrgs(admitted))
	case !a.s.NeedsKeyEpoch():
		return Event{}, refuse("a key epoch for members %s exists already", joinOrgs(admitted))
	case b.Threshold < DefaultThreshold(len(admitted)) || b.Threshold > len(admitted):
		return Event{}, refuse("threshold %d must be a strict majority of the %d members: %d to %d",
			b.Threshold, len(admitted), DefaultThreshold(len(admitted)), len(admitted))
	case err != nil || len(seed) != 32:
		return Event{}, refuse("the seed must be 32 bytes in hex")
	case b.Params == "" || len(b.Params) > maxGovNameLen:
		return Event{}, refuse("params must name the homomorphic parameters (1 to %d bytes)", maxGovNameLen)
	}
	ev := Event{Type: EventKeysOpened, Object: "epoch " + strconv.FormatUint(b.Epoch, 10), Detail: map[string]string{
		"members": joinOrgs(b.Members), "threshold": strconv.Itoa(b.Threshold), "params": b.Params,
	}}
	if p := a.s.pendingKeys; p != nil {
		ev.Detail["replaces"] = strconv.FormatUint(p.Epoch, 10)
	}
	a.s.pendingKeys = &KeyEpoch{Epoch: b.Epoch, Members: slices.Clone(b.Members), Threshold: b.Threshold,
		Seed: b.Seed, Params: b.Params, OpenedBy: a.e.Org, OpenedAt: a.index,
		Commits: map[kpi.OrgID]string{}, Shares: map[kpi.OrgID][]byte{}}
	return ev, nil
}

// pendingEpoch finds the epoch collecting commitments or shares, or says
// why epoch is not it.
func (a *apply) pendingEpoch(epoch uint64) (*KeyEpoch, *RejectError) {
	p := a.s.pendingKeys
	switch {
	case p == nil || epoch != p.Epoch:
		r := refuse("key epoch %d is not collecting shares", epoch)
		if p != nil && epoch < p.Epoch || a.s.keys != nil && epoch <= a.s.keys.Epoch {
			r.Err = ErrReplay
		}
		return nil, r
	case !slices.Contains(p.Members, a.e.Org):
		return nil, refuse("%s is not a member of key epoch %d (members: %s)", a.e.Org, p.Epoch, joinOrgs(p.Members))
	}
	return p, nil
}

func (a *apply) keysCommit(b *KeysCommit) (Event, *RejectError) {
	p, rej := a.pendingEpoch(b.Epoch)
	if rej != nil {
		return Event{}, rej
	}
	if !ValidDigest(b.Digest) {
		return Event{}, refuse("the commitment %q must be sha256: and 64 hex digits", b.Digest)
	}
	if !validReaderKey(b.ReaderKey) {
		return Event{}, refuse("the reader key must be an ML-KEM-768+P-256 HPKE public key (%d bytes)", readerKeySize)
	}
	if _, ok := p.Commits[a.e.Org]; ok {
		return Event{}, &RejectError{Reason: string(a.e.Org) + " has already committed to its share for key epoch " + strconv.FormatUint(p.Epoch, 10), Err: ErrReplay}
	}
	if p.Commits == nil {
		p.Commits = map[kpi.OrgID]string{}
	}
	p.Commits[a.e.Org] = b.Digest
	if p.ReaderKeys == nil {
		p.ReaderKeys = map[kpi.OrgID][]byte{}
	}
	p.ReaderKeys[a.e.Org] = slices.Clone(b.ReaderKey)
	return Event{Type: EventKeysCommitted, Object: "epoch " + strconv.FormatUint(p.Epoch, 10), Detail: map[string]string{
		"commits": strconv.Itoa(len(p.Commits)), "members": strconv.Itoa(len(p.Members)),
	}}, nil
}

func (a *apply) keysShare(b *KeysShare) (Event, *RejectError) {
	p, rej := a.pendingEpoch(b.Epoch)
	if rej != nil {
		return Event{}, rej
	}
	switch {
	case len(b.Share) == 0 || len(b.Share) > MaxKeyShare:
		return Event{}, refuse("a public-key share must have 1 to %d bytes (got %d)", MaxKeyShare, len(b.Share))
	case !p.Committed():
		return Event{}, refuse("key epoch %d: shares are revealed only once every member has committed to its own; waiting for %s",
			p.Epoch, joinOrgs(p.Uncommitted()))
	case KeyShareDigest(p.Epoch, a.e.Org, b.Share) != p.Commits[a.e.Org]:
		return Event{}, refuse("key epoch %d: %s's share does not match the commitment it made before the shares were revealed; refused (a share chosen after seeing the others' is a rogue-key attack)",
			p.Epoch, a.e.Org)
	}
	if _, ok := p.Shares[a.e.Org]; ok {
		return Event{}, &RejectError{Reason: string(a.e.Org) + " has already published its share for key epoch " + strconv.FormatUint(p.Epoch, 10), Err: ErrReplay}
	}
	p.Shares[a.e.Org] = slices.Clone(b.Share)
	ev := Event{Type: EventKeysShared, Object: "epoch " + strconv.FormatUint(p.Epoch, 10), Detail: map[string]string{
		"shares": strconv.Itoa(len(p.Shares)), "members": strconv.Itoa(len(p.Members)),
	}}
	if len(p.Shares) < len(p.Members) {
		return ev, nil
	}
	p.KeyedAt = a.index
	a.s.keys, a.s.pendingKeys = p, nil
	ev.Type = EventKeysReady
	var activated []string
	for _, id := range slices.Sorted(maps.Keys(a.s.contracts)) {
		rec := a.s.contracts[id]
		if rec.State == ContractApproved && a.s.keysCover(rec.Participants) {
			rec.State = ContractActive
			activated = append(activated, string(id))
		}
	}
	if len(activated) > 0 {
		ev.Detail["activated"] = strings.Join(activated, ", ")
	}
	return ev, nil
}

// readerKeySize is the size of an ML-KEM-768+P-256 HPKE public key, the
// suite privacy seals results with.
const readerKeySize = 1184 + 65

// validReaderKey reports whether b is a reader public key of the suite
// results are sealed with (privacy/readers.go; a test there checks the
// two agree).
func validReaderKey(b []byte) bool {
	_, err := hpke.MLKEM768P256().NewPublicKey(b)
	return err == nil
}

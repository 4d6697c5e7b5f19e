package contracts

// Key epochs in the governance state. The privacy layer needs one
// collective public key for the members of a contract before a round can
// run; governance records which members set up which key, so that every
// node knows, from the log alone, which contracts are active.
//
// A key epoch is opened (KeysOpen) for every admitted member; it is keyed
// once each of them has published its public-key share (KeysShare). The
// newest keyed epoch is the consortium's key; an approved contract whose
// participants it covers is active. A newer epoch, opened when the
// membership changes, replaces an unkeyed one and, once keyed, the old
// key.

import (
	"encoding/hex"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/cxnet/cxnet/kpi"
)

// Event types of key epochs.
const (
	EventKeysOpened = "keys.opened"
	EventKeysShared = "keys.shared" // a share recorded; still collecting
	EventKeysReady  = "keys.ready"  // every share is in: the epoch is the consortium's key
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
	// Shares maps each member that has published its public-key share to
	// the share.
	Shares  map[kpi.OrgID][]byte `json:"shares"`
	KeyedAt uint64               `json:"keyed_at,omitempty"` // log index of the last share; 0 while collecting
}

// Keyed reports whether every member has published its share.
func (k *KeyEpoch) Keyed() bool { return k.KeyedAt != 0 }

// Missing returns the members whose share is still missing, sorted.
func (k *KeyEpoch) Missing() []kpi.OrgID {
	var out []kpi.OrgID
	for _, m := range k.Members {
		if _, ok := k.Shares[m]; !ok {
			out = append(out, m)
		}
	}
	return out
}

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
		Seed: b.Seed, Params: b.Params, OpenedBy: a.e.Org, OpenedAt: a.index, Shares: map[kpi.OrgID][]byte{}}
	return ev, nil
}

func (a *apply) keysShare(b *KeysShare) (Event, *RejectError) {
	p := a.s.pendingKeys
	switch {
	case p == nil || b.Epoch != p.Epoch:
		r := refuse("key epoch %d is not collecting shares", b.Epoch)
		if p != nil && b.Epoch < p.Epoch || a.s.keys != nil && b.Epoch <= a.s.keys.Epoch {
			r.Err = ErrReplay
		}
		return Event{}, r
	case !slices.Contains(p.Members, a.e.Org):
		return Event{}, refuse("%s is not a member of key epoch %d (members: %s)", a.e.Org, p.Epoch, joinOrgs(p.Members))
	case len(b.Share) == 0 || len(b.Share) > MaxKeyShare:
		return Event{}, refuse("a public-key share must have 1 to %d bytes (got %d)", MaxKeyShare, len(b.Share))
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

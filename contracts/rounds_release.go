package contracts

// A round's release, as every node's state machine checks it. The
// aggregator's word counts for nothing: a release holds
//
//   - what the round's decryptors opened (kpi.Opened: which cells reach
//     the floor, their counts, their padded sums), with the signature of
//     every decryptor of the round's threshold set over it;
//   - the pads of every sealed input for the kept cells, each signed by
//     its participant over the decryptors' attestation;
//
// and the state machine computes the released cells itself: each kept
// component is its padded sum minus the inputs' pads, modulo 2^64.

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"

	"github.com/cxnet/cxnet/kpi"
)

// RoundRelease publishes a round's result (see the comment at the top of
// this file). The aggregator signs it; the state machine checks every
// signature inside it.
type RoundRelease struct {
	Header
	Round      string                   `json:"round"`
	Decryptors []kpi.OrgID              `json:"decryptors"` // the threshold set, sorted
	Opened     kpi.Opened               `json:"opened"`
	Attest     map[kpi.OrgID][]byte     `json:"attest"` // decryptor -> signature over AttestBytes
	Pads       map[kpi.OrgID]SignedPads `json:"pads"`   // sealed input -> its pads of the kept components
}

// SignedPads are a participant's pads of a round's kept components (8
// bytes little-endian each, in Opened.Sums order) and its signature over
// PadsBytes.
type SignedPads struct {
	Pads []byte `json:"pads"`
	Sig  []byte `json:"sig"`
}

// ReleasedCell is a cell as a release publishes it: a suppressed cell
// shows neither its count nor its value, and says why.
type ReleasedCell struct {
	Group      map[string]string `json:"group"`
	Count      *int64            `json:"count"`
	Value      any               `json:"value"`
	Suppressed bool              `json:"suppressed"`
	Reason     string            `json:"reason,omitempty"` // min_cohort, differencing
}

// Suppression reasons.
const (
	SuppressedMinCohort    = "min_cohort"
	SuppressedDifferencing = "differencing"
)

// RoundSigner signs what a member says of a round: its decryptors'
// attestations and its participants' pads. The key is the member's
// governance key, which the state records.
func RoundSigner(key ed25519.PrivateKey) func(msg []byte) []byte {
	return func(msg []byte) []byte { return ed25519.Sign(key, msg) }
}

// AttestBytes is what a decryptor of round signs: the consortium, the
// round, its key epoch, the threshold set and what it opened.
func AttestBytes(consortiumID, round string, epoch uint64, decryptors []kpi.OrgID, o *kpi.Opened) []byte {
	body, _ := json.Marshal(struct {
		Epoch      uint64      `json:"epoch"`
		Decryptors []kpi.OrgID `json:"decryptors"`
		Opened     *kpi.Opened `json:"opened"`
	}{epoch, decryptors, o}) // slices and a struct: deterministic
	return signedRoundBytes("cxnet/round-attest/v1", consortiumID, round, body)
}

// PadsBytes is what a participant signs when it reveals its pads: the
// consortium, the round, the digest of the attestation it checked, and
// the pads.
func PadsBytes(consortiumID, round string, attest []byte, pads []byte) []byte {
	h := sha256.Sum256(attest)
	return signedRoundBytes("cxnet/round-pads/v1", consortiumID, round, append(h[:], pads...))
}

func signedRoundBytes(context, consortiumID, round string, body []byte) []byte {
	b := make([]byte, 0, len(context)+len(consortiumID)+len(round)+3+len(body))
	b = append(b, context...)
	b = append(b, 0)
	b = append(b, consortiumID...)
	b = append(b, 0)
	b = append(b, round...)
	b = append(b, 0)
	return append(b, body...)
}

// VerifyMember checks sig is org's signature over msg, with the
// governance key the state records for it.
func (s *State) VerifyMember(org kpi.OrgID, msg, sig []byte) error {
	m, ok := s.members[org]
	if !ok || m.State != MemberAdmitted {
		return fmt.Errorf("%s is not a member", org)
	}
	pub, err := m.Member.PublicKey()
	if err != nil {
		return err
	}
	if !ed25519.Verify(pub, msg, sig) {
		return fmt.Errorf("%s's signature does not verify", org)
	}
	return nil
}

// CheckDecryptors checks a round's threshold set: sorted, distinct,
// exactly the threshold of key epoch k, every one a member of it.
func CheckDecryptors(k *KeyEpoch, decryptors []kpi.OrgID) error {
	if len(decryptors) != k.Threshold || !slices.IsSorted(decryptors) || len(slices.Compact(slices.Clone(decryptors))) != len(decryptors) {
		return fmt.Errorf("the decryptors %v must be %d distinct members of key epoch %d, sorted", decryptors, k.Threshold, k.Epoch)
	}
	for _, o := range decryptors {
		if _, ok := k.Point(o); !ok {
			return fmt.Errorf("decryptor %s is not a member of key epoch %d", o, k.Epoch)
		}
	}
	return nil
}

// CheckOpened checks what decryptors opened against contract c: the kept
// cells are cells of c, ascending, each with a count at the floor or
// above, and a padded sum for each of their components.
func CheckOpened(c *Contract, o *kpi.Opened) error {
	cells := len(c.Cells())
	floor := int64(c.Privacy.MinCohort)
	for i, k := range o.Keep {
		if k < 0 || k >= cells || i > 0 && o.Keep[i-1] >= k {
			return fmt.Errorf("the kept cells must be distinct cells 0 to %d, ascending", cells-1)
		}
	}
	switch {
	case len(o.Counts) != len(o.Keep):
		return fmt.Errorf("%d counts for %d kept cells", len(o.Counts), len(o.Keep))
	case len(o.Sums) != 8*len(o.Keep)*c.Width():
		return fmt.Errorf("%d bytes of sums for %d kept cells of %d components", len(o.Sums), len(o.Keep), c.Width())
	}
	for i, n := range o.Counts {
		if n < floor {
			return fmt.Errorf("cell %d is kept with a count of %d, under the floor of %d", o.Keep[i], n, floor)
		}
	}
	return nil
}

// KeptPads picks, from a participant's pads of every component of every
// cell, those of the kept cells, in Opened.Sums order.
func KeptPads(c *Contract, o *kpi.Opened, pads []uint64) ([]byte, error) {
	w := c.Width()
	if len(pads) != len(c.Cells())*w {
		return nil, fmt.Errorf("%d pads for %d components", len(pads), len(c.Cells())*w)
	}
	out := make([]byte, 0, 8*len(o.Keep)*w)
	for _, k := range o.Keep {
		for _, p := range pads[k*w : (k+1)*w] {
			out = binary.LittleEndian.AppendUint64(out, p)
		}
	}
	return out, nil
}

// ReleaseOpened computes the released cells of contract c from what the
// decryptors opened and every input's pads of the kept components: each
// kept component is its padded sum minus the pads, modulo 2^64. A kept
// cell whose count component differs from the count the decryptors
// opened is refused (its inputs or its decryption are inconsistent);
// every other cell is suppressed under the cohort floor.
func ReleaseOpened(c *Contract, o *kpi.Opened, pads [][]byte) ([]ReleasedCell, error) {
	if err := CheckOpened(c, o); err != nil {
		return nil, err
	}
	w := c.Width()
	comps := make([]int64, len(c.Cells())*w)
	for i, p := range pads {
		if len(p) != len(o.Sums) {
			return nil, fmt.Errorf("input %d reveals %d bytes of pads, want %d", i, len(p), len(o.Sums))
		}
	}
	for i, k := range o.Keep {
		for j := range w {
			at := 8 * (i*w + j)
			v := binary.LittleEndian.Uint64(o.Sums[at:])
			for _, p := range pads {
				v -= binary.LittleEndian.Uint64(p[at:])
			}
			comps[k*w+j] = int64(v)
		}
		if comps[k*w] != o.Counts[i] {
			return nil, fmt.Errorf("cell %d: the inputs' count is %d but the decryptors opened %d", k, comps[k*w], o.Counts[i])
		}
	}
	cells, err := c.Release(comps)
	if err != nil {
		return nil, err
	}
	out := make([]ReleasedCell, len(cells))
	kept := 0
	for i, cell := range cells {
		out[i] = ReleasedCell{Group: cell.Group}
		if kept < len(o.Keep) && o.Keep[kept] == i {
			kept++
			n := cell.Count
			out[i].Count, out[i].Value = &n, cell.Value
			continue
		}
		out[i].Suppressed, out[i].Reason = true, SuppressedMinCohort
	}
	return out, nil
}

// suppressMoved suppresses, in an exact contract's release, every cell
// whose count moved by fewer than min_cohort records since the cell's
// previous release, or whose value moved while its count did not: set
// against that release it would show those records (differencing.go).
func (s *State) suppressMoved(c *Contract, cells []ReleasedCell) {
	shown := make([]Cell, 0, len(cells))
	at := make([]int, 0, len(cells))
	for i, cell := range cells {
		if !cell.Suppressed {
			shown = append(shown, Cell{Group: cell.Group, Count: *cell.Count, Value: cell.Value})
			at = append(at, i)
		}
	}
	for i, moved := range SuppressMoved(c, s.PreviousCells(c.ID), shown) {
		if moved {
			cells[at[i]] = ReleasedCell{Group: cells[at[i]].Group, Suppressed: true, Reason: SuppressedDifferencing}
		}
	}
}

func (a *apply) roundRelease(b *RoundRelease) (Event, *RejectError) {
	r, rej := a.roundIn(b.Round, RoundSealed)
	if rej != nil {
		return Event{}, rej
	}
	rec := a.s.contracts[r.Contract]
	k := a.s.keys
	switch {
	case a.e.Org != r.Aggregator:
		return Event{}, refuse("only round %s's aggregator %s releases it", r.ID, r.Aggregator)
	case rec.Version != r.Version || rec.Hash != r.Hash:
		return Event{}, refuse("contract %s changed since round %s opened (v%d, now v%d)", r.Contract, r.ID, r.Version, rec.Version)
	case k == nil || k.Epoch != r.Epoch:
		return Event{}, refuse("key epoch %d of round %s is no longer the consortium's key", r.Epoch, r.ID)
	}
	c, err := rec.Contract()
	if err != nil {
		return Event{}, refuse("contract %s does not parse: %v", r.Contract, err)
	}
	if err := CheckDecryptors(k, b.Decryptors); err != nil {
		return Event{}, refuse("%v", err)
	}
	attest := AttestBytes(a.s.consortium.ID, r.ID, r.Epoch, b.Decryptors, &b.Opened)
	if len(b.Attest) != len(b.Decryptors) {
		return Event{}, refuse("the release carries %d attestations for %d decryptors", len(b.Attest), len(b.Decryptors))
	}
	for _, o := range b.Decryptors {
		if err := a.s.VerifyMember(o, attest, b.Attest[o]); err != nil {
			return Event{}, refuse("decryptor %s did not attest what the release says was opened: %v", o, err)
		}
	}
	if len(b.Pads) != len(r.Sealed) {
		return Event{}, refuse("the release carries the pads of %d inputs; round %s sums %d (%s)", len(b.Pads), r.ID, len(r.Sealed), joinOrgs(r.Sealed))
	}
	pads := make([][]byte, 0, len(r.Sealed))
	for _, o := range r.Sealed {
		p, ok := b.Pads[o]
		if !ok {
			return Event{}, refuse("the release lacks the pads of %s, whose input round %s sums", o, r.ID)
		}
		if err := a.s.VerifyMember(o, PadsBytes(a.s.consortium.ID, r.ID, attest, p.Pads), p.Sig); err != nil {
			return Event{}, refuse("the pads of %s are not the ones it signed: %v", o, err)
		}
		pads = append(pads, p.Pads)
	}
	cells, err := ReleaseOpened(c, &b.Opened, pads)
	if err != nil {
		return Event{}, refuse("round %s: %v", r.ID, err)
	}
	a.s.suppressMoved(c, cells)
	suppressed := 0
	for _, cell := range cells {
		if cell.Suppressed {
			suppressed++
		}
	}
	cellsJSON, err := json.Marshal(cells)
	if err != nil || len(cellsJSON) > MaxReleaseSize {
		return Event{}, refuse("the released cells take more than %d bytes", MaxReleaseSize)
	}
	r.State = RoundReleased
	r.EndedAt, r.Ended = a.index, b.Time.UTC().Format("2006-01-02T15:04:05.000Z07:00")
	r.Release = &RoundResult{Inputs: slices.Clone(r.Sealed), Decryptors: slices.Clone(b.Decryptors), Cells: cellsJSON,
		Suppressed: suppressed, At: a.index, Released: r.Ended}
	return Event{Type: EventRoundReleased, Object: r.ID, Detail: map[string]string{
		"contract": string(r.Contract), "inputs": joinOrgs(r.Sealed), "suppressed": strconv.Itoa(suppressed),
	}}, nil
}

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
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"

	"github.com/cxnet/cxnet/kpi"
)

// RoundRelease publishes a round's result (see the comment at the top of
// this file). The aggregator signs it; the state machine checks every
// signature inside it.
type RoundRelease struct {
	Header
	Round      kpi.RoundID              `json:"round"`
	Decryptors []kpi.OrgID              `json:"decryptors"` // the threshold set, sorted
	Opened     kpi.Opened               `json:"opened"`
	Attest     map[kpi.OrgID][]byte     `json:"attest"`         // decryptor -> signature over AttestBytes
	Pads       map[kpi.OrgID]SignedPads `json:"pads,omitempty"` // sealed input -> its pads of the kept components
	// PadSum, for a contract without readers, replaces Pads: the sum of
	// the inputs' pads (padsum.go), with each input's signed fingerprint
	// of its pads against it.
	PadSum    []byte                       `json:"pad_sum,omitempty"`
	PadPrints map[kpi.OrgID]SignedPadPrint `json:"pad_prints,omitempty"`
	// SealedCounts, for a contract with readers, are the opened counts
	// sealed to each reader by the aggregator (Opened then withholds
	// them); a reader checks them against the attested digest.
	SealedCounts map[kpi.OrgID][]byte `json:"sealed_counts,omitempty"`
}

// SignedPads are a participant's pads of a round's kept components (8
// bytes little-endian each, in Opened.Sums order) and its signature over
// PadsBytes. For a contract with readers, Pads is empty and Sealed holds
// the pads sealed to each reader (privacy.SealTo); the signature is over
// SealedBytes(Sealed) in place of the pads.
type SignedPads struct {
	Pads   []byte               `json:"pads,omitempty"`
	Sealed map[kpi.OrgID][]byte `json:"sealed,omitempty"`
	Sig    []byte               `json:"sig"`
}

// Signed returns what the participant signed: the pads, or the pads
// sealed to the readers.
func (p *SignedPads) Signed() []byte {
	if p.Sealed != nil {
		return SealedBytes(p.Sealed)
	}
	return p.Pads
}

// Suppression reasons.
const (
	SuppressedMinCohort    = "min_cohort"
	SuppressedFewOrgs      = "min_organisations"
	SuppressedDifferencing = "differencing"
)

// RoundSigner signs what a member says of a round: its decryptors'
// attestations and its participants' pads. The key is the member's
// governance key, which the state records.
func RoundSigner(key ed25519.PrivateKey) func(msg []byte) []byte {
	return func(msg []byte) []byte { return ed25519.Sign(key, msg) }
}

// AttestBytes is what a decryptor of round signs: the consortium, the
// round, its key epoch, the threshold set and what it opened — the kept
// cells, the digest of their counts (so that a release to readers can
// withhold the counts) and their padded sums.
func AttestBytes(consortiumID string, round kpi.RoundID, epoch uint64, decryptors []kpi.OrgID, o *kpi.Opened) []byte {
	digest := o.CountsDigest
	if digest == "" || o.Counts != nil { // no cell kept: no counts, as JSON may drop them
		digest = CountsDigest(o.Counts)
	}
	body, _ := json.Marshal(struct {
		Epoch        uint64      `json:"epoch"`
		Decryptors   []kpi.OrgID `json:"decryptors"`
		Keep         []int       `json:"keep"`
		Few          []int       `json:"few"`
		CountsDigest string      `json:"counts_digest"`
		Sums         []byte      `json:"sums"`
	}{epoch, decryptors, nonNil(o.Keep), nonNil(o.Few), digest, nonNil(o.Sums)}) // deterministic, nil or empty alike
	return signedRoundBytes("cxnet/round-attest/v1", consortiumID, round, body)
}

// nonNil is s, or an empty slice for nil: both encode alike.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// CountsDigest is the digest of opened counts that attestations sign.
func CountsDigest(counts []int64) string {
	h := sha256.New()
	for _, n := range counts {
		h.Write(binary.LittleEndian.AppendUint64(nil, uint64(n)))
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}

// Withheld is o as a release to readers carries it: the counts replaced
// by their digest.
func Withheld(o *kpi.Opened) kpi.Opened {
	return kpi.Opened{Keep: o.Keep, Few: o.Few, CountsDigest: CountsDigest(o.Counts), Sums: o.Sums}
}

// SealedBytes is the canonical encoding of ciphertexts sealed to readers,
// by reader: what a participant signs in place of its pads.
func SealedBytes(sealed map[kpi.OrgID][]byte) []byte {
	var b []byte
	for _, r := range slices.Sorted(maps.Keys(sealed)) {
		b = append(b, r...)
		b = append(b, 0)
		b = binary.LittleEndian.AppendUint64(b, uint64(len(sealed[r])))
		b = append(b, sealed[r]...)
	}
	return b
}

// SealInfo is the HPKE info a ciphertext sealed to a reader is bound to:
// the consortium, the round, what it is ("pads" or "counts") and who
// sealed it.
func SealInfo(consortiumID string, round kpi.RoundID, what string, from kpi.OrgID) []byte {
	return signedRoundBytes("cxnet/round-sealed/v1", consortiumID, round, []byte(what+"\x00"+string(from)))
}

// PadsBytes is what a participant signs when it reveals its pads: the
// consortium, the round, the digest of the attestation it checked, and
// the pads.
func PadsBytes(consortiumID string, round kpi.RoundID, attest []byte, pads []byte) []byte {
	h := sha256.Sum256(attest)
	return signedRoundBytes("cxnet/round-pads/v1", consortiumID, round, append(h[:], pads...))
}

func signedRoundBytes(context, consortiumID string, round kpi.RoundID, body []byte) []byte {
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

// CheckOpened checks what decryptors opened, as a release of contract c
// carries it: the kept cells are cells of c, ascending, with a padded sum
// for each of their components, and a count at the floor or above — or,
// for a contract with readers, the counts withheld and their digest given.
func CheckOpened(c *Contract, o *kpi.Opened) error {
	if len(c.Readers) > 0 {
		if o.Counts != nil || !ValidDigest(o.CountsDigest) {
			return fmt.Errorf("a release to readers withholds the counts and gives their digest")
		}
		return checkKept(c, o, false)
	}
	return checkKept(c, o, true)
}

// checkKept checks the kept cells and their sums, and their counts when
// withCounts.
func checkKept(c *Contract, o *kpi.Opened, withCounts bool) error {
	cells := len(c.Cells())
	for i, k := range o.Keep {
		if k < 0 || k >= cells || i > 0 && o.Keep[i-1] >= k {
			return fmt.Errorf("the kept cells must be distinct cells 0 to %d, ascending", cells-1)
		}
	}
	for i, k := range o.Few {
		if k < 0 || k >= cells || i > 0 && o.Few[i-1] >= k || slices.Contains(o.Keep, k) {
			return fmt.Errorf("the cells too few organisations feed must be distinct cells 0 to %d, ascending, none of them kept", cells-1)
		}
	}
	if len(o.Sums) != 8*len(o.Keep)*c.Width() {
		return fmt.Errorf("%d bytes of sums for %d kept cells of %d components", len(o.Sums), len(o.Keep), c.Width())
	}
	if !withCounts {
		return nil
	}
	if len(o.Counts) != len(o.Keep) {
		return fmt.Errorf("%d counts for %d kept cells", len(o.Counts), len(o.Keep))
	}
	floor := int64(c.Privacy.MinCohort)
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
func ReleaseOpened(c *Contract, o *kpi.Opened, pads [][]byte) ([]kpi.Cell, error) {
	if err := checkKept(c, o, true); err != nil {
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
	out := make([]kpi.Cell, len(cells))
	kept := 0
	for i, cell := range cells {
		out[i] = kpi.Cell{Group: cell.Group}
		if kept < len(o.Keep) && o.Keep[kept] == i {
			kept++
			n := cell.Count
			out[i].Count, out[i].Value = &n, cell.Value
			continue
		}
		out[i].Suppressed, out[i].Reason = true, SuppressedMinCohort
		if slices.Contains(o.Few, i) {
			out[i].Reason = SuppressedFewOrgs
		}
	}
	return out, nil
}

// suppressMoved suppresses, in an exact contract's release, every cell
// whose count moved by fewer than min_cohort records since the cell's
// previous release, or whose value moved while its count did not: set
// against that release it would show those records (differencing.go).
func (s *State) suppressMoved(c *Contract, cells []kpi.Cell) {
	s.suppressMovedAgainst(c, s.PreviousCells(c.ID), cells)
}

// suppressMovedAgainst is suppressMoved against the previous cells prev.
func (s *State) suppressMovedAgainst(c *Contract, prev map[string]PrevCell, cells []kpi.Cell) {
	shown := make([]Cell, 0, len(cells))
	at := make([]int, 0, len(cells))
	for i, cell := range cells {
		if !cell.Suppressed {
			shown = append(shown, Cell{Group: cell.Group, Count: *cell.Count, Value: cell.Value})
			at = append(at, i)
		}
	}
	for i, moved := range SuppressMoved(c, prev, shown) {
		if moved {
			cells[at[i]] = kpi.Cell{Group: cells[at[i]].Group, Suppressed: true, Reason: SuppressedDifferencing}
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
	if err := CheckOpened(c, &b.Opened); err != nil {
		return Event{}, refuse("round %s: %v", r.ID, err)
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
	var pads [][]byte
	summed := b.PadSum != nil || b.PadPrints != nil
	switch {
	case summed:
		if len(c.Readers) > 0 || b.Pads != nil {
			return Event{}, refuse("a pad sum is for a contract without readers, in place of the inputs' pads")
		}
		sum, err := a.s.checkPadSum(r, attest, b.PadSum, b.PadPrints, &b.Opened)
		if err != nil {
			return Event{}, refuse("round %s: %v", r.ID, err)
		}
		pads = [][]byte{sum}
	case len(b.Pads) != len(r.Sealed):
		return Event{}, refuse("the release carries the pads of %d inputs; round %s sums %d (%s)", len(b.Pads), r.ID, len(r.Sealed), joinOrgs(r.Sealed))
	}
	for _, o := range r.Sealed {
		if summed {
			break
		}
		p, ok := b.Pads[o]
		if !ok {
			return Event{}, refuse("the release lacks the pads of %s, whose input round %s sums", o, r.ID)
		}
		if err := a.s.VerifyMember(o, PadsBytes(a.s.consortium.ID, r.ID, attest, p.Signed()), p.Sig); err != nil {
			return Event{}, refuse("the pads of %s are not the ones it signed: %v", o, err)
		}
		if len(c.Readers) > 0 && (p.Pads != nil || !sameKeys(p.Sealed, c.Readers)) {
			return Event{}, refuse("the pads of %s must be sealed to each reader of %s (%s) and to no one else", o, r.Contract, joinOrgs(c.Readers))
		}
		pads = append(pads, p.Pads)
	}
	if len(c.Readers) > 0 {
		return a.releaseToReaders(r, c, b)
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
	return Event{Type: EventRoundReleased, Object: string(r.ID), Detail: map[string]string{
		"contract": string(r.Contract), "inputs": joinOrgs(r.Sealed), "suppressed": strconv.Itoa(suppressed),
	}}, nil
}

// sameKeys reports whether m has exactly the keys orgs.
func sameKeys(m map[kpi.OrgID][]byte, orgs []kpi.OrgID) bool {
	if len(m) != len(orgs) {
		return false
	}
	for _, o := range orgs {
		if _, ok := m[o]; !ok {
			return false
		}
	}
	return true
}

// SealedResult is a release to readers as the log keeps it: what the
// decryptors opened, the counts withheld, and what was sealed to each
// reader. Only a reader can compute the cells from it.
type SealedResult struct {
	Opened kpi.Opened `json:"opened"`
	// Counts maps each reader to the opened counts sealed to it.
	Counts map[kpi.OrgID][]byte `json:"counts"`
	// Pads maps each input to its pads sealed to each reader.
	Pads map[kpi.OrgID]map[kpi.OrgID][]byte `json:"pads"`
}

// releaseToReaders records a release of a contract with readers: the
// signatures are checked (roundRelease), the cells stay sealed.
func (a *apply) releaseToReaders(r *Round, c *Contract, b *RoundRelease) (Event, *RejectError) {
	if !sameKeys(b.SealedCounts, c.Readers) {
		return Event{}, refuse("the opened counts must be sealed to each reader of %s (%s) and to no one else", r.Contract, joinOrgs(c.Readers))
	}
	sealed := &SealedResult{Opened: b.Opened, Counts: maps.Clone(b.SealedCounts), Pads: map[kpi.OrgID]map[kpi.OrgID][]byte{}}
	for _, o := range r.Sealed {
		sealed.Pads[o] = maps.Clone(b.Pads[o].Sealed)
	}
	r.State = RoundReleased
	r.EndedAt, r.Ended = a.index, b.Time.UTC().Format("2006-01-02T15:04:05.000Z07:00")
	r.Release = &RoundResult{Inputs: slices.Clone(r.Sealed), Decryptors: slices.Clone(b.Decryptors), Sealed: sealed,
		Suppressed: len(c.Cells()) - len(b.Opened.Keep), At: a.index, Released: r.Ended}
	return Event{Type: EventRoundReleased, Object: string(r.ID), Detail: map[string]string{
		"contract": string(r.Contract), "inputs": joinOrgs(r.Sealed), "readers": joinOrgs(c.Readers),
	}}, nil
}

// ReaderRelease computes, for reader, the cells of round id, released to
// the readers of its contract: it opens the counts and every input's pads
// sealed to it (open: privacy.ReaderKey.Open), checks the counts against
// the digest the decryptors attested, and releases the cells as
// ReleaseOpened does, suppressing the cells that moved too little since
// their previous release, as the state machine does for other contracts
// (which is why it computes every earlier release of the contract too).
func (s *State) ReaderRelease(id kpi.RoundID, reader kpi.OrgID, open func(info, ciphertext []byte) ([]byte, error)) ([]kpi.Cell, error) {
	target, ok := s.rounds[id]
	if !ok || target.Release == nil || target.Release.Sealed == nil {
		return nil, fmt.Errorf("round %s has no release sealed to readers", id)
	}
	prev := map[string]PrevCell{}
	for _, r := range s.releasedRounds(target.Contract) {
		if r.Release.Sealed == nil || r.Release.At > target.Release.At {
			continue
		}
		c, ok := s.versionContract(r.Contract, r.Version)
		if !ok {
			return nil, fmt.Errorf("round %s: version %d of %s is not known", r.ID, r.Version, r.Contract)
		}
		cells, err := s.openSealed(r, c, reader, open)
		if err != nil {
			return nil, fmt.Errorf("round %s: %w", r.ID, err)
		}
		if c.exact() {
			s.suppressMovedAgainst(c, prev, cells)
			def := c.valueDefinition()
			for _, cell := range cells {
				if !cell.Suppressed {
					v, _ := json.Marshal(cell.Value)
					prev[GroupKey(cell.Group)] = PrevCell{Group: cell.Group, Count: *cell.Count, Value: v, Round: r.ID, Version: r.Version, def: def}
				}
			}
		}
		if r.ID == id {
			return cells, nil
		}
	}
	return nil, fmt.Errorf("round %s is not among its contract's releases", id)
}

// openSealed opens one release sealed to reader.
func (s *State) openSealed(r *Round, c *Contract, reader kpi.OrgID, open func(info, ciphertext []byte) ([]byte, error)) ([]kpi.Cell, error) {
	sealed := r.Release.Sealed
	ct, ok := sealed.Counts[reader]
	if !ok {
		return nil, fmt.Errorf("nothing is sealed to %s", reader)
	}
	b, err := open(SealInfo(s.consortium.ID, r.ID, "counts", r.Aggregator), ct)
	if err != nil {
		return nil, fmt.Errorf("the counts: %w", err)
	}
	var counts []int64
	if err := json.Unmarshal(b, &counts); err != nil || CountsDigest(counts) != sealed.Opened.CountsDigest {
		return nil, fmt.Errorf("the counts sealed to %s are not the ones the decryptors attested", reader)
	}
	o := sealed.Opened
	o.Counts, o.CountsDigest = counts, ""
	var pads [][]byte
	for _, in := range r.Release.Inputs {
		p, err := open(SealInfo(s.consortium.ID, r.ID, "pads", in), sealed.Pads[in][reader])
		if err != nil {
			return nil, fmt.Errorf("the pads of %s: %w", in, err)
		}
		pads = append(pads, p)
	}
	return ReleaseOpened(c, &o, pads)
}

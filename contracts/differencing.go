package contracts

// Differencing: no release, alone or set against an earlier one, reveals
// one organisation's own cells (INTERFACE.md, "Rules every node enforces
// on releases").
//
//   - A release over two inputs is one organisation's cells to the other,
//     who subtracts its own: every contract needs at least
//     MinReleaseInputs participants and a min_participants of at least
//     that (participantRule, checked when a contract is proposed, not
//     when it is parsed: `contract preview` of a local file works
//     whatever its participants).
//   - Two releases of an exact contract whose input sets differ by one or
//     two organisations subtract to those organisations' cells:
//     DifferencingRefusal refuses the second.
//   - Two releases of an exact contract over the same inputs subtract to
//     whatever records were added or replaced in between: SuppressMoved
//     suppresses a cell whose count moved by fewer than min_cohort
//     records, or whose value changed while its count did not.
//   - Two contracts on the same measure whose participants differ by one
//     or two organisations can be differenced the same way; the rules
//     above cannot see across contracts, so OverlapWarnings tells the
//     board when it proposes or approves one.
//
// A differentially private contract (epsilon > 0) keeps its budget as its
// protection: the input-set and cell-movement rules apply to exact
// contracts only. The participant minimums apply to all.
//
// The input-set rule compares releases two by two. It does not see a
// linear combination of three or more: {A,B,C} + {D,E,F,G} − {A,B,C,D,E,F}
// is G, though every pair differs by three organisations or more (when
// the records did not change between the rounds).

import (
	"cmp"
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"

	"github.com/cxnet/cxnet/kpi"
)

// MinReleaseInputs is the fewest organisations whose inputs a release may
// sum, and so the fewest participants a contract may have.
const MinReleaseInputs = 3

// exact reports whether c releases exact values (epsilon 0).
func (c *Contract) exact() bool { return c.Privacy.Epsilon.Mantissa == 0 }

// participantRule says why contract c may not be proposed, "" when it
// may: it needs MinReleaseInputs participants and a MinInputs of at least
// that, whether exact or not. (MinInputs is at most the number of
// participants, so this also gives an exact contract at least
// MinReleaseInputs participants.)
func participantRule(c *Contract) string {
	n := len(c.Participants)
	switch {
	case n < MinReleaseInputs:
		return fmt.Sprintf("contract %s has %d participant%s; a contract needs at least %d, so that no release shows one organisation's cells to another (who subtracts its own): add participants",
			c.ID, n, plural(n), MinReleaseInputs)
	case MinInputs(c) < MinReleaseInputs:
		return fmt.Sprintf("contract %s: min_participants %d would let a round release the inputs of %d organisation%s; at least %d are needed, so that no release shows one organisation's cells to another (who subtracts its own): set min_participants to %d or more, or leave it out (the default is all %d participants)",
			c.ID, c.MinParticipants, MinInputs(c), plural(MinInputs(c)), MinReleaseInputs, MinReleaseInputs, n)
	}
	return ""
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// windowsOverlap reports whether two windows share a day; no window is
// all time, which overlaps everything.
func windowsOverlap(a, b *Window) bool {
	if a == nil || b == nil {
		return true
	}
	return a.FromDay <= b.ToDay && b.FromDay <= a.ToDay
}

// symmetricDifference returns the orgs in exactly one of a and b, sorted.
func symmetricDifference(a, b []kpi.OrgID) []kpi.OrgID {
	var out []kpi.OrgID
	for _, o := range a {
		if !slices.Contains(b, o) {
			out = append(out, o)
		}
	}
	for _, o := range b {
		if !slices.Contains(a, o) {
			out = append(out, o)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// differsByFew reports whether the symmetric difference d is one or two
// organisations: the sets whose releases subtract to those organisations'
// cells.
func differsByFew(d []kpi.OrgID) bool { return len(d) == 1 || len(d) == 2 }

// describeDifference reads "one organisation (hosp-d)" or "two
// organisations (hosp-d, hosp-e)" for a difference d of differsByFew.
func describeDifference(d []kpi.OrgID) string {
	if len(d) == 1 {
		return "one organisation (" + string(d[0]) + ")"
	}
	return "two organisations (" + joinOrgs(d) + ")"
}

// whose is "its" for one organisation, "their" for more.
func whose(d []kpi.OrgID) string {
	if len(d) == 1 {
		return "its"
	}
	return "their"
}

// versionContract returns version v of contract id as the state keeps it
// (the current version or one in its history), parsed.
func (s *State) versionContract(id kpi.ContractID, v int) (*Contract, bool) {
	rec, ok := s.contracts[id]
	if !ok {
		return nil, false
	}
	cv := &rec.ContractVersion
	if cv.Version != v {
		i := slices.IndexFunc(rec.History, func(h ContractVersion) bool { return h.Version == v })
		if i < 0 {
			return nil, false
		}
		cv = &rec.History[i]
	}
	c, err := cv.Contract()
	return c, err == nil
}

// releasedRounds returns the released rounds of contract id, in the order
// of their releases.
func (s *State) releasedRounds(id kpi.ContractID) []*Round {
	var out []*Round
	for _, r := range s.rounds {
		if r.Contract == id && r.State == RoundReleased && r.Release != nil {
			out = append(out, r)
		}
	}
	slices.SortFunc(out, func(a, b *Round) int {
		return cmp.Or(cmp.Compare(a.Release.At, b.Release.At), strings.Compare(string(a.ID), string(b.ID)))
	})
	return out
}

// DifferencingRefusal says why a round of contract c may not release the
// sum of exactly inputs, "" when it may. It refuses when inputs differ by
// one or two organisations (the size of the symmetric difference) from
// the inputs of an earlier released round of the same contract id, of
// any version, whose window overlaps c's (no window overlaps everything;
// a version that cannot be read counts as overlapping): subtracting one
// release from the other would give those organisations' cells. The
// reason names the most recent such round. Earlier releases of every kind
// count, differentially private ones too (an exact release minus a noisy
// one is an organisation's cells plus one record's worth of noise).
//
// For a differentially private contract (epsilon > 0) it returns "": its
// budget is its protection. It does not check MinInputs.
//
// The reason is lower-case and has no "refused:" prefix, ready for a
// RejectError or a round's failure reason.
func (s *State) DifferencingRefusal(c *Contract, inputs []kpi.OrgID) string {
	if !c.exact() {
		return ""
	}
	released := s.releasedRounds(c.ID)
	windows := map[int]*Window{c.Version: c.Window}
	known := map[int]bool{c.Version: true}
	for _, r := range slices.Backward(released) {
		if !known[r.Version] {
			known[r.Version] = true
			if old, ok := s.versionContract(r.Contract, r.Version); ok {
				windows[r.Version] = old.Window
			}
		}
		if !windowsOverlap(c.Window, windows[r.Version]) {
			continue
		}
		if d := symmetricDifference(inputs, r.Release.Inputs); differsByFew(d) {
			return fmt.Sprintf("the inputs differ by %s from those of round %s (released %s): subtracting one release from the other would reveal %s cells; release over the same inputs as that round, or over inputs that differ from them by at least three organisations",
				describeDifference(d), r.ID, r.Release.Released, whose(d))
		}
	}
	return ""
}

// PrevCell is a cell as it was last released unsuppressed.
type PrevCell struct {
	Group   map[string]string `json:"group"`
	Count   int64             `json:"count"`
	Value   json.RawMessage   `json:"value"` // as released: a number, an array of counts (histogram) or null
	Round   kpi.RoundID       `json:"round"` // the round that released it
	Version int               `json:"version"`
	// def is the value definition (valueDefinition) of the version that
	// released it; "" when unknown, which compares as equal.
	def string
}

// GroupKey is the key of a cell's group in PreviousCells: its dimensions
// and values as JSON, sorted by name. Unlike Group.String it is
// unambiguous whatever characters the categories hold.
func GroupKey(group map[string]string) string {
	if group == nil {
		group = map[string]string{}
	}
	b, _ := json.Marshal(group) // a map of strings always marshals
	return string(b)
}

// releasedCellJSON is a cell of a release's cells JSON (node's
// releasedCell): a suppressed cell has no count.
type releasedCellJSON struct {
	Group      map[string]string `json:"group"`
	Count      *int64            `json:"count"`
	Value      json.RawMessage   `json:"value"`
	Suppressed bool              `json:"suppressed"`
}

// PreviousCells returns, for each cell of contract id that a release
// showed, the cell as the last exact release that showed it unsuppressed
// (of any version), keyed by GroupKey of its group. Releases of
// differentially private versions are left out: their counts are noisy,
// and the movement of an exact count from a noisy one tells nothing. A
// release whose cells do not decode as a list of cells is skipped.
func (s *State) PreviousCells(id kpi.ContractID) map[string]PrevCell {
	out := map[string]PrevCell{}
	defs := map[int]string{}
	for _, r := range s.releasedRounds(id) {
		if r.Epsilon != "" {
			continue
		}
		var cells []releasedCellJSON
		if err := json.Unmarshal(r.Release.Cells, &cells); err != nil {
			continue
		}
		def, ok := defs[r.Version]
		if !ok {
			if c, ok := s.versionContract(id, r.Version); ok {
				def = c.valueDefinition()
			}
			defs[r.Version] = def
		}
		for _, cell := range cells {
			if cell.Suppressed || cell.Count == nil {
				continue
			}
			value := cell.Value
			if len(value) == 0 {
				value = json.RawMessage("null")
			}
			out[GroupKey(cell.Group)] = PrevCell{Group: maps.Clone(cell.Group), Count: *cell.Count,
				Value: value, Round: r.ID, Version: r.Version, def: def}
		}
	}
	return out
}

// valueDefinition is what a cell's value is computed by, beyond its
// records: two versions with the same definition give the same value
// over the same records.
func (c *Contract) valueDefinition() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s|%s|%d", c.Measure, c.Aggregate, c.Precision)
	if c.ValueRange != nil {
		fmt.Fprintf(&b, "|%s..%s", c.ValueRange.Lo, c.ValueRange.Hi)
	}
	if c.Threshold != nil {
		fmt.Fprintf(&b, "|>=%s", c.Threshold)
	}
	for _, e := range c.Bins {
		fmt.Fprintf(&b, "|%s", e)
	}
	return b.String()
}

// SuppressMoved says which of cells (a new release of exact contract c,
// in any order) must be suppressed because, set against the cell's
// previous release (prev, from PreviousCells), it would show a few
// records: its count moved by 1 to min_cohort−1 records, up or down, or
// its count is the same but its value changed (a record replaced). A
// cell never released before, or that moved by min_cohort records or
// more, is not suppressed by this rule; nor is one whose count and value
// are unchanged. The value is compared only when the previous release's
// version computes values the same way (measure, aggregate, precision,
// value_range, threshold, bins).
//
// For a differentially private contract it suppresses nothing. The
// suppressed cells' reason is SuppressedDifferencing.
func SuppressMoved(c *Contract, prev map[string]PrevCell, cells []Cell) []bool {
	out := make([]bool, len(cells))
	if !c.exact() {
		return out
	}
	def := c.valueDefinition()
	for i, cell := range cells {
		p, ok := prev[GroupKey(cell.Group)]
		if !ok {
			continue
		}
		moved := cell.Count - p.Count
		if moved < 0 {
			moved = -moved
		}
		switch {
		case moved > 0:
			out[i] = moved < int64(c.Privacy.MinCohort)
		case p.def == "" || p.def == def:
			out[i] = !sameReleasedValue(p.Value, cell.Value)
		}
	}
	return out
}

// sameReleasedValue reports whether a released JSON value and a new cell's value
// are equal, as JSON numbers, arrays and null.
func sameReleasedValue(released json.RawMessage, v any) bool {
	nb, err := json.Marshal(v)
	if err != nil {
		return false
	}
	var a, b any
	if json.Unmarshal(released, &a) != nil || json.Unmarshal(nb, &b) != nil {
		return false
	}
	return reflect.DeepEqual(a, b)
}

// OverlapWarnings tells the board about other contracts that, with c,
// could be differenced to one or two organisations' cells: approved or
// active contracts (other ids) on the same measure, with a window that
// overlaps c's, whose participants differ from c's by one or two
// organisations. Pairs of differentially private contracts are left out.
// The warnings are sorted by contract id.
func (s *State) OverlapWarnings(c *Contract) []string {
	var out []string
	for _, id := range slices.Sorted(maps.Keys(s.contracts)) {
		rec := s.contracts[id]
		if id == c.ID || (rec.State != ContractActive && rec.State != ContractApproved) {
			continue
		}
		other, err := rec.Contract()
		if err != nil || other.Measure != c.Measure || !windowsOverlap(c.Window, other.Window) || (!c.exact() && !other.exact()) {
			continue
		}
		d := symmetricDifference(c.Participants, other.Participants)
		if !differsByFew(d) {
			continue
		}
		out = append(out, fmt.Sprintf("contract %s on the same measure and an overlapping window has participants differing by %s: releases of both could be differenced to %s cells",
			id, describeDifference(d), whose(d)))
	}
	return out
}

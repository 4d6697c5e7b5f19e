package contracts

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/cxnet/cxnet/kpi"
)

// Six organisations, for the differencing tests.
var diffOrgs = []*testOrg{newTestOrg("org-a"), newTestOrg("org-b"), newTestOrg("org-c"),
	newTestOrg("org-d"), newTestOrg("org-e"), newTestOrg("org-f")}

// diffConsortium forms the six organisations with a keyed epoch.
func diffConsortium(t *testing.T) *govLog {
	t.Helper()
	g := newGovLog(t)
	g.form(diffOrgs...)
	g.must(g.openKeys(diffOrgs[0], 1, diffOrgs...))
	g.keyUp(1, diffOrgs...)
	return g
}

// orgsOf picks organisations by letter: "abc" is org-a, org-b, org-c.
func orgsOf(letters string) []*testOrg {
	var out []*testOrg
	for _, l := range letters {
		out = append(out, diffOrgs[l-'a'])
	}
	return out
}

func idsOf(orgs []*testOrg) []kpi.OrgID {
	ids := make([]kpi.OrgID, len(orgs))
	for i, o := range orgs {
		ids[i] = o.id
	}
	slices.Sort(ids)
	return ids
}

// diffContract is an NPS contract among the given organisations
// (min_participants 3, approvals 1), with extra YAML lines (a privacy line among them replaces the default one).
func diffContract(t *testing.T, id string, version int, letters, extra string) *Contract {
	t.Helper()
	y := string(contractYAML(id, version, orgsOf(letters), "1", 11)) + "min_participants: 3\n"
	if strings.Contains(extra, "privacy:") {
		y = strings.Replace(y, "privacy: {min_cohort: 11}\n", "", 1)
	}
	return govContract(t, []byte(y+extra))
}

// activate proposes c (approvals 1: the proposer's approval is enough)
// and checks it is active.
func (g *govLog) activate(c *Contract) {
	g.t.Helper()
	g.must(g.proposeContract(diffOrgs[0], c))
	if r := g.contract(c.ID); r.State != ContractActive || r.Version != c.Version {
		g.t.Fatalf("%s v%d is %s v%d, want active", c.ID, c.Version, r.State, r.Version)
	}
}

// releaseRound runs a round of c over inputs whose components sum to
// total, and releases it. It returns the round's id.
func (g *govLog) releaseRound(c *Contract, inputs []*testOrg, total []int64) kpi.RoundID {
	g.t.Helper()
	return g.fullRound(c, inputs, total)
}

// oneCell is 500 NPS answers, 60 promoters and 10 detractors: NPS 10.
var oneCell = []int64{500, 60, 10}

// TestDifferencingAttack: once {A,B,C} is released, a round over inputs
// that differ by one or two organisations would give their cells by
// subtraction, and is refused; three or more, or none, is allowed. Each
// release counts for the rounds after it.
func TestDifferencingAttack(t *testing.T) {
	g := diffConsortium(t)
	c := diffContract(t, "nps-all", 1, "abcdef", "")
	g.activate(c)
	first := g.releaseRound(c, orgsOf("abc"), oneCell)
	released, _ := g.s.Round(first)
	for _, tc := range []struct {
		name, inputs, want string
	}{
		{"one dropped: {A,B}", "ab", "the inputs differ by one organisation (org-c) from those of round " + string(first) + " (released " + released.Release.Released + ")"},
		{"one added: {A,B,C,D}", "abcd", "differ by one organisation (org-d) from those of round " + string(first)},
		{"two added: {A,B,C,D,E}", "abcde", "differ by two organisations (org-d, org-e) from those of round " + string(first)},
		{"one swapped: {A,B,D}", "abd", "differ by two organisations (org-c, org-d)"},
		{"one dropped, one added: {B,C,E}", "bce", "differ by two organisations (org-a, org-e)"},
		{"the same inputs", "abc", ""},
		{"three added: {A,B,C,D,E,F}", "abcdef", ""},
		{"three others: {D,E,F}", "def", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := g.s.DifferencingRefusal(c, idsOf(orgsOf(tc.inputs)))
			if tc.want == "" && got != "" || !strings.Contains(got, tc.want) {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
			if got != "" && !strings.Contains(got, "release over the same inputs as that round, or over inputs that differ from them by at least three organisations") {
				t.Fatalf("the reason %q does not say what to do", got)
			}
		})
	}

	// Released, {A..F} counts too: {A..E} now differs by one from it.
	all := g.releaseRound(c, orgsOf("abcdef"), oneCell)
	if got := g.s.DifferencingRefusal(c, idsOf(orgsOf("abcde"))); !strings.Contains(got, "one organisation (org-f) from those of round "+string(all)) {
		t.Fatalf("{A..E} after {A..F}: %q", got)
	}
	// A round that never released does not count.
	open := kpi.RoundID(g.must(g.openRound(diffOrgs[0], c)).Object)
	g.must(g.roundInput(diffOrgs[0], open, nextDigest()))
	if got := g.s.DifferencingRefusal(c, idsOf(orgsOf("bcdef"))); !strings.Contains(got, "(org-a)") || strings.Contains(got, string(open)) {
		t.Fatalf("{B..F} with an open round: %q", got)
	}
}

// TestDifferencingRefusalScope: which earlier releases count: those of
// the same contract id, of any version, whose window overlaps; none for
// a differentially private contract.
func TestDifferencingRefusalScope(t *testing.T) {
	const h1 = "window: {from: 2026-01-01, to: 2026-06-30}\n"
	abcd := idsOf(orgsOf("abcd"))
	for _, tc := range []struct {
		name  string
		later *Contract // proposed as the next version after a release of v1 (window h1) over {A,B,C}
		want  string
	}{
		{"same version", nil, "differ by one organisation (org-d)"},
		{"new version, overlapping window", diffContract(t, "nps-h1", 2, "abcdef", "window: {from: 2026-06-01, to: 2026-12-31}\n"), "(org-d)"},
		{"new version, no window (all time)", diffContract(t, "nps-h1", 2, "abcdef", ""), "(org-d)"},
		{"new version, the next half year", diffContract(t, "nps-h1", 2, "abcdef", "window: {from: 2026-07-01, to: 2026-12-31}\n"), ""},
		{"new version, differentially private", diffContract(t, "nps-h1", 2, "abcdef", h1+"privacy: {min_cohort: 11, epsilon: 0.5, budget: 1}\n"), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := diffConsortium(t)
			v1 := diffContract(t, "nps-h1", 1, "abcdef", h1)
			g.activate(v1)
			g.releaseRound(v1, orgsOf("abc"), oneCell)
			c := v1
			if tc.later != nil {
				c = tc.later
				g.activate(c)
			}
			got := g.s.DifferencingRefusal(c, abcd)
			if tc.want == "" && got != "" || !strings.Contains(got, tc.want) {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}

	t.Run("another contract's releases", func(t *testing.T) {
		g := diffConsortium(t)
		other := diffContract(t, "nps-other", 1, "abcdef", "")
		g.activate(other)
		g.releaseRound(other, orgsOf("abc"), oneCell)
		c := diffContract(t, "nps-mine", 1, "abcdef", "")
		g.activate(c)
		if got := g.s.DifferencingRefusal(c, abcd); got != "" {
			t.Fatalf("got %q; another contract's rounds are OverlapWarnings' business", got)
		}
	})
	t.Run("an earlier differentially private version counts", func(t *testing.T) {
		// Exact {A,B,C,D} minus noisy {A,B,C} is D's cells plus noise of
		// one record's scale.
		g := diffConsortium(t)
		v1 := diffContract(t, "nps-dp", 1, "abcdef", "privacy: {min_cohort: 11, epsilon: 0.5, budget: 1}\n")
		g.activate(v1)
		g.releaseRound(v1, orgsOf("abc"), oneCell)
		v2 := diffContract(t, "nps-dp", 2, "abcdef", "")
		g.activate(v2)
		if got := g.s.DifferencingRefusal(v2, abcd); !strings.Contains(got, "(org-d)") {
			t.Fatalf("got %q", got)
		}
	})
}

// npsCells releases an NPS contract without group_by over n answers
// whose promoters minus detractors is net.
func npsCells(t *testing.T, c *Contract, n, net int64) []Cell {
	t.Helper()
	promoters := max(net, 0) + 10
	cells, err := c.Release([]int64{n, promoters, promoters - net})
	if err != nil {
		t.Fatal(err)
	}
	return cells
}

// TestSuppressMoved: after a release of an NPS cell of −12.7835 over 485
// answers, a new release of the cell is suppressed when its count moved
// by 1 to 10 records (min_cohort 11), or stayed while its value changed:
// set against the previous release it would show those records.
func TestSuppressMoved(t *testing.T) {
	g := diffConsortium(t)
	c := diffContract(t, "nps-all", 1, "abcdef", "")
	g.activate(c)
	before := npsCells(t, c, 485, -62)
	if v := before[0].Value; v != -12.7835 {
		t.Fatalf("value %v, want -12.7835", v)
	}
	first := g.releaseRound(c, orgsOf("abcdef"), []int64{485, 10, 72})
	prev := g.s.PreviousCells(c.ID)
	if p := prev[GroupKey(map[string]string{})]; p.Count != 485 || p.Round != first || string(p.Value) != "-12.7835" {
		t.Fatalf("previous cells %+v", prev)
	}
	dp := diffContract(t, "nps-dp", 1, "abcdef", "privacy: {min_cohort: 11, epsilon: 0.5, budget: 1}\n")
	for _, tc := range []struct {
		name     string
		c        *Contract
		n, net   int64
		suppress bool
	}{
		{"one late detractor: 485 -> 486", c, 486, -63, true},
		{"ten records: 485 -> 495", c, 495, -62, true},
		{"eleven records: 485 -> 496", c, 496, -62, false},
		{"one record removed: 485 -> 484", c, 484, -62, true},
		{"eleven removed: 485 -> 474", c, 474, -62, false},
		{"unchanged", c, 485, -62, false},
		{"a record replaced: same count, other value", c, 485, -61, true},
		{"differentially private: 485 -> 486", dp, 486, -63, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := SuppressMoved(tc.c, prev, npsCells(t, tc.c, tc.n, tc.net))
			if len(got) != 1 || got[0] != tc.suppress {
				t.Fatalf("suppress %v, want %v", got, tc.suppress)
			}
		})
	}
}

// TestPreviousCells: each cell as the last exact release that showed it;
// suppressed cells, noisy releases and cells never shown are not there.
func TestPreviousCells(t *testing.T) {
	g := diffConsortium(t)
	c := diffContract(t, "nps-sites", 1, "abcdef", "group_by: {site: [north, south, west]}\n")
	g.activate(c)
	// The state machine suppresses: west under the floor both times,
	// north in r2 for moving 5 records since r1.
	release := func(counts [3]int64) kpi.RoundID {
		return g.releaseRound(c, orgsOf("abcdef"), []int64{counts[0], 5, 1, counts[1], 5, 1, counts[2], 5, 1})
	}
	r1 := release([3]int64{100, 200, 5})
	r2 := release([3]int64{105, 300, 6})
	if r, _ := g.s.Round(r2); !strings.Contains(string(r.Release.Cells), `"reason":"differencing"`) {
		t.Fatalf("r2's north moved 5 records and is shown: %s", r.Release.Cells)
	}
	prev := g.s.PreviousCells(c.ID)
	want := map[string]struct {
		count int64
		round kpi.RoundID
	}{"north": {100, r1}, "south": {300, r2}}
	if len(prev) != len(want) {
		t.Fatalf("previous cells %+v, want north and south", prev)
	}
	for site, w := range want {
		p, ok := prev[GroupKey(map[string]string{"site": site})]
		if !ok || p.Count != w.count || p.Round != w.round || p.Version != 1 || p.Group["site"] != site {
			t.Errorf("%s: %+v, want count %d from %s", site, p, w.count, w.round)
		}
	}
	// What SuppressMoved makes of the next release.
	cells, _ := c.Release([]int64{111, 5, 1, 320, 5, 1, 7, 5, 1})
	if got := SuppressMoved(c, prev, cells); !slices.Equal(got, []bool{false, false, false}) {
		t.Errorf("north moved 11 from 100 (its last shown release), south 20, west never shown: suppress %v", got)
	}
	cells, _ = c.Release([]int64{110, 5, 1, 300, 5, 1, 7, 5, 1})
	if got := SuppressMoved(c, prev, cells); !slices.Equal(got, []bool{true, false, false}) {
		t.Errorf("north moved 10 from 100: suppress %v", got)
	}

	// A new version computing values another way (value_range): the same
	// count with another value is not a replaced record. With v1's way it
	// would be.
	v2 := diffContract(t, "nps-sites", 2, "abcdef", "group_by: {site: [north, south, west]}\nvalue_range: [0, 5]\n")
	g.activate(v2)
	prev = g.s.PreviousCells(c.ID)
	cells, _ = v2.Release([]int64{100, 9, 1, 300, 9, 1, 7, 5, 1})
	if got := SuppressMoved(v2, prev, cells); !slices.Equal(got, []bool{false, false, false}) {
		t.Errorf("v2 after v1, same counts, other values: suppress %v", got)
	}
	if got := SuppressMoved(c, prev, cells); !slices.Equal(got, []bool{true, true, false}) {
		t.Errorf("v1 again, same counts, other values: suppress %v", got)
	}

	// A noisy release is not a previous cell.
	dp := diffContract(t, "nps-noisy", 1, "abcdef", "privacy: {min_cohort: 11, epsilon: 0.5, budget: 1}\n")
	g.activate(dp)
	g.releaseRound(dp, orgsOf("abcdef"), []int64{40, 12, 11})
	if prev := g.s.PreviousCells(dp.ID); len(prev) != 0 {
		t.Errorf("noisy release kept: %+v", prev)
	}
}

func TestSameReleasedValue(t *testing.T) {
	for _, tc := range []struct {
		released string
		value    any
		want     bool
	}{
		{"-12.7835", -12.7835, true},
		{"-12.7835", -12.963, false},
		{"12", int64(12), true},
		{"12", float64(12), true},
		{"[1,2,3]", []int64{1, 2, 3}, true},
		{"[1,2,3]", []int64{1, 2, 4}, false},
		{"null", nil, true},
		{"null", 0.0, false},
	} {
		if got := sameReleasedValue(json.RawMessage(tc.released), tc.value); got != tc.want {
			t.Errorf("%s vs %#v: %v, want %v", tc.released, tc.value, got, tc.want)
		}
	}
}

// TestGroupKey: the key of a group is the same from a Cell and from a
// release's JSON, and unambiguous whatever the categories hold.
func TestGroupKey(t *testing.T) {
	a := GroupKey(map[string]string{"a": "x,b=y", "b": "z"})
	b := GroupKey(map[string]string{"a": "x", "b": "y,b=z"})
	if a == b {
		t.Fatalf("two groups share the key %s", a)
	}
	var decoded struct {
		Group map[string]string `json:"group"`
	}
	json.Unmarshal([]byte(`{"group":{"site":"north","period":"2026-Q1"}}`), &decoded)
	if GroupKey(decoded.Group) != GroupKey(Group{{Name: "period", Value: "2026-Q1"}, {Name: "site", Value: "north"}}.Map()) {
		t.Fatal("the key of a released group differs from the key of the cell's group")
	}
	if GroupKey(nil) != GroupKey(map[string]string{}) {
		t.Fatal("no group and an empty group differ")
	}
}

// TestOverlapWarnings: the board hears of other approved or active
// contracts on the same measure and an overlapping window whose
// participants differ from the proposed one's by one or two
// organisations.
func TestOverlapWarnings(t *testing.T) {
	g := diffConsortium(t)
	dp := "privacy: {min_cohort: 11, epsilon: 0.5, budget: 1}\n"
	for _, o := range []*Contract{
		diffContract(t, "plus-one", 1, "abcd", ""),
		diffContract(t, "minus-two", 1, "abcdef", ""),
		diffContract(t, "swapped", 1, "abce", ""),
		diffContract(t, "three-more", 1, "abcdef", "window: {from: 2026-01-01, to: 2026-12-31}\n"),
		diffContract(t, "next-year", 1, "abcd", "window: {from: 2027-01-01, to: 2027-12-31}\n"),
		diffContract(t, "noisy", 1, "abcd", dp),
		govContract(t, []byte(strings.Replace(string(diffContract(t, "other-measure", 1, "abcd", "").Canonical()), `"measure":"nps"`, `"measure":"visit"`, 1))),
	} {
		g.activate(o)
	}
	// Proposed only (approvals 2): not yet a release to difference.
	g.must(g.proposeContract(diffOrgs[0], govContract(t, contractYAML("pending", 1, orgsOf("abcd"), "2", 11))))
	g.activate(diffContract(t, "retired", 1, "abcd", ""))
	g.must(g.retireContract(diffOrgs[0], "retired", 1))

	for _, tc := range []struct {
		name string
		c    *Contract
		want []string
	}{
		{"exact, 2026", diffContract(t, "mine", 1, "abc", "window: {from: 2026-01-01, to: 2026-12-31}\n"), []string{
			"contract noisy on the same measure and an overlapping window has participants differing by one organisation (org-d): releases of both could be differenced to its cells",
			"contract plus-one on the same measure and an overlapping window has participants differing by one organisation (org-d): releases of both could be differenced to its cells",
			"contract swapped on the same measure and an overlapping window has participants differing by one organisation (org-e): releases of both could be differenced to its cells",
		}},
		{"differentially private, no window", diffContract(t, "mine", 1, "abcd", dp), []string{
			"contract minus-two on the same measure and an overlapping window has participants differing by two organisations (org-e, org-f): releases of both could be differenced to their cells",
			"contract swapped on the same measure and an overlapping window has participants differing by two organisations (org-d, org-e): releases of both could be differenced to their cells",
			"contract three-more on the same measure and an overlapping window has participants differing by two organisations (org-e, org-f): releases of both could be differenced to their cells",
		}},
		{"a contract does not warn about itself", diffContract(t, "plus-one", 2, "abc", ""), []string{
			"contract next-year on the same measure and an overlapping window has participants differing by one organisation (org-d)",
			"contract noisy on the same measure and an overlapping window has participants differing by one organisation (org-d)",
			"contract swapped on the same measure and an overlapping window has participants differing by one organisation (org-e)",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := g.s.OverlapWarnings(tc.c)
			want := tc.want
			if len(got) != len(want) {
				t.Fatalf("warnings:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
			for i := range want {
				if !strings.HasPrefix(got[i], want[i]) {
					t.Errorf("warning %d: %q, want %q", i, got[i], want[i])
				}
			}
		})
	}
}

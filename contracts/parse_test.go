package contracts

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/cxnet/cxnet/kpi"
)

// fieldErrors returns the messages of the input errors joined in err.
func fieldErrors(t testing.TB, err error) []string {
	t.Helper()
	if err == nil {
		return nil
	}
	joined, ok := err.(interface{ Unwrap() []error })
	if !ok {
		t.Fatalf("error %v is not joined errors", err)
	}
	var msgs []string
	for _, e := range joined.Unwrap() {
		var fe *kpi.InputError
		if !errors.As(e, &fe) {
			t.Fatalf("error %q (%T) is not a *kpi.InputError", e, e)
		}
		msgs = append(msgs, fe.Error())
	}
	return msgs
}

func TestParseErrors(t *testing.T) {
	const base = "id: nps-test\nmeasure: nps\naggregate: nps\nparticipants: [hosp-a, hosp-b]\n"
	cats := func(n int) string {
		s := make([]string, n)
		for i := range s {
			s[i] = fmt.Sprintf("c%d", i)
		}
		return strings.Join(s, ", ")
	}
	tests := []struct {
		name, src string
		want      []string
	}{
		{"yaml syntax", "id: abc\n  measure: m\n",
			[]string{"nps.yaml:2: invalid YAML: mapping values are not allowed in this context"}},
		{"empty file", "",
			[]string{"nps.yaml: the file is empty; a contract needs at least id, measure, aggregate and participants"}},
		{"only comments", "# nothing yet\n",
			[]string{"nps.yaml: the file is empty; a contract needs at least id, measure, aggregate and participants"}},
		{"not a mapping", "- id: abc\n",
			[]string{"nps.yaml:1: a contract must be a mapping of fields (id: ..., measure: ..., aggregate: ...), not a list"}},
		{"two documents", base + "---\nid: other\n",
			[]string{"nps.yaml:5: a contract file holds one YAML document; remove the second \"---\" and what follows it"}},
		{"duplicate field", base + "measure: other\n",
			[]string{"nps.yaml:5: measure: duplicate field (first set on line 2); keep one"}},
		{"unknown field", base + "groupby: {site: [a]}\n",
			[]string{"nps.yaml:5: groupby: unknown field (did you mean group_by?); allowed: id, version, title, measure, aggregate, value_range, threshold, bins, precision, filter, group_by, window, period, participants, approvals, min_participants, privacy, readers, schedule"}},
		{"unknown nested field", base + "window: {from: 2026-01-01, until: 2026-02-01}\n",
			[]string{"nps.yaml:5: window.until: unknown field; allowed: from, to", "nps.yaml:5: window.to: is required; add to: YYYY-MM-DD"}},
		{"missing required", "title: nothing else\n",
			[]string{"nps.yaml:1: id: is required; add id: followed by 3 to 64 characters from a-z, 0-9 and \"-\"", "nps.yaml:1: measure: is required; add measure: followed by the measure to aggregate, e.g. measure: nps", "nps.yaml:1: aggregate: is required; add aggregate: followed by one of count, sum, mean, variance, proportion, nps, histogram, pdc_rate", "nps.yaml:1: participants: is required; add participants: followed by the list of organisation ids, e.g. [hosp-a, hosp-b]"}},
		{"null value", base + "title:\n",
			[]string{"nps.yaml:5: title: has no value; give one or remove the field"}},
		{"id pattern", "id: NPS_2026\nmeasure: nps\naggregate: nps\nparticipants: [hosp-a]\n",
			[]string{"nps.yaml:1: id: must be 3 to 64 characters from a-z, 0-9 and \"-\" (got \"NPS_2026\")"}},
		{"id too short", "id: ab\nmeasure: nps\naggregate: nps\nparticipants: [hosp-a]\n",
			[]string{"nps.yaml:1: id: must be 3 to 64 characters from a-z, 0-9 and \"-\" (got \"ab\")"}},
		{"version zero", base + "version: 0\n",
			[]string{"nps.yaml:5: version: must be 1 or more (got 0)"}},
		{"version quoted", base + "version: \"2\"\n",
			[]string{"nps.yaml:5: version: must be a whole number, not \"2\""}},
		{"version fraction", base + "version: 1.5\n",
			[]string{"nps.yaml:5: version: must be a whole number, not 1.5"}},
		{"version huge", base + "version: 99999999999\n",
			[]string{"nps.yaml:5: version: 99999999999 is too large"}},
		{"title too long", base + "title: " + strings.Repeat("x", 201) + "\n",
			[]string{"nps.yaml:5: title: must be at most 200 characters (got 201)"}},
		{"title control character", base + "title: \"a\\tb\"\n",
			[]string{"nps.yaml:5: title: must be printable text on one line (no control characters)"}},
		{"measure empty", "id: abc\nmeasure: \"\"\naggregate: nps\nparticipants: [hosp-a]\n",
			[]string{"nps.yaml:2: measure: must not be empty"}},
		{"measure NUL", "id: abc\nmeasure: \"a\\0b\"\naggregate: nps\nparticipants: [hosp-a]\n",
			[]string{"nps.yaml:2: measure: must be printable text on one line (no NUL or control characters)"}},
		{"measure too long", "id: abc\nmeasure: " + strings.Repeat("m", 129) + "\naggregate: nps\nparticipants: [hosp-a]\n",
			[]string{"nps.yaml:2: measure: must be at most 128 bytes (got 129)"}},
		{"measure a list", "id: abc\nmeasure: [a]\naggregate: nps\nparticipants: [hosp-a]\n",
			[]string{"nps.yaml:2: measure: must be text, not a list"}},
		{"aggregate unknown", "id: abc\nmeasure: m\naggregate: average\nparticipants: [hosp-a]\n",
			[]string{"nps.yaml:3: aggregate: must be one of count, sum, mean, variance, proportion, nps, histogram, pdc_rate (got \"average\")"}},
		{"value_range required", "id: abc\nmeasure: m\naggregate: mean\nparticipants: [hosp-a]\n",
			[]string{"nps.yaml:3: value_range: is required for aggregate mean: values are clipped to it; add value_range: [lo, hi]"}},
		{"value_range not a list", base + "value_range: 10\n",
			[]string{"nps.yaml:5: value_range: must be a list like [0, 10], not 10"}},
		{"value_range three numbers", base + "value_range: [0, 5, 10]\n",
			[]string{"nps.yaml:5: value_range: must be two numbers [lo, hi] (got 3)"}},
		{"value_range reversed", base + "value_range: [10, 10.0]\n",
			[]string{"nps.yaml:5: value_range: the lower bound must be below the upper bound (got [10, 10])"}},
		{"value_range text", base + "value_range: [low, \"10\"]\n",
			[]string{"nps.yaml:5: value_range[0]: must be a number, not \"low\"", "nps.yaml:5: value_range[1]: must be a number, not \"10\""}},
		{"value_range infinite", base + "value_range: [0, .inf]\n",
			[]string{"nps.yaml:5: value_range[1]: must be a decimal number like 2 or 1.5 (got .inf)"}},
		{"value_range too precise", base + "value_range: [0, 1.0000000000000000001]\n",
			[]string{"nps.yaml:5: value_range[1]: 1.0000000000000000001 is out of range: at most 18 significant digits and 18 decimals"}},
		{"value_range on count", "id: abc\nmeasure: m\naggregate: count\nvalue_range: [0, 1]\nparticipants: [hosp-a]\n",
			[]string{"nps.yaml:4: value_range: has no effect on aggregate count; remove it"}},
		{"threshold required", "id: abc\nmeasure: m\naggregate: proportion\nparticipants: [hosp-a]\n",
			[]string{"nps.yaml:3: threshold: is required for aggregate proportion: the share of values >= threshold is released; add threshold: N"}},
		{"bins required", "id: abc\nmeasure: m\naggregate: histogram\nvalue_range: [0, 10]\nparticipants: [hosp-a]\n",
			[]string{"nps.yaml:3: bins: is required for aggregate histogram; add the bin edges, e.g. bins: [0, 7, 9, 11]"}},
		{"bins one edge", "id: abc\nmeasure: m\naggregate: histogram\nvalue_range: [0, 10]\nbins: [0]\nparticipants: [hosp-a]\n",
			[]string{"nps.yaml:5: bins: must list at least 2 edges, like [0, 7, 9, 11] (got 1)"}},
		{"bins not increasing", "id: abc\nmeasure: m\naggregate: histogram\nvalue_range: [0, 10]\nbins: [0, 7, 7.0, 11]\nparticipants: [hosp-a]\n",
			[]string{"nps.yaml:5: bins: edges must be strictly increasing (bins[2] = 7 is not above bins[1] = 7)"}},
		{"bins do not cover", "id: abc\nmeasure: m\naggregate: histogram\nvalue_range: [0, 10]\nbins: [0, 5, 10]\nparticipants: [hosp-a]\n",
			[]string{"nps.yaml:5: bins: must cover value_range [0, 10] so that every clipped value falls in a bin: the first edge must be <= 0 and the last above 10 (got 0 and 10)"}},
		{"precision too high", base + "precision: 7\n",
			[]string{"nps.yaml:5: precision: must be from 0 to 6 decimals (got 7)"}},
		{"precision negative", base + "precision: -1\n",
			[]string{"nps.yaml:5: precision: must be from 0 to 6 decimals (got -1)"}},
		{"sum overflows fixed point", "id: abc\nmeasure: m\naggregate: sum\nvalue_range: [0, 1e17]\nprecision: 6\nparticipants: [hosp-a]\n",
			[]string{"nps.yaml:4: value_range: bounds times 10^precision must fit 64-bit integers; narrow value_range or lower precision"}},
		{"variance too wide", "id: abc\nmeasure: m\naggregate: variance\nvalue_range: [0, 1e7]\nprecision: 3\nparticipants: [hosp-a]\n",
			[]string{"nps.yaml:4: value_range: too wide for variance at precision 3: squared fixed-point values must fit 64-bit integers (|bound| × 10^precision <= 3037000499); narrow value_range or lower precision"}},
		{"filter not a mapping", base + "filter: [diabetes]\n",
			[]string{"nps.yaml:5: filter: must be a mapping like {therapeutic_area: [diabetes]}, not a list"}},
		{"filter value not a list", base + "filter: {area: diabetes}\n",
			[]string{"nps.yaml:5: filter.area: must be a list like [a, b], not \"diabetes\""}},
		{"filter empty list", base + "filter: {area: []}\n",
			[]string{"nps.yaml:5: filter.area: must list at least one category, like [a, b]"}},
		{"filter duplicate value", base + "filter:\n  area: [a, b, a]\n",
			[]string{"nps.yaml:6: filter.area: categories must be unique (\"a\" appears twice)"}},
		{"filter empty value", base + "filter: {area: [\"\"]}\n",
			[]string{"nps.yaml:5: filter.area[0]: must not be empty"}},
		{"group_by duplicate category", base + "group_by:\n  care_setting: [inpatient, outpatient,\n    inpatient]\n",
			[]string{"nps.yaml:7: group_by.care_setting: categories must be unique (\"inpatient\" appears twice)"}},
		{"group_by period reserved", base + "group_by: {period: [q1]}\n",
			[]string{"nps.yaml:5: group_by.period: the dimension name \"period\" is reserved for the period of each cell (see period:); rename the dimension"}},
		{"group_by duplicate dimension", base + "group_by:\n  site: [a]\n  site: [b]\n",
			[]string{"nps.yaml:7: group_by.site: duplicate field (first set on line 6); keep one"}},
		{"group_by too many dimensions", base + "group_by: {a: [x], b: [x], c: [x], d: [x], e: [x], f: [x], g: [x], h: [x], i: [x]}\n",
			[]string{"nps.yaml:5: group_by: at most 8 dimensions allowed (got 9)"}},
		{"group_by too many cells", base + "group_by: {a: [" + cats(100) + "], b: [" + cats(201) + "]}\n",
			[]string{"nps.yaml:5: group_by: the contract has 20100 cells (100 × 201); at most 20000 are allowed: use fewer categories, a coarser period or a shorter window"}},
		{"periods too many cells", base + "group_by: {a: [" + cats(100) + "]}\nwindow: {from: 2000-01-01, to: 2026-12-31}\nperiod: month\n",
			[]string{"nps.yaml:7: period: the contract has 32400 cells (100 × 324 periods); at most 20000 are allowed: use fewer categories, a coarser period or a shorter window"}},
		{"window impossible date", base + "window: {from: 2026-02-30, to: 2026-12-31}\n",
			[]string{"nps.yaml:5: window.from: must be a calendar date YYYY-MM-DD (got \"2026-02-30\")"}},
		{"window with time", base + "window: {from: 2026-01-01T00:00:00Z, to: 2026-12-31}\n",
			[]string{"nps.yaml:5: window.from: must be a calendar date YYYY-MM-DD (got \"2026-01-01T00:00:00Z\")"}},
		{"window reversed", base + "window:\n  from: 2026-12-31\n  to: 2026-01-01\n",
			[]string{"nps.yaml:6: window: from must not be after to (2026-12-31 is after 2026-01-01)"}},
		{"window missing to", base + "window: {from: 2026-01-01}\n",
			[]string{"nps.yaml:5: window.to: is required; add to: YYYY-MM-DD"}},
		{"period unknown", base + "period: week\n",
			[]string{"nps.yaml:5: period: must be one of none, month, quarter, year (got \"week\")"}},
		{"period needs window", base + "period: month\n",
			[]string{"nps.yaml:5: period: month needs a window to split into periods; add window: {from: YYYY-MM-DD, to: YYYY-MM-DD} or use period: none"}},
		{"pdc_rate needs window", "id: abc\nmeasure: dispense.days_supply\naggregate: pdc_rate\nparticipants: [hosp-a]\n",
			[]string{"nps.yaml:3: window: is required for aggregate pdc_rate: adherence runs to the end of the window; add window: {from: YYYY-MM-DD, to: YYYY-MM-DD}"}},
		{"participants empty", "id: abc\nmeasure: m\naggregate: nps\nparticipants: []\n",
			[]string{"nps.yaml:4: participants: must list at least one participant, like [hosp-a, hosp-b]"}},
		{"participants scalar", "id: abc\nmeasure: m\naggregate: nps\nparticipants: hosp-a\n",
			[]string{"nps.yaml:4: participants: must be a list like [hosp-a, hosp-b], not \"hosp-a\""}},
		{"participants duplicate", "id: abc\nmeasure: m\naggregate: nps\nparticipants: [hosp-a, hosp-b, hosp-a]\n",
			[]string{"nps.yaml:4: participants: organisation ids must be unique (\"hosp-a\" appears twice)"}},
		{"participants bad id", "id: abc\nmeasure: m\naggregate: nps\nparticipants: [hosp-a, Hosp_B]\n",
			[]string{"nps.yaml:4: participants[1]: organisation ids are 2 to 64 characters from a-z, 0-9 and \"-\" (got \"Hosp_B\")"}},
		{"approvals zero", base + "approvals: 0\n",
			[]string{"nps.yaml:5: approvals: must be all, majority or a number from 1 to 2 (the number of participants) (got 0)"}},
		{"approvals above participants", base + "approvals: 3\n",
			[]string{"nps.yaml:5: approvals: must be all, majority or a number from 1 to 2 (the number of participants) (got 3)"}},
		{"approvals word", base + "approvals: most\n",
			[]string{"nps.yaml:5: approvals: must be all, majority or a number of participants (got \"most\")"}},
		{"min_participants above participants", base + "min_participants: 3\n",
			[]string{"nps.yaml:5: min_participants: must be from 1 to 2 (the number of participants) (got 3)"}},
		{"min_participants zero", base + "min_participants: 0\n",
			[]string{"nps.yaml:5: min_participants: must be from 1 to 2 (the number of participants) (got 0)"}},
		{"privacy min_cohort zero", base + "privacy: {min_cohort: 0}\n",
			[]string{"nps.yaml:5: privacy.min_cohort: must be 1 or more (got 0)"}},
		{"privacy negative epsilon", base + "privacy: {epsilon: -0.5, budget: 1}\n",
			[]string{"nps.yaml:5: privacy.epsilon: must be 0 or more (got -0.5)"}},
		{"privacy budget below epsilon", base + "privacy:\n  epsilon: 1\n  budget: 0.5\n",
			[]string{"nps.yaml:7: privacy.budget: must be at least epsilon (1): it is the total epsilon spent over all releases"}},
		{"privacy budget without epsilon", base + "privacy: {budget: 1}\n",
			[]string{"nps.yaml:5: privacy.budget: must be 0 when epsilon is 0 (exact release, no differential privacy); set epsilon > 0 or remove budget"}},
		{"privacy unknown field", base + "privacy: {min_cohort: 5, delta: 0.1}\n",
			[]string{"nps.yaml:5: privacy.delta: unknown field; allowed: min_cohort, epsilon, budget"}},
		{"readers bad id", base + "readers: [hosp-a, X]\n",
			[]string{"nps.yaml:5: readers[1]: organisation ids are 2 to 64 characters from a-z, 0-9 and \"-\" (got \"X\")"}},
		{"readers duplicate", base + "readers: [hosp-a, hosp-a]\n",
			[]string{"nps.yaml:5: readers: organisation ids must be unique (\"hosp-a\" appears twice)"}},
		{"schedule without unit", base + "schedule: 30\n",
			[]string{`nps.yaml:5: schedule: must be a whole number of minutes, hours or days, like "30m", "24h" or "7d" (got "30")`}},
		{"schedule in seconds", base + "schedule: 90s\n",
			[]string{`nps.yaml:5: schedule: must be a whole number of minutes, hours or days, like "30m", "24h" or "7d" (got "90s")`}},
		{"schedule fractional", base + "schedule: 1.5h\n",
			[]string{`nps.yaml:5: schedule: must be a whole number of minutes, hours or days, like "30m", "24h" or "7d" (got "1.5h")`}},
		{"schedule too long", base + "schedule: 367d\n",
			[]string{`nps.yaml:5: schedule: must be from 1m to 366d (got "367d")`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse([]byte(tt.src), "nps.yaml")
			if err == nil {
				t.Fatalf("Parse accepted:\n%s\ncanonical: %s", tt.src, c.Canonical())
			}
			if c != nil {
				t.Errorf("Parse returned a contract with an error")
			}
			if got := fieldErrors(t, err); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("errors:\n got %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestParseReportsAllProblems(t *testing.T) {
	src := `id: NPS
version: 0
measure: ""
aggregate: avg
value_range: [10, 0]
precision: 9
group_by:
  care_setting: [inpatient, inpatient]
window: {from: 2026-02-30, to: 2026-01-01}
period: weekly
participants: [hosp-a, hosp-a]
privacy: {min_cohort: 0, epsilon: -1}
`
	_, err := Parse([]byte(src), "nps.yaml")
	got := fieldErrors(t, err)
	if len(got) != 12 {
		t.Fatalf("got %d errors, want 12:\n%s", len(got), strings.Join(got, "\n"))
	}
	for i, line := range []int{1, 2, 3, 4, 5, 6, 8, 9, 10, 11, 12, 12} {
		if prefix := fmt.Sprintf("nps.yaml:%d: ", line); !strings.HasPrefix(got[i], prefix) {
			t.Errorf("error %d = %q, want it on line %d", i, got[i], line)
		}
	}
}

func TestParseFileTooLarge(t *testing.T) {
	data := bytes.Repeat([]byte("#"), MaxContractSize+1)
	_, err := Parse(data, "big.yaml")
	want := []string{fmt.Sprintf("big.yaml: file is %d bytes; a contract file may have at most %d", MaxContractSize+1, MaxContractSize)}
	if got := fieldErrors(t, err); !reflect.DeepEqual(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

// The example of INTERFACE.md lists every field, threshold and bins
// included, though they apply only to proportion and histogram: it parses
// as written.
const interfaceExample = `id: nps-diabetes            # [a-z0-9-]{3,64}
version: 1
measure: nps
aggregate: nps              # count | sum | mean | variance | proportion | nps | histogram | pdc_rate
value_range: [0, 10]        # clip bounds; required for sum, mean, variance, histogram
threshold: 9                # proportion: share of values >= threshold
bins: [0, 7, 9, 11]         # histogram edges
precision: 2                # decimals kept for fractional values (fixed point)
filter: {therapeutic_area: [diabetes]}
group_by:                   # every category listed: all nodes use the same cells
  care_setting: [inpatient, outpatient, pharmacy]
window: {from: 2026-01-01, to: 2026-12-31}
period: quarter             # none | month | quarter | year: each cell's group gets a "period" key
participants: [hosp-a, hosp-b, pharma-x, pharm-y]
approvals: all              # all | majority | a number
min_participants: 4         # a round may release over this many participants' inputs if others are down (default: all)
privacy:
  min_cohort: 11            # cells with fewer contributing records network-wide are suppressed
  epsilon: 0                # 0: exact release; > 0: differential privacy per release
  budget: 0                 # total epsilon over all releases (0: no DP)
readers: []                 # org ids allowed to read results; empty = all members
`

func TestParseInterfaceExample(t *testing.T) {
	if _, err := Parse([]byte(interfaceExample), "nps.yaml"); err != nil {
		t.Errorf("verbatim example: %v", err)
	}

	data, err := os.ReadFile("testdata/nps.yaml")
	if err != nil {
		t.Fatal(err)
	}
	c, err := Parse(data, "nps.yaml")
	if err != nil {
		t.Fatal(err)
	}
	wantC := &Contract{
		ID:              "nps-diabetes",
		Version:         1,
		Title:           "Net Promoter Score, diabetes journey",
		Measure:         "nps",
		Aggregate:       AggregateNPS,
		ValueRange:      &Range{Lo: kpi.MustDecimal("0"), Hi: kpi.MustDecimal("10")},
		Precision:       2,
		Filter:          map[string][]string{"therapeutic_area": {"diabetes"}},
		GroupBy:         []GroupDim{{Name: "care_setting", Categories: []string{"inpatient", "outpatient", "pharmacy"}}},
		Window:          &Window{From: "2026-01-01", To: "2026-12-31", FromDay: 20454, ToDay: 20818},
		Period:          PeriodQuarter,
		Participants:    []kpi.OrgID{"hosp-a", "hosp-b", "pharma-x", "pharm-y"},
		Approvals:       Approvals{Rule: ApprovalsAll},
		MinParticipants: 4,
		Privacy:         Privacy{MinCohort: 11},
	}
	if !reflect.DeepEqual(c, wantC) {
		t.Errorf("Parse(testdata/nps.yaml) =\n%+v\nwant\n%+v", c, wantC)
	}
	if c.ApprovalsNeeded() != 4 {
		t.Errorf("ApprovalsNeeded() = %d, want 4", c.ApprovalsNeeded())
	}
	if len(c.Cells()) != 12 || c.Width() != 3 {
		t.Errorf("Cells() = %d, Width() = %d; want 12 and 3", len(c.Cells()), c.Width())
	}
}

func TestParseDefaults(t *testing.T) {
	c, err := Parse([]byte("id: nps-min\nmeasure: nps\naggregate: nps\nparticipants: [hosp-a, hosp-b, hosp-c]\n"), "min.yaml")
	if err != nil {
		t.Fatal(err)
	}
	want := &Contract{
		ID:              "nps-min",
		Version:         1,
		Measure:         "nps",
		Aggregate:       AggregateNPS,
		ValueRange:      &Range{Lo: kpi.MustDecimal("0"), Hi: kpi.MustDecimal("10")},
		Period:          PeriodNone,
		Participants:    []kpi.OrgID{"hosp-a", "hosp-b", "hosp-c"},
		Approvals:       Approvals{Rule: ApprovalsAll},
		MinParticipants: 3,
		Privacy:         Privacy{MinCohort: 11},
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("got\n%+v\nwant\n%+v", c, want)
	}
	if cells := c.Cells(); len(cells) != 1 || len(cells[0]) != 0 {
		t.Errorf("Cells() = %v, want one cell with an empty group", cells)
	}
}

func TestParseAccepts(t *testing.T) {
	tests := []struct {
		name  string
		src   string
		check func(t *testing.T, c *Contract)
	}{
		{"schedule", "id: abc\nmeasure: m\naggregate: count\nparticipants: [hosp-a]\nschedule: 1440m\n",
			func(t *testing.T, c *Contract) {
				if c.Schedule != 24*time.Hour || !strings.Contains(string(c.Canonical()), `"schedule":"1d"`) {
					t.Errorf("schedule = %v, canonical %s", c.Schedule, c.Canonical())
				}
			}},
		{"aliases", "id: abc\nmeasure: m\naggregate: count\nparticipants: &p [hosp-a, hosp-b]\nreaders: *p\n",
			func(t *testing.T, c *Contract) {
				if !reflect.DeepEqual(c.Readers, c.Participants) {
					t.Errorf("readers = %v", c.Readers)
				}
			}},
		{"categories written as numbers and booleans", "id: abc\nmeasure: m\naggregate: count\ngroup_by: {stage: [1, 2, 3.0], smoker: [true, false]}\nparticipants: [hosp-a]\n",
			func(t *testing.T, c *Contract) {
				want := []GroupDim{{"stage", []string{"1", "2", "3.0"}}, {"smoker", []string{"true", "false"}}}
				if !reflect.DeepEqual(c.GroupBy, want) {
					t.Errorf("group_by = %v, want %v", c.GroupBy, want)
				}
			}},
		{"quoted dates and leap day", "id: abc\nmeasure: m\naggregate: count\nwindow: {from: \"2024-02-29\", to: 2024-02-29}\nperiod: month\nparticipants: [hosp-a]\n",
			func(t *testing.T, c *Contract) {
				if c.Window.FromDay != c.Window.ToDay || len(c.Cells()) != 1 || c.Cells()[0].String() != "period=2024-02" {
					t.Errorf("window = %+v, cells = %v", c.Window, c.Cells())
				}
			}},
		{"approvals majority", "id: abc\nmeasure: m\naggregate: count\nparticipants: [aa, bb, cc, dd]\napprovals: majority\n",
			func(t *testing.T, c *Contract) {
				if c.ApprovalsNeeded() != 3 {
					t.Errorf("ApprovalsNeeded() = %d, want 3", c.ApprovalsNeeded())
				}
			}},
		{"approvals number", "id: abc\nmeasure: m\naggregate: count\nparticipants: [aa, bb, cc, dd]\napprovals: 2\nmin_participants: 1\n",
			func(t *testing.T, c *Contract) {
				if c.ApprovalsNeeded() != 2 || c.MinParticipants != 1 {
					t.Errorf("ApprovalsNeeded() = %d, MinParticipants = %d", c.ApprovalsNeeded(), c.MinParticipants)
				}
			}},
		{"dp", "id: abc\nmeasure: m\naggregate: mean\nvalue_range: [-1.5, 1e2]\nparticipants: [aa]\nprivacy: {epsilon: 0.25, budget: 1.00}\n",
			func(t *testing.T, c *Contract) {
				if c.Privacy.Epsilon != kpi.MustDecimal("0.25") || c.Privacy.Budget != kpi.MustDecimal("1") || c.ValueRange.Hi != kpi.MustDecimal("100") {
					t.Errorf("privacy = %+v, value_range = %+v", c.Privacy, c.ValueRange)
				}
			}},
		{"filter and group_by on one dimension", "id: abc\nmeasure: m\naggregate: count\nfilter: {site: [a, b]}\ngroup_by: {site: [a, b, c]}\nparticipants: [aa]\n",
			func(t *testing.T, c *Contract) {
				if len(c.Cells()) != 3 {
					t.Errorf("cells = %v", c.Cells())
				}
			}},
		{"empty group_by and filter", "id: abc\nmeasure: m\naggregate: count\nfilter: {}\ngroup_by: {}\nparticipants: [aa]\n",
			func(t *testing.T, c *Contract) {
				if c.Filter != nil || c.GroupBy != nil {
					t.Errorf("filter = %v, group_by = %v", c.Filter, c.GroupBy)
				}
			}},
		{"histogram bins wider than the range", "id: abc\nmeasure: m\naggregate: histogram\nvalue_range: [0, 10]\nbins: [-5, 0, 10.5]\nparticipants: [aa]\n",
			func(t *testing.T, c *Contract) {
				if c.Width() != 3 {
					t.Errorf("Width() = %d", c.Width())
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse([]byte(tt.src), "ok.yaml")
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, c)
		})
	}
}

func TestParseTestdata(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.yaml")
	if len(files) == 0 {
		t.Fatal("no testdata")
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Parse(data, f); err != nil {
			t.Errorf("%v", err)
		}
	}
}

// FuzzParse checks that Parse never panics, reports only input errors, and
// that an accepted contract has a stable canonical form that Parse reads
// back to the same hash.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.yaml")
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(interfaceExample))
	f.Add([]byte("id: abc\nmeasure: m\naggregate: count\nparticipants: &p [aa]\nreaders: *p\n"))
	f.Add([]byte("id: abc\n---\nid: def\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data, "fuzz.yaml")
		if err != nil {
			fieldErrors(t, err)
			return
		}
		canon := c.Canonical()
		if !bytes.Equal(canon, c.Canonical()) {
			t.Fatal("Canonical is not deterministic")
		}
		if !json.Valid(canon) {
			t.Fatalf("Canonical is not JSON: %s", canon)
		}
		c2, err := Parse(canon, "canonical.json")
		if err != nil {
			t.Fatalf("Parse(Canonical()) failed: %v\n%s", err, canon)
		}
		if c2.Hash() != c.Hash() {
			t.Fatalf("hash changed through the canonical form:\n%s\n%s", canon, c2.Canonical())
		}
		cells := c.Cells()
		if len(cells) == 0 || len(cells) > MaxCells {
			t.Fatalf("%d cells", len(cells))
		}
		comps, err := c.NewAccumulator().Components()
		if err != nil || len(comps) != len(cells)*c.Width() {
			t.Fatalf("Components() = %d, %v; want %d", len(comps), err, len(cells)*c.Width())
		}
		if _, err := c.Release(comps); err != nil {
			t.Fatal(err)
		}
	})
}

func TestParseLimits(t *testing.T) {
	var b strings.Builder
	b.WriteString("id: abc\nmeasure: m\naggregate: count\nparticipants: [aa]\n")
	for i := range 200 {
		fmt.Fprintf(&b, "k%d: 1\n", i)
	}
	_, err := Parse([]byte(b.String()), "many.yaml")
	got := fieldErrors(t, err)
	if len(got) != MaxErrors+1 || got[MaxErrors] != "many.yaml: 150 more problems not shown; fix these first" {
		t.Errorf("got %d errors, last %q", len(got), got[len(got)-1])
	}

	_, err = Parse([]byte(strings.Repeat("[", 20000)+strings.Repeat("]", 20000)), "deep.yaml")
	if got, want := fieldErrors(t, err), []string{"deep.yaml: invalid YAML: exceeded max depth of 10000"}; !reflect.DeepEqual(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

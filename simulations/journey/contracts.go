package journey

import (
	"fmt"
	"slices"
	"strings"
)

// MinCohort is the consortium's cohort floor: a cell with fewer records
// network-wide is suppressed.
const MinCohort = 11

// Contract is one KPI the demo's boards agree, and the part each
// organisation plays in it.
type Contract struct {
	ID, Title  string
	Measure    string
	Aggregate  string // nps | proportion | mean | pdc_rate
	Dim        string // the group_by dimension
	Categories []string
	Quarterly  bool     // period: quarter
	Threshold  int64    // proportion: share of values >= Threshold
	Range      [2]int64 // value_range (clip bounds); zero for none
	Precision  int

	Participants []string // sorted
	Readers      []string // empty: every member reads the release

	ProposedBy string // the organisation whose proposal the others approve
	RunBy      string // the participant whose node runs the round
	ReadOn     string // the node the release is read on
	Beside     string // the organisation whose own value is printed beside the network's
	Why        string // why these participants, for a person
}

// Contracts returns the four KPIs of the journey, in the order the demo
// agrees and releases them.
func (d *Dataset) Contracts() []Contract {
	surveying := sorted(NorthGeneral.ID, SouthValley.ID, Ridge.ID)
	readers := []string{Ridge.ID}
	if d.Payer {
		readers = append(readers, WestPlan.ID)
	}
	return []Contract{
		{
			ID: "journey-nps", Title: "Net Promoter Score along the journey, by care setting and quarter",
			Measure: "nps", Aggregate: "nps", Dim: "care_setting", Categories: CareSettings, Quarterly: true, Range: [2]int64{0, 10},
			Participants: surveying, ProposedBy: NorthGeneral.ID, RunBy: NorthGeneral.ID, ReadOn: SouthValley.ID, Beside: SouthValley.ID,
			Why: "the hospitals' patients and the programme's patients answer the same 0-10 question",
		},
		{
			ID: "communication-topbox", Title: "Top-box communication (share answering \"always\"), by age band",
			Measure: "communication", Aggregate: "proportion", Dim: "age_band", Categories: AgeBands, Threshold: 4, Range: [2]int64{1, 4},
			Participants: surveying, ProposedBy: Ridge.ID, RunBy: SouthValley.ID, ReadOn: Ridge.ID, Beside: Ridge.ID,
			Why: "the hospitals ask about nurses and doctors, the programme about its nurses, on the same four-point scale",
		},
		{
			ID: "adherence-pdc", Title: "Share of patients with PDC >= 0.8, by drug class",
			Measure: MeasureDaysSupply, Aggregate: "pdc_rate", Dim: "drug_class", Categories: DrugClasses,
			Participants: sorted(EastPharmacy.ID, BayPharmacy.ID, NorthGeneral.ID), Readers: readers,
			ProposedBy: EastPharmacy.ID, RunBy: BayPharmacy.ID, ReadOn: Ridge.ID, Beside: EastPharmacy.ID,
			Why: "every contract needs at least three participants (with two, each would learn the other's cells by " +
				"subtracting its own), so North General's outpatient pharmacy joins the two pharmacies; the readers " +
				"see the result, the pharmacies do not",
		},
		{
			ID: "wait-by-region", Title: "Mean minutes waited before being seen, by where patients live",
			Measure: "wait_minutes", Aggregate: "mean", Dim: "region", Categories: Regions, Range: [2]int64{0, 480}, Precision: 1,
			Participants: surveying, ProposedBy: SouthValley.ID, RunBy: Ridge.ID, ReadOn: NorthGeneral.ID, Beside: NorthGeneral.ID,
			Why: "hospitals count from arrival until seen, the programme from calling its nurse line until a nurse answers",
		},
	}
}

// YAML is the contract file the proposer submits.
func (c Contract) YAML() string {
	var b strings.Builder
	fmt.Fprintf(&b, "id: %s\nversion: 1\ntitle: %q\nmeasure: %s\naggregate: %s\n", c.ID, c.Title, c.Measure, c.Aggregate)
	if c.Range != [2]int64{} {
		fmt.Fprintf(&b, "value_range: [%d, %d]\n", c.Range[0], c.Range[1])
	}
	if c.Aggregate == "proportion" {
		fmt.Fprintf(&b, "threshold: %d\n", c.Threshold)
	}
	if c.Precision > 0 {
		fmt.Fprintf(&b, "precision: %d\n", c.Precision)
	}
	q := make([]string, len(c.Categories))
	for i, s := range c.Categories {
		q[i] = quoteYAML(s)
	}
	fmt.Fprintf(&b, "group_by:\n  %s: [%s]\n", c.Dim, join(q))
	fmt.Fprintf(&b, "window: {from: %d-01-01, to: %d-12-31}\n", Year, Year)
	if c.Quarterly {
		b.WriteString("period: quarter\n")
	}
	fmt.Fprintf(&b, "participants: [%s]\napprovals: all\nprivacy: {min_cohort: %d, epsilon: 0}\n", join(c.Participants), MinCohort)
	if len(c.Readers) > 0 {
		fmt.Fprintf(&b, "readers: [%s]\n", join(c.Readers))
	}
	return b.String()
}

func sorted(s ...string) []string {
	slices.Sort(s)
	return s
}

func join(s []string) string { return strings.Join(s, ", ") }

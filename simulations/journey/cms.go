package journey

import (
	"bytes"
	"fmt"
	"slices"

	"github.com/cxnet/cxnet/simulations/cms"
)

// cmsShare is part of split of the CMS outpatient facility file, as the
// canonical CSV of package cms: one record per completed survey.
func cmsShare(part, split int) (Export, error) {
	fs, err := cms.Facilities()
	if err != nil {
		return Export{}, err
	}
	var b bytes.Buffer
	sum, err := cms.WriteRecords(&b, fs, cms.Options{Split: split, Part: part})
	if err != nil {
		return Export{}, err
	}
	return Export{
		Name: "cms-oas-cahps-2024-07.csv", Format: "csv", Body: b.Bytes(), Records: sum.Records,
		What: fmt.Sprintf("its %d of the %d facilities of the CMS outpatient survey file (OAS CAHPS, July 2024), one record per completed survey (CSV)",
			sum.Facilities, len(cms.Share(fs, 0, 0))),
	}, nil
}

// CMSPreview is a contract the hospitals preview over their CMS records
// (never proposed): completed surveys and the share rating the facility 9
// or 10, per state.
func CMSPreview() (string, []string, error) {
	pub, err := cms.Published()
	if err != nil {
		return "", nil, err
	}
	var states []string
	for s, f := range pub {
		if f.Reported {
			states = append(states, s)
		}
	}
	slices.Sort(states)
	var q []string
	for _, s := range states {
		q = append(q, quoteYAML(s))
	}
	return fmt.Sprintf(`id: cms-rating-by-state
title: Completed outpatient surveys and share rating the facility 9-10, by state (CMS OAS CAHPS)
measure: %s
aggregate: proportion
threshold: 9
value_range: [0, 10]
group_by:
  state: [%s]
window: {from: %s, to: %s}
participants: [%s, %s, %s]
privacy: {min_cohort: %d}
`, cms.MeasureRating, join(q), cms.PeriodStart.Format("2006-01-02"), cms.PeriodEnd.Format("2006-01-02"),
		NorthGeneral.ID, SouthValley.ID, Ridge.ID, MinCohort), states, nil
}

// CMSCompleted is CMS's published number of completed surveys per state.
func CMSCompleted() (map[string]int64, error) {
	pub, err := cms.Published()
	if err != nil {
		return nil, err
	}
	out := map[string]int64{}
	for s, f := range pub {
		if f.Reported {
			out[s] = int64(f.Completed)
		}
	}
	return out, nil
}

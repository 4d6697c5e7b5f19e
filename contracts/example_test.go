package contracts_test

import (
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/cxnet/cxnet/contracts"
	"github.com/cxnet/cxnet/kpi"
)

func ExampleParse() {
	c, err := contracts.Parse([]byte(`
id: nps-diabetes
measure: nps
aggregate: nps
group_by:
  care_setting: [inpatient, outpatient]
window: {from: 2026-01-01, to: 2026-06-30}
period: quarter
participants: [hosp-a, hosp-b]
`), "nps.yaml")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(c.ID, c.Aggregate, "needs", c.ApprovalsNeeded(), "approvals")
	for _, g := range c.Cells() {
		fmt.Println(g)
	}

	_, err = contracts.Parse([]byte(`
id: nps-diabetes
measure: nps
aggregate: average
group_by:
  care_setting: [inpatient, inpatient]
participants: [hosp-a]
`), "bad.yaml")
	fmt.Println(err)
	// Output:
	// nps-diabetes nps needs 2 approvals
	// care_setting=inpatient,period=2026-Q1
	// care_setting=inpatient,period=2026-Q2
	// care_setting=outpatient,period=2026-Q1
	// care_setting=outpatient,period=2026-Q2
	// bad.yaml:4: aggregate: must be one of count, sum, mean, variance, proportion, nps, histogram, pdc_rate (got "average")
	// bad.yaml:6: group_by.care_setting: categories must be unique ("inpatient" appears twice)
}

func ExampleContract_Release() {
	c, err := contracts.Parse([]byte(`
id: nps-by-setting
measure: nps
aggregate: nps
group_by: {care_setting: [inpatient, outpatient]}
participants: [hosp-a, hosp-b]
`), "nps.yaml")
	if err != nil {
		fmt.Println(err)
		return
	}
	answer := func(setting, score string) *kpi.Observation {
		t := time.Date(2026, 3, 14, 10, 0, 0, 0, time.UTC)
		return &kpi.Observation{
			Measure: "nps", Value: kpi.MustDecimal(score), Unix: t.Unix(), Day: kpi.DayOf(t),
			Dims: []kpi.Dim{{Name: "care_setting", Value: setting}},
		}
	}

	// Each hospital accumulates its own observations...
	a := c.NewAccumulator()
	a.Add(answer("inpatient", "10"))
	a.Add(answer("inpatient", "4"))
	a.Add(answer("outpatient", "9"))
	b := c.NewAccumulator()
	b.Add(answer("inpatient", "9"))
	b.Add(answer("outpatient", "7"))
	b.Add(answer("home", "0")) // not a declared category: skipped

	// ...their components add up slot-wise...
	ca, _ := a.Components()
	cb, _ := b.Components()
	sum := make([]int64, len(ca))
	for i := range sum {
		sum[i] = ca[i] + cb[i]
	}
	fmt.Println(sum)

	// ...and the sum is released.
	cells, err := c.Release(sum)
	if err != nil {
		fmt.Println(err)
		return
	}
	enc := json.NewEncoder(os.Stdout)
	for _, cell := range cells {
		enc.Encode(cell)
	}
	// Output:
	// [3 2 1 2 1 0]
	// {"group":{"care_setting":"inpatient"},"count":3,"value":33.3333}
	// {"group":{"care_setting":"outpatient"},"count":2,"value":50}
}

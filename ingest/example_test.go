package ingest_test

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/cxnet/cxnet/ingest"
	"github.com/cxnet/cxnet/kpi"
)

func ExampleNewCSVReader() {
	in := "record_id,subject,measure,value,time,care_setting\n" +
		"r1,subj-001,nps,9,2026-03-14,outpatient\n" +
		"r2,subj-002,nps,abc,2026-03-14,outpatient\n"
	r := ingest.NewCSVReader(strings.NewReader(in), "visits.csv", ingest.Options{})
	for {
		var rec kpi.Record
		err := r.Next(&rec)
		if err == io.EOF {
			break
		}
		var e *kpi.InputError
		if errors.As(err, &e) {
			fmt.Println(e)
			break
		}
		fmt.Println(rec.ID, rec.Measure, rec.Value, rec.Time.Format("2006-01-02"), rec.Dims)
	}
	// Output:
	// r1 nps 9 2026-03-14 [{care_setting outpatient}]
	// visits.csv:3: field value: "abc" is not a number; use a decimal like 7 or 7.5
}

func ExampleNewFHIRReader() {
	m, err := ingest.ParseMapping([]byte(`
items:
  - link_id: "3.1"
    measure: smoker
    values: {"No": 0, "Yes": 1}
dim_items:
  sex: "2.1"
`), "map.yaml")
	if err != nil {
		fmt.Println(err)
		return
	}
	in := `{"resourceType":"QuestionnaireResponse","id":"f201","status":"completed",` +
		`"subject":{"reference":"Patient/f201"},"authored":"2013-06-18T00:00:00+01:00",` +
		`"item":[{"linkId":"2","item":[{"linkId":"2.1","answer":[{"valueString":"Male"}]}]},` +
		`{"linkId":"3","item":[{"linkId":"3.1","answer":[{"valueString":"No"}]}]}]}
{"resourceType":"Patient","id":"f201"}
`
	r := ingest.NewFHIRReader(strings.NewReader(in), "survey.ndjson", m, ingest.Options{SkipUnknown: true})
	for {
		var rec kpi.Record
		if err := r.Next(&rec); err != nil {
			if err != io.EOF {
				fmt.Println(err)
			}
			break
		}
		fmt.Println(rec.ID, rec.Measure, rec.Value, rec.Time.Format("2006-01-02T15:04:05Z07:00"), rec.Dims)
	}
	fmt.Println(r.Skipped())
	// Output:
	// f201/3.1 smoker 0 2013-06-18T00:00:00+01:00 [{sex Male}]
	// map[resourceType Patient:1]
}

// Package cms turns the US CMS Outpatient and Ambulatory Surgery CAHPS
// (OAS CAHPS) survey results for hospital outpatient departments, July 2024
// Care Compare release (survey period 2022-10-01..2023-09-30), into
// cxnet canonical CSV for hospital nodes, and gives CMS's own published
// state figures so that a federated result can be checked against them.
//
// The three CMS files (by hospital, by state, national) are embedded, so
// demos and tests need no download. They are a US federal government work,
// public domain; see data/SOURCE.txt.
//
// It is simulation tooling: it imports nothing of cxnet.
package cms

import (
	"bytes"
	_ "embed" // the CMS files are embedded
	"encoding/csv"
	"fmt"
	"io"
	"strconv"
	"strings"
)

var (
	//go:embed data/OQR_OAS_CAHPS_BY_HOSPITAL.csv
	byHospitalCSV []byte
	//go:embed data/OQR_OAS_CAHPS_STATE.csv
	stateCSV []byte
	//go:embed data/OQR_OAS_CAHPS_NATIONAL.csv
	nationalCSV []byte
)

// Column names of the CMS files.
const (
	colFacility  = "Facility ID"
	colName      = "Facility Name"
	colState     = "State"
	colFootnote  = "Footnote"
	colRating910 = "Patients who gave the facility a rating of 9 or 10 on a scale from 0 (lowest) to 10 (highest)"
	colRating78  = "Patients who gave the facility a rating of 7 or 8 on a scale from 0 (lowest) to 10 (highest)"
	colRating06  = "Patients who gave the facility a rating of 0 to 6 on a scale from 0 (lowest) to 10 (highest)"
	colCompleted = "Number of Completed Surveys"
	colSampled   = "Number of Sampled Patients"
)

// Figures are the survey counts and the overall-rating split CMS publishes
// for a facility, a state or the nation. Percents are whole numbers as
// published.
type Figures struct {
	Completed   int // Number of Completed Surveys
	Sampled     int // Number of Sampled Patients
	Rating9to10 int // % of patients who rated the facility 9 or 10 (of 0..10)
	Rating7to8  int // % who rated it 7 or 8
	Rating0to6  int // % who rated it 0 to 6
	// Reported is true when the completed surveys and the three rating
	// percents are all numbers; CMS leaves them blank for facilities with
	// too few surveys (footnote 4) and for territories without data.
	Reported bool
}

// Facility is one hospital outpatient department of the CMS file.
type Facility struct {
	ID       string // CMS Certification Number, e.g. "010005"
	Name     string
	State    string // two-letter code
	Footnote string // CMS footnote codes, e.g. "3" or "2;3"; see OAS_CAHPS_Footnotes.csv
	Figures
}

// Answers returns how many of the facility's Completed respondents
// WriteRecords gives each answer: tens = round(N × Rating9to10 / 100),
// eights = round(N × Rating7to8 / 100), fives = the rest (halves round
// up). When rounding makes tens + eights exceed N, eights is reduced.
func (f Facility) Answers() (tens, eights, fives int) {
	n := f.Completed
	tens = min((n*f.Rating9to10+50)/100, n)
	eights = min((n*f.Rating7to8+50)/100, n-tens)
	return tens, eights, n - tens - eights
}

// State is one row of CMS's state table.
type State struct {
	Code string // two-letter USPS code
	Name string // as CMS spells it
	Figures
}

// Facilities returns every facility of the embedded CMS file, in file
// order (1,242 rows; 1,049 of them Reported).
func Facilities() ([]Facility, error) {
	return ParseFacilities(bytes.NewReader(byHospitalCSV))
}

// States returns every row of CMS's embedded state table (56 rows: the 50
// states, DC and five territories, which have no data).
func States() ([]State, error) {
	return ParseStates(bytes.NewReader(stateCSV))
}

// National returns CMS's published national figures.
func National() (Figures, error) {
	rows, idx, err := readTable(bytes.NewReader(nationalCSV), "national file")
	if err != nil {
		return Figures{}, err
	}
	if len(rows) != 1 {
		return Figures{}, fmt.Errorf("cms: national file: %d data rows, want 1", len(rows))
	}
	return figures(rows[0], idx), nil
}

// Published returns CMS's published figures (completed surveys, % rating
// 9–10, …) for each state and DC that has data, keyed by two-letter code:
// what a federated "rating" result over Facilities should be set beside.
func Published() (map[string]Figures, error) {
	states, err := States()
	if err != nil {
		return nil, err
	}
	m := make(map[string]Figures, len(states))
	for _, s := range states {
		if s.Reported {
			m[s.Code] = s.Figures
		}
	}
	return m, nil
}

// ParseFacilities reads a CMS OQR_OAS_CAHPS_BY_HOSPITAL.csv file.
func ParseFacilities(r io.Reader) ([]Facility, error) {
	rows, idx, err := readTable(r, "by-hospital file")
	if err != nil {
		return nil, err
	}
	for _, c := range []string{colFacility, colName, colState, colFootnote} {
		if _, ok := idx[c]; !ok {
			return nil, fmt.Errorf("cms: by-hospital file: no column %q", c)
		}
	}
	fs := make([]Facility, 0, len(rows))
	for i, row := range rows {
		f := Facility{
			ID:       row[idx[colFacility]],
			Name:     row[idx[colName]],
			State:    row[idx[colState]],
			Footnote: row[idx[colFootnote]],
			Figures:  figures(row, idx),
		}
		if f.ID == "" || len(f.State) != 2 {
			return nil, fmt.Errorf("cms: by-hospital file: line %d: facility id %q, state %q", i+2, f.ID, f.State)
		}
		fs = append(fs, f)
	}
	return fs, nil
}

// ParseStates reads a CMS OQR_OAS_CAHPS_STATE.csv file. A state name it
// does not know is an error.
func ParseStates(r io.Reader) ([]State, error) {
	rows, idx, err := readTable(r, "state file")
	if err != nil {
		return nil, err
	}
	if _, ok := idx[colState]; !ok {
		return nil, fmt.Errorf("cms: state file: no column %q", colState)
	}
	states := make([]State, 0, len(rows))
	for i, row := range rows {
		name := row[idx[colState]]
		code, ok := StateCode(name)
		if !ok {
			return nil, fmt.Errorf("cms: state file: line %d: unknown state %q", i+2, name)
		}
		states = append(states, State{Code: code, Name: name, Figures: figures(row, idx)})
	}
	return states, nil
}

// readTable reads a CSV file with a header; idx maps column names to
// positions and every figure column must be there.
func readTable(r io.Reader, what string) (rows [][]string, idx map[string]int, err error) {
	cr := csv.NewReader(r)
	all, err := cr.ReadAll()
	if err != nil {
		return nil, nil, fmt.Errorf("cms: %s: %w", what, err)
	}
	if len(all) == 0 {
		return nil, nil, fmt.Errorf("cms: %s: empty", what)
	}
	idx = make(map[string]int, len(all[0]))
	for i, name := range all[0] {
		idx[strings.TrimPrefix(name, "\ufeff")] = i
	}
	for _, c := range []string{colRating910, colRating78, colRating06, colCompleted, colSampled} {
		if _, ok := idx[c]; !ok {
			return nil, nil, fmt.Errorf("cms: %s: no column %q", what, c)
		}
	}
	return all[1:], idx, nil
}

func figures(row []string, idx map[string]int) Figures {
	num := func(col string) (int, bool) {
		v, err := strconv.Atoi(strings.TrimSpace(row[idx[col]]))
		return v, err == nil && v >= 0
	}
	var f Figures
	var ok [4]bool
	f.Completed, ok[0] = num(colCompleted)
	f.Rating9to10, ok[1] = num(colRating910)
	f.Rating7to8, ok[2] = num(colRating78)
	f.Rating0to6, ok[3] = num(colRating06)
	f.Sampled, _ = num(colSampled)
	f.Reported = ok == [4]bool{true, true, true, true} && f.Completed > 0
	return f
}

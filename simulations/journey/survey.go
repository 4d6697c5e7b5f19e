package journey

import (
	"bytes"
	_ "embed" // the mapping files are embedded
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"
)

// PREMMap is the hospitals' mapping file: QuestionnaireResponse items to
// measures and dimensions.
//
//go:embed maps/prem.yaml
var PREMMap []byte

// Questionnaire is the canonical URL of the hospitals' PREM questionnaire.
const Questionnaire = "http://example.org/fhir/Questionnaire/prem-journey"

// The categories of the survey dimensions, in contract order.
var (
	CareSettings = []string{"inpatient", "outpatient", "home"}
	AgeBands     = []string{"18-44", "45-64", "65+"}
	// Regions are where patients live. Few live on the islands: every
	// surveying organisation has three respondents there, so the
	// network's cell stays under the cohort floor.
	Regions = []string{"north", "south", "east", "west", "islands"}
)

// lean is how an organisation's answers fall.
type lean struct {
	promote, detract [3]float64 // by care setting: share of 9–10 and of 0–6 answers
	topBox           [3]float64 // by age band: share of "always" to a communication item
	wait             [4]float64 // by region (not the islands): mean minutes waited
	live             [4]uint32  // where respondents live: weights of north, south, east, west
	settings         [3]uint32  // weights of the care settings
}

var (
	hospitalLeans = [2]lean{
		{ // North General: praised wards, crowded clinics, long waits, a northern catchment
			promote: [3]float64{0.64, 0.36, 0.52}, detract: [3]float64{0.09, 0.27, 0.15},
			topBox: [3]float64{0.56, 0.64, 0.74},
			wait:   [4]float64{64, 47, 55, 71},
			live:   [4]uint32{55, 10, 20, 15}, settings: [3]uint32{45, 40, 15},
		},
		{ // South Valley: strong outpatient care, short waits, a southern catchment
			promote: [3]float64{0.42, 0.61, 0.47}, detract: [3]float64{0.23, 0.10, 0.18},
			topBox: [3]float64{0.71, 0.63, 0.54},
			wait:   [4]float64{29, 34, 31, 25},
			live:   [4]uint32{10, 55, 15, 20}, settings: [3]uint32{35, 50, 15},
		},
	}
	// The programme's nurses see patients of every care setting, most at
	// home; its "wait" is the minutes on its nurse line.
	programmeLean = lean{
		promote: [3]float64{0.55, 0.66, 0.74}, detract: [3]float64{0.12, 0.08, 0.05},
		topBox: [3]float64{0.81, 0.77, 0.70},
		wait:   [4]float64{6, 9, 7, 5},
		live:   [4]uint32{25, 25, 25, 25}, settings: [3]uint32{20, 35, 45},
	}
)

// answer is one respondent's answers.
type answer struct {
	subject                   string
	at                        time.Time
	setting, age, region      string
	nps                       int64
	commNurses, commDoctors   int64 // 1..4; 0: not answered
	wait                      int64 // minutes; 0: not answered
	prom                      int64 // programme only
	completed                 bool
	islander                  bool
	settingIdx, ageIdx, regIx int
}

var frequency = [5]string{"", "never", "sometimes", "usually", "always"}

// respondent draws respondent i of n from an organisation leaning l.
func (l lean) respondent(rng *rand.Rand, i, n int) answer {
	a := answer{completed: true}
	a.at = randomTime(rng)
	a.settingIdx = pick(rng, l.settings[:])
	a.ageIdx = pick(rng, []uint32{30, 40, 30})
	a.regIx = pick(rng, l.live[:])
	// Three respondents of each surveying organisation live on the islands.
	if i == n/4 || i == n/2 || i == 3*n/4 {
		a.islander = true
	}
	a.setting, a.age, a.region = CareSettings[a.settingIdx], AgeBands[a.ageIdx], Regions[a.regIx]
	if a.islander {
		a.region = "islands"
	}
	switch u := rng.Float64(); {
	case u < l.promote[a.settingIdx]:
		a.nps = 9 + rng.Int64N(2)
	case u < 1-l.detract[a.settingIdx]:
		a.nps = 7 + rng.Int64N(2)
	default:
		a.nps = rng.Int64N(7)
	}
	comm := func() int64 {
		if rng.Float64() < l.topBox[a.ageIdx] {
			return 4
		}
		return 3 - int64(pick(rng, []uint32{60, 30, 10}))
	}
	a.commNurses, a.commDoctors = comm(), comm()
	if rng.IntN(50) == 0 {
		a.commDoctors = 0 // saw no doctor
	}
	mean := l.wait[min(a.regIx, 3)]
	a.wait = min(max(int64(mean*(0.35+0.65*rng.ExpFloat64())+0.5), 1), 480)
	if rng.IntN(25) == 0 {
		a.wait = 0 // skipped the question
	}
	a.prom = min(max(int64(62+8*float64(2-a.ageIdx)+rng.NormFloat64()*14+0.5), 0), 100)
	if rng.IntN(100) == 0 && !a.islander {
		a.completed = false // left unfinished: the import skips it
	}
	return a
}

// prem writes a hospital's PREM responses as FHIR R4 QuestionnaireResponse
// NDJSON and records their observations.
func (d *Dataset) prem(h Org, l lean, seed uint64) (Export, error) {
	rng := rand.New(rand.NewPCG(seed, 0x9e3e))
	n := d.Responses
	prefix := h.ID[len("hosp-"):]
	var body bytes.Buffer
	enc := json.NewEncoder(&body)
	records := 0
	for i := range n {
		a := l.respondent(rng, i, n)
		a.subject = fmt.Sprintf("Patient/%s-%06d", prefix, rng.IntN(n*4/5))
		id := fmt.Sprintf("prem-%s-%06d", prefix, i+1)
		status := "completed"
		if !a.completed {
			status = "in-progress"
		}
		coded := func(link, system, code string) item {
			return item{LinkID: link, Answer: []value{{ValueCoding: &coding{System: system, Code: code}}}}
		}
		freq := func(link string, v int64) item {
			if v == 0 {
				return item{LinkID: link}
			}
			return item{LinkID: link, Answer: []value{{ValueCoding: &coding{
				System: "http://example.org/fhir/CodeSystem/frequency", Code: frequency[v], Display: title(frequency[v])}}}}
		}
		wait := item{LinkID: "wait"}
		if a.wait > 0 {
			wait.Answer = []value{{ValueQuantity: &quantity{Value: a.wait, Unit: "min", System: "http://unitsofmeasure.org", Code: "min"}}}
		}
		qr := questionnaireResponse{
			ResourceType: "QuestionnaireResponse", ID: id, Questionnaire: Questionnaire + "|1.0", Status: status,
			Subject: reference{Reference: a.subject}, Authored: a.at.Format(time.RFC3339),
			Item: []item{
				{LinkID: "about", Item: []item{
					coded("setting", "http://example.org/fhir/CodeSystem/care-setting", a.setting),
					coded("age", "http://example.org/fhir/CodeSystem/age-band", a.age),
					coded("region", "http://example.org/fhir/CodeSystem/region", a.region),
				}},
				{LinkID: "recommend", Answer: []value{{ValueInteger: &a.nps}}},
				{LinkID: "communication", Item: []item{freq("comm.nurses", a.commNurses), freq("comm.doctors", a.commDoctors)}},
				wait,
			},
		}
		if err := enc.Encode(qr); err != nil {
			return Export{}, fmt.Errorf("journey: %s response %d: %w", h.ID, i+1, err)
		}
		if a.completed {
			records += d.survey(h.ID, a, false)
		}
	}
	return Export{
		Name: "prem-2025.ndjson", Format: "fhir", MapName: "prem-map.yaml", Map: PREMMap, Body: body.Bytes(),
		What: fmt.Sprintf("%d PREM responses (FHIR R4 QuestionnaireResponse NDJSON, one unfinished in about a hundred)", n), Records: records,
	}, nil
}

// survey records a respondent's observations and returns how many.
func (d *Dataset) survey(org string, a answer, programme bool) int {
	dims := map[string]string{"care_setting": a.setting, "age_band": a.age, "region": a.region}
	add := func(measure string, v int64) {
		d.obs = append(d.obs, obs{org: org, subject: a.subject, measure: measure, value: v, date: dateOf(a.at), dims: dims})
	}
	add("nps", a.nps)
	add("communication", a.commNurses)
	if !programme && a.commDoctors > 0 {
		add("communication", a.commDoctors)
	}
	if a.wait > 0 {
		add("wait_minutes", a.wait)
	}
	if programme {
		add("prom_score", a.prom)
	}
	n := 2 + btoi(!programme && a.commDoctors > 0) + btoi(a.wait > 0) + btoi(programme)
	return n
}

// programme writes the patient-support programme's survey as canonical
// CSV and records its observations.
func (d *Dataset) programme(seed uint64) (Export, error) {
	rng := rand.New(rand.NewPCG(seed, 0x5c5))
	n := d.Responses / 2
	var b bytes.Buffer
	b.WriteString("record_id,subject,measure,value,time,care_setting,age_band,region\n")
	records := 0
	for i := range n {
		a := programmeLean.respondent(rng, i, n)
		a.completed = true // the programme's nurses complete the survey on the call
		a.subject = fmt.Sprintf("PSP-%06d", i+1)
		at := a.at.Format(time.RFC3339)
		row := func(measure string, v int64) {
			fmt.Fprintf(&b, "psp-%06d-%s,%s,%s,%d,%s,%s,%s,%s\n", i+1, measure, a.subject, measure, v, at, a.setting, a.age, a.region)
		}
		row("nps", a.nps)
		row("communication", a.commNurses)
		if a.wait > 0 {
			row("wait_minutes", a.wait)
		}
		row("prom_score", a.prom)
		records += d.survey(Ridge.ID, a, true)
	}
	return Export{
		Name: "programme-survey-2025.csv", Format: "csv", Body: b.Bytes(), Records: records,
		What: fmt.Sprintf("%d programme survey respondents (CSV: NPS, communication, nurse-line wait, PROM)", n),
	}, nil
}

// The FHIR R4 elements the generator writes.
type (
	questionnaireResponse struct {
		ResourceType  string    `json:"resourceType"`
		ID            string    `json:"id"`
		Questionnaire string    `json:"questionnaire"`
		Status        string    `json:"status"`
		Subject       reference `json:"subject"`
		Authored      string    `json:"authored"`
		Item          []item    `json:"item"`
	}
	item struct {
		LinkID string  `json:"linkId"`
		Answer []value `json:"answer,omitempty"`
		Item   []item  `json:"item,omitempty"`
	}
	value struct {
		ValueInteger  *int64    `json:"valueInteger,omitempty"`
		ValueCoding   *coding   `json:"valueCoding,omitempty"`
		ValueQuantity *quantity `json:"valueQuantity,omitempty"`
	}
	coding struct {
		System  string `json:"system,omitempty"`
		Code    string `json:"code"`
		Display string `json:"display,omitempty"`
	}
	quantity struct {
		Value  int64  `json:"value"`
		Unit   string `json:"unit"`
		System string `json:"system"`
		Code   string `json:"code"`
	}
	reference struct {
		Reference string `json:"reference"`
	}
)

// cet is the Central European clock of day t (midnight UTC), for times
// after 08:00: +02:00 from the last Sunday of March to the Saturday before
// the last Sunday of October, +01:00 otherwise.
func cet(t time.Time) *time.Location {
	if !t.Before(lastSunday(t.Year(), time.March)) && t.Before(lastSunday(t.Year(), time.October)) {
		return time.FixedZone("CEST", 2*3600)
	}
	return time.FixedZone("CET", 3600)
}

func lastSunday(year int, month time.Month) time.Time {
	t := time.Date(year, month+1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, -1)
	for t.Weekday() != time.Sunday {
		t = t.AddDate(0, 0, -1)
	}
	return t
}

// randomTime is a time of day between 08:00 and 20:00 on a day of Year,
// on a Central European clock.
func randomTime(rng *rand.Rand) time.Time {
	day := time.Date(Year, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, rng.IntN(365))
	return dayTime(rng, day)
}

// dayTime is a time between 08:00 and 20:00 on the given date.
func dayTime(rng *rand.Rand, day time.Time) time.Time {
	loc := cet(day)
	return time.Date(day.Year(), day.Month(), day.Day(), 8+rng.IntN(12), rng.IntN(60), 0, 0, loc)
}

// dateOf is t's local calendar date, at midnight UTC.
func dateOf(t time.Time) time.Time {
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
}

// pick draws an index with probability proportional to its weight.
func pick(rng *rand.Rand, w []uint32) int {
	var total uint32
	for _, x := range w {
		total += x
	}
	x := rng.Uint32N(total)
	for i, c := range w {
		if x < c {
			return i
		}
		x -= c
	}
	return len(w) - 1
}

func title(s string) string {
	if s == "" {
		return s
	}
	return string(s[0]-'a'+'A') + s[1:]
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// quoteYAML quotes a category for a YAML flow list.
func quoteYAML(s string) string { return strconv.Quote(s) }

package journey

import (
	"bytes"
	_ "embed" // the mapping file is embedded
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/cxnet/cxnet/simulations/synth"
)

// DispenseMap is the dispensing organisations' mapping file: medication
// names to drug classes.
//
//go:embed maps/dispense.yaml
var DispenseMap []byte

// DrugClasses are the adherence classes, in contract order.
var DrugClasses = func() []string {
	var out []string
	for _, c := range synth.DrugClasses {
		out = append(out, c.Name)
	}
	return out
}()

// adherent is the share of each dispensing organisation's therapies that
// refill on time: East runs refill reminders, North General's outpatient
// pharmacy sees patients just out of hospital.
var adherent = map[string]float64{EastPharmacy.ID: 0.82, BayPharmacy.ID: 0.55, NorthGeneral.ID: 0.42}

// fill is one dispense of a therapy, on day (0-based) of Year.
type fill struct {
	day, supply int
	drug, class string
}

// therapy draws one patient's fills of a drug class over Year: a start in
// the first 240 days, 30-, 60- or 90-day supplies; adherent therapies
// refill from 5 days early to 3 late and stop with 2% chance after a fill,
// the others refill 3 to 42 days late and stop with 8% chance; 5% of
// refills switch to another drug of the class (the model of
// synth.WriteDispenses).
func therapy(rng *rand.Rand, class synth.DrugClass, onTime bool) []fill {
	var out []fill
	drug := rng.IntN(len(class.Drugs))
	supply := [3]int{30, 60, 90}[pick(rng, []uint32{60, 10, 30})]
	for day := rng.IntN(240); day < 365; {
		out = append(out, fill{day: day, supply: supply, drug: class.Drugs[drug], class: class.Name})
		var gap int
		var stop bool
		if onTime {
			gap, stop = rng.IntN(9)-5, rng.IntN(50) == 0
		} else {
			gap, stop = 3+rng.IntN(40), rng.IntN(25) < 2
		}
		if stop {
			break
		}
		day += supply + gap
		if rng.IntN(20) == 0 {
			drug = (drug + 1 + rng.IntN(len(class.Drugs)-1)) % len(class.Drugs)
		}
	}
	return out
}

// patientFills draws a patient's therapies: one drug class, a fifth of
// patients two.
func patientFills(rng *rand.Rand, onTime float64) []fill {
	first := pick(rng, []uint32{40, 35, 25})
	classes := []int{first}
	if rng.IntN(5) == 0 {
		classes = append(classes, (first+1+rng.IntN(len(synth.DrugClasses)-1))%len(synth.DrugClasses))
	}
	var out []fill
	for _, ci := range classes {
		out = append(out, therapy(rng, synth.DrugClasses[ci], rng.Float64() < onTime)...)
	}
	return out
}

// dispenser accumulates one organisation's MedicationDispense NDJSON.
type dispenser struct {
	d       *Dataset
	org     string
	prefix  string
	rng     *rand.Rand
	body    bytes.Buffer
	enc     *json.Encoder
	n       int // resources written
	records int
}

func newDispenser(d *Dataset, org, prefix string, seed uint64) *dispenser {
	w := &dispenser{d: d, org: org, prefix: prefix, rng: rand.New(rand.NewPCG(seed, 0xd15))}
	w.enc = json.NewEncoder(&w.body)
	return w
}

// write writes one dispense; one in a hundred was cancelled at the
// counter (the import skips it) and is not an observation.
func (w *dispenser) write(subject string, f fill) error {
	w.n++
	at := dayTime(w.rng, time.Date(Year, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, f.day))
	status := "completed"
	if w.rng.IntN(100) == 0 {
		status = "cancelled"
	}
	md := medicationDispense{
		ResourceType: "MedicationDispense", ID: fmt.Sprintf("%s-%07d", w.prefix, w.n), Status: status,
		MedicationCodeableConcept: concept{Text: f.drug},
		Subject:                   reference{Reference: subject},
		Quantity:                  &quantity{Value: int64(f.supply), Unit: "tablet", System: "http://terminology.hl7.org/CodeSystem/v3-orderableDrugForm", Code: "TAB"},
		DaysSupply:                quantity{Value: int64(f.supply), Unit: "day", System: "http://unitsofmeasure.org", Code: "d"},
		WhenHandedOver:            at.Format(time.RFC3339),
	}
	if err := w.enc.Encode(md); err != nil {
		return fmt.Errorf("journey: %s dispense %d: %w", w.org, w.n, err)
	}
	if status == "completed" {
		w.records++
		w.d.obs = append(w.d.obs, obs{org: w.org, subject: subject, measure: MeasureDaysSupply, value: int64(f.supply),
			date: dateOf(at), dims: map[string]string{"drug": f.drug, "drug_class": f.class}, drug: f.drug})
	}
	return nil
}

func (w *dispenser) export(patients int, what string) Export {
	return Export{
		Name: "dispenses-2025.ndjson", Format: "fhir", MapName: "drug-classes.yaml", Map: DispenseMap, Body: w.body.Bytes(), Records: w.records,
		What: fmt.Sprintf("%d dispenses to %d patients%s (FHIR R4 MedicationDispense NDJSON, one cancelled in about a hundred)", w.n, patients, what),
	}
}

// MeasureDaysSupply is the measure cxnet reads MedicationDispense into.
const MeasureDaysSupply = "dispense.days_supply"

// dispenses writes the pharmacies' and North General's outpatient
// pharmacy's dispenses. Patients have one id across pharmacies (the
// regional patient number on the prescription); an eighth of East's
// patients move to Bay on a day between 120 and 300 and fill there from
// then on.
func (d *Dataset) dispenses(seed uint64) error {
	rng := rand.New(rand.NewPCG(seed, 0xad4))
	p := d.Responses / 4
	switchers := p / 8
	east := newDispenser(d, EastPharmacy.ID, "pe", seed^1)
	bay := newDispenser(d, BayPharmacy.ID, "pb", seed^2)
	// Patients 0..p-1 start at East; p-switchers..2p-switchers-1 fill at
	// Bay, the first `switchers` of them having come from East.
	for i := range 2*p - switchers {
		subject := fmt.Sprintf("Patient/rx-%06d", i+1)
		switch {
		case i < p-switchers:
			for _, f := range patientFills(rng, adherent[EastPharmacy.ID]) {
				if err := east.write(subject, f); err != nil {
					return err
				}
			}
		case i < p:
			moved := 120 + rng.IntN(181)
			for _, f := range patientFills(rng, adherent[EastPharmacy.ID]) {
				w := east
				if f.day >= moved {
					w = bay
				}
				if err := w.write(subject, f); err != nil {
					return err
				}
			}
		default:
			for _, f := range patientFills(rng, adherent[BayPharmacy.ID]) {
				if err := bay.write(subject, f); err != nil {
					return err
				}
			}
		}
	}
	d.Switchers = switchers
	d.Exports[EastPharmacy.ID] = append(d.Exports[EastPharmacy.ID], east.export(p, fmt.Sprintf(", %d of whom moved to Bay during the year", switchers)))
	d.Exports[BayPharmacy.ID] = append(d.Exports[BayPharmacy.ID], bay.export(p, fmt.Sprintf(", %d of whom came from East during the year", switchers)))

	op := newDispenser(d, NorthGeneral.ID, "hn-op", seed^3)
	n := d.Responses / 10
	for i := range n {
		for _, f := range patientFills(rng, adherent[NorthGeneral.ID]) {
			if err := op.write(fmt.Sprintf("Patient/north-op-%06d", i+1), f); err != nil {
				return err
			}
		}
	}
	e := op.export(n, " of its outpatient pharmacy")
	e.Name = "outpatient-dispenses-2025.ndjson"
	d.Exports[NorthGeneral.ID] = append(d.Exports[NorthGeneral.ID], e)
	return nil
}

type (
	medicationDispense struct {
		ResourceType              string    `json:"resourceType"`
		ID                        string    `json:"id"`
		Status                    string    `json:"status"`
		MedicationCodeableConcept concept   `json:"medicationCodeableConcept"`
		Subject                   reference `json:"subject"`
		Quantity                  *quantity `json:"quantity,omitempty"`
		DaysSupply                quantity  `json:"daysSupply"`
		WhenHandedOver            string    `json:"whenHandedOver"`
	}
	concept struct {
		Text string `json:"text"`
	}
)

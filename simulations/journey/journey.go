// Package journey is the data of cxnet's product demo (`cxnet demo`): one
// patient journey measured by the organisations it crosses — two hospitals,
// a pharma company's patient-support programme, two pharmacies and,
// optionally, a payer that only reads — each holding the data it really
// has, in the format it really exports:
//
//   - hospitals: PREM answers (likelihood to recommend, two communication
//     items, waiting time) as FHIR R4 QuestionnaireResponse NDJSON with the
//     mapping file that turns them into measures; their share of the real
//     CMS outpatient facility file (OAS CAHPS, July 2024) as canonical CSV;
//     and, for North General, its outpatient pharmacy's dispenses;
//   - pharmacies: MedicationDispense NDJSON, with patients who switch from
//     one pharmacy to the other during the year;
//   - the patient-support programme: its survey (NPS of the service, the
//     same communication question, waiting time on its nurse line, a PROM
//     score) as canonical CSV.
//
// Each organisation leans its own way, so its own values differ from the
// network's. Generate is deterministic: the same Config gives the same
// bytes. The Dataset also keeps every observation in plain form, so that
// Pooled computes each contract's cells over all organisations' data at
// once — the computation cxnet never performs, which the demo uses to check
// every release.
//
// It is demo tooling: it imports nothing of cxnet (its tests read the
// exports back with cxnet's ingest package).
package journey

import (
	"fmt"
	"time"
)

// Year is the calendar year of the journey's records.
const Year = 2025

// Org is one organisation of the demo.
type Org struct {
	ID, Name, Kind string
	// Holds says, for a person, what data the organisation brings.
	Holds string
}

// The organisations, in the order the demo starts them. The payer joins
// only when asked for (Config.Payer): it holds no data and reads the
// adherence KPI.
var (
	NorthGeneral = Org{"hosp-north", "North General Hospital", "hospital",
		"PREM survey (FHIR QuestionnaireResponse), CMS outpatient facilities, outpatient pharmacy dispenses (FHIR MedicationDispense)"}
	SouthValley = Org{"hosp-south", "South Valley Hospital", "hospital",
		"PREM survey (FHIR QuestionnaireResponse), CMS outpatient facilities"}
	Ridge = Org{"pharma-ridge", "Ridge Therapeutics patient-support programme", "pharma",
		"programme survey: NPS, communication, nurse-line wait, PROM (CSV)"}
	EastPharmacy = Org{"pharm-east", "East Pharmacy Group", "pharmacy", "dispenses (FHIR MedicationDispense)"}
	BayPharmacy  = Org{"pharm-bay", "Bay Pharmacies", "pharmacy", "dispenses (FHIR MedicationDispense)"}
	WestPlan     = Org{"payer-west", "West Health Plan", "payer", "no records: reads the adherence KPI"}
)

// Config selects the size and seed of a dataset.
type Config struct {
	// Responses is the PREM responses per hospital, 100 to 1,000,000; the
	// programme has half as many respondents, each pharmacy a quarter as
	// many patients, North General's outpatient pharmacy a tenth.
	Responses int
	Seed      uint64
	// CMS adds the hospitals' shares of the CMS outpatient facility file
	// (664,137 survey records in all).
	CMS bool
	// Payer adds the payer, a reader of the adherence KPI.
	Payer bool
}

func (c Config) validate() error {
	if c.Responses < 100 || c.Responses > 1_000_000 {
		return fmt.Errorf("journey: %d responses per hospital: must be 100 to 1,000,000", c.Responses)
	}
	return nil
}

// Export is one file an organisation exports and imports into its node.
type Export struct {
	Name   string // file name, e.g. "prem-2025.ndjson"
	Format string // "csv" or "fhir", as `cxnet data import --format`
	// MapName and Map are the mapping file (`--map`) of a FHIR export.
	MapName string
	Map     []byte
	Body    []byte
	What    string // for a person: "PREM responses (FHIR R4 QuestionnaireResponse)"
	Records int    // records the import should store
}

// Dataset is every organisation's exports and, for checking releases, the
// plain observations behind them.
type Dataset struct {
	Config
	Orgs    []Org
	Exports map[string][]Export // by org id
	// Switchers is the patients who filled prescriptions at both
	// pharmacies, having moved from one to the other during the year.
	Switchers int
	obs       []obs // every observation, in generation order
}

// obs is one observation as the demo knows it: the organisation holding
// it, the measure, an integer value, the local date and the dimensions.
type obs struct {
	org, subject, measure string
	value                 int64
	date                  time.Time // local date of the record, midnight UTC
	dims                  map[string]string
	drug                  string // dispenses only
}

// Org returns the organisation with the given id.
func (d *Dataset) Org(id string) (Org, bool) {
	for _, o := range d.Orgs {
		if o.ID == id {
			return o, true
		}
	}
	return Org{}, false
}

// Generate builds the dataset of cfg.
func Generate(cfg Config) (*Dataset, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	d := &Dataset{
		Config:  cfg,
		Orgs:    []Org{NorthGeneral, SouthValley, Ridge, EastPharmacy, BayPharmacy},
		Exports: map[string][]Export{},
	}
	if cfg.Payer {
		d.Orgs = append(d.Orgs, WestPlan)
	}
	for i, h := range []Org{NorthGeneral, SouthValley} {
		e, err := d.prem(h, hospitalLeans[i], cfg.Seed^uint64(i+1))
		if err != nil {
			return nil, err
		}
		d.Exports[h.ID] = append(d.Exports[h.ID], e)
		if cfg.CMS {
			e, err := cmsShare(i, 2)
			if err != nil {
				return nil, err
			}
			d.Exports[h.ID] = append(d.Exports[h.ID], e)
		}
	}
	e, err := d.programme(cfg.Seed ^ 0x9e3)
	if err != nil {
		return nil, err
	}
	d.Exports[Ridge.ID] = append(d.Exports[Ridge.ID], e)
	if err := d.dispenses(cfg.Seed ^ 0xd15e); err != nil {
		return nil, err
	}
	return d, nil
}

// Records is the number of records every organisation's exports hold.
func (d *Dataset) Records() int {
	n := 0
	for _, es := range d.Exports {
		for _, e := range es {
			n += e.Records
		}
	}
	return n
}

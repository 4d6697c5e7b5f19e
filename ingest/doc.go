// Package ingest has the readers that turn source files into kpi.Records:
// the canonical CSV (record_id,subject,measure,value,time plus one column
// per dimension) and FHIR R4 JSON (NDJSON, Bundles or a single resource),
// where QuestionnaireResponse items are mapped to measures by a Mapping
// and MedicationDispense resources become dispense.days_supply records.
//
// Readers stream: memory depends on the longest line or resource, never on
// the size of the file. Every error they return (other than io.EOF) is a
// *kpi.InputError naming the file, the line, the field, what is wrong and what to
// do. Errors never repeat a subject identifier.
//
// ingest imports only the standard library, gopkg.in/yaml.v3 and kpi. It
// must not import store, contracts, privacy, protocol or node: it knows
// nothing about how records are kept or computed on.
package ingest

import "github.com/cxnet/cxnet/kpi"

// Reader yields records one by one; Next returns io.EOF at the end.
//
// Next may reuse the backing array of rec.Dims: copy the slice to keep it
// beyond the next call.
type Reader interface {
	Next(rec *kpi.Record) error
}

// Options tune a reader. The zero value is ready to use.
type Options struct {
	// MaxLineBytes is the longest accepted line (CSV: record) or resource
	// (FHIR). Zero means 1 MiB for CSV and 64 MiB for FHIR.
	MaxLineBytes int
	// SkipUnknown makes the FHIR reader skip (and count in Skipped)
	// resource types it does not map, instead of failing on them.
	SkipUnknown bool
}

const (
	defaultCSVMax  = 1 << 20
	defaultFHIRMax = 64 << 20
)

var (
	_ Reader = (*CSVReader)(nil)
	_ Reader = (*FHIRReader)(nil)
)

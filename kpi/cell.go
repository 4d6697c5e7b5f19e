package kpi

// RoundID names one round of a KPI contract ("nps-diabetes/3"); the
// governance log fixes it when the round opens.
type RoundID string

// Cell is one cell of a KPI result as a node shows it: a released round's
// cell, as the state machine publishes it, or a contract preview's cell
// over the node's own data. Group holds its dimension values (and
// "period" when the contract has one). A suppressed cell shows neither
// its count nor its value, and says why.
//
// Its JSON is what `cxnet results --json`, `round run --json` and
// `contract preview --json` print, and what the governance state keeps
// of a release.
type Cell struct {
	Group map[string]string `json:"group"`
	// Count is the number of records (patients for pdc_rate); nil when
	// suppressed.
	Count *int64 `json:"count,omitempty"`
	// Value is the aggregate: int64 for count, []int64 (per bin) for
	// histogram, float64 for the others, nil for a ratio over no records
	// or a suppressed cell. Decoded from JSON, numbers are float64.
	Value      any  `json:"value"`
	Suppressed bool `json:"suppressed"`
	// Reason says why a cell is suppressed: "min_cohort" (fewer records
	// than the floor), "min_organisations" (fed by fewer than three
	// organisations) or "differencing" (its count moved by fewer than the
	// floor since its previous release).
	Reason string `json:"reason,omitempty"`
	// Local is this node's own count and value beside a network result;
	// never part of a release.
	Local *LocalValue `json:"local,omitempty"`
}

// LocalValue is this node's own count and value beside a network result,
// computed locally and never sent.
type LocalValue struct {
	Count int64 `json:"count"`
	Value any   `json:"value"`
}

package client

import "time"

// Status is GET /v1/status.
type Status struct {
	Org        string     `json:"org"`
	Name       string     `json:"name"`
	Kind       string     `json:"kind"`
	PeerID     string     `json:"peer_id"`
	Ready      bool       `json:"ready"`
	Consortium string     `json:"consortium"`
	Raft       RaftStatus `json:"raft"`
	Members    int        `json:"members"`
	Version    string     `json:"version"`
	API        string     `json:"api"`
	Listen     []string   `json:"listen"`
	Started    time.Time  `json:"started"`
	Records    int64      `json:"records"`
}

// RaftStatus is the node's view of the governance log.
type RaftStatus struct {
	State  string `json:"state"` // leader | follower | candidate | none
	Leader string `json:"leader"`
}

// ImportRequest are the options of POST /v1/data/import.
type ImportRequest struct {
	Format      string // csv | fhir
	DryRun      bool
	Replace     bool
	SkipUnknown bool
}

// ImportSummary is the answer of POST /v1/data/import.
type ImportSummary struct {
	Batch    uint64           `json:"batch,omitempty"`
	Files    []string         `json:"files"`
	Records  int64            `json:"records"`
	Replaced int64            `json:"replaced"`
	Measures map[string]int64 `json:"measures"`
	Skipped  map[string]int64 `json:"skipped,omitempty"`
	Notes    map[string]int64 `json:"notes,omitempty"`
	DryRun   bool             `json:"dry_run"`
	Seconds  float64          `json:"seconds"`
}

// DataStats is GET /v1/data/stats.
type DataStats struct {
	Records  int64                    `json:"records"`
	Imports  int                      `json:"imports"`
	Measures map[string]*MeasureStats `json:"measures"`
}

// MeasureStats summarises one measure's records.
type MeasureStats struct {
	Records  int64                       `json:"records"`
	From     string                      `json:"from"`
	To       string                      `json:"to"`
	Subjects int64                       `json:"subjects"`
	Dims     map[string]map[string]int64 `json:"dims"`
}

// PreviewRequest is POST /v1/contracts/preview: a contract file's content,
// or the id of a contract the consortium knows.
type PreviewRequest struct {
	File string `json:"file,omitempty"` // name, for messages
	YAML string `json:"yaml,omitempty"`
	ID   string `json:"id,omitempty"`
}

// Preview is a contract's cells over this node's own data.
type Preview struct {
	Contract  string  `json:"contract"`
	Version   int     `json:"version"`
	Hash      string  `json:"hash"`
	Aggregate string  `json:"aggregate"`
	Measure   string  `json:"measure"`
	Cells     []Cell  `json:"cells"`
	Scanned   int64   `json:"scanned"`
	Seconds   float64 `json:"seconds"`
}

// Cell is one cell of a result: its group (dimension values, and "period"
// when the contract has one), the number of records (patients for
// pdc_rate) and the aggregate's value.
type Cell struct {
	Group      map[string]string `json:"group"`
	Count      *int64            `json:"count,omitempty"`
	Value      any               `json:"value"`
	Suppressed bool              `json:"suppressed"`
	Local      *LocalValue       `json:"local,omitempty"`
}

// LocalValue is this node's own value beside a network result.
type LocalValue struct {
	Count int64 `json:"count"`
	Value any   `json:"value"`
}

// AuditLog is GET /v1/audit.
type AuditLog struct {
	Entries []AuditEntry `json:"entries"`
}

// AuditEntry is one event of the hash-chained audit log.
type AuditEntry struct {
	Seq    uint64            `json:"seq"`
	Time   time.Time         `json:"time"`
	Kind   string            `json:"kind"`
	Actor  string            `json:"actor,omitempty"`
	Object string            `json:"object,omitempty"`
	Detail map[string]string `json:"detail,omitempty"`
	Prev   string            `json:"prev"`
	Hash   string            `json:"hash"`
}

// AuditVerification is GET /v1/audit/verify.
type AuditVerification struct {
	OK      bool   `json:"ok"`
	Entries uint64 `json:"entries"`
	Head    string `json:"head,omitempty"`
	Problem string `json:"problem,omitempty"`
}

package client

import (
	"time"

	"github.com/cxnet/cxnet/kpi"
)

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
	// Keys is the consortium's homomorphic key as this node knows it; nil
	// before the first key epoch.
	Keys *Keys `json:"keys,omitempty"`
	// ConsortiumID is the consortium's genesis hash ("" when none).
	ConsortiumID string    `json:"consortium_id,omitempty"`
	Version      string    `json:"version"`
	API          string    `json:"api"`
	Listen       []string  `json:"listen"`
	Started      time.Time `json:"started"`
}

// RaftStatus is the node's view of the governance log.
type RaftStatus struct {
	State  string `json:"state"` // leader | follower | candidate | none
	Leader string `json:"leader"`
	// LastIndex is the last entry in this node's log, AppliedIndex the
	// last one its governance state applied, SnapshotIndex the last
	// snapshot's.
	LastIndex     uint64 `json:"last_index"`
	AppliedIndex  uint64 `json:"applied_index"`
	SnapshotIndex uint64 `json:"snapshot_index"`
	// Timings are the raft timings the node runs with: config.yaml's
	// raft section, flags and defaults applied.
	Timings *RaftTimings `json:"timings,omitempty"`
}

// RaftTimings are a node's effective raft settings; durations in Go's
// notation ("2s", "5m0s").
type RaftTimings struct {
	Heartbeat         string `json:"heartbeat"`
	Election          string `json:"election"`
	LeaderLease       string `json:"leader_lease"`
	DeadVoterAfter    string `json:"dead_voter_after"`
	SnapshotThreshold uint64 `json:"snapshot_threshold"`
	TrailingLogs      uint64 `json:"trailing_logs"`
	SnapshotInterval  string `json:"snapshot_interval"`
}

// Keys is the consortium's key: the newest keyed epoch, and the epoch
// collecting shares when there is one.
type Keys struct {
	Epoch        uint64       `json:"epoch"` // 0 while no epoch is keyed
	Members      []string     `json:"members"`
	Threshold    int          `json:"threshold"`     // members needed to decrypt
	PublicKey    string       `json:"public_key"`    // digest of the collective key; "" while this node builds it
	ThresholdKey bool         `json:"threshold_key"` // this node holds its threshold key of the epoch
	Pending      *PendingKeys `json:"pending,omitempty"`
}

// PendingKeys is a key epoch collecting public-key shares.
type PendingKeys struct {
	Epoch   uint64   `json:"epoch"`
	Members []string `json:"members"`
	Missing []string `json:"missing"` // members whose share is not in the log yet
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
	Contract  string     `json:"contract"`
	Version   int        `json:"version"`
	Hash      string     `json:"hash"`
	Aggregate string     `json:"aggregate"`
	Measure   string     `json:"measure"`
	Cells     []kpi.Cell `json:"cells"`
	Scanned   int64      `json:"scanned"`
	Seconds   float64    `json:"seconds"`
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

// CreateRequest is POST /v1/consortium/create.
type CreateRequest struct {
	Name      string `json:"name"`
	MinCohort int    `json:"min_cohort"`
	PSK       bool   `json:"psk"` // generate a private-network key
}

// Consortium describes the consortium a node belongs to.
type Consortium struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	MinCohort int       `json:"min_cohort"`
	Founder   string    `json:"founder"`
	Created   time.Time `json:"created"`
	// PSK is the private-network key `consortium create --psk` generated,
	// in hex: hand it to the other members over a secure channel.
	PSK string `json:"psk,omitempty"`
}

// JoinRequest is POST /v1/consortium/join.
type JoinRequest struct {
	Via string `json:"via"`           // a member's multiaddr ending in /p2p/<peer id>
	PSK string `json:"psk,omitempty"` // the consortium's private-network key, hex
}

// GovernanceResult is what a governance command did.
type GovernanceResult struct {
	Event   string            `json:"event"`
	Object  string            `json:"object,omitempty"`
	Index   uint64            `json:"index"`
	Outcome string            `json:"outcome"`
	Detail  map[string]string `json:"detail,omitempty"`
}

// Members is GET /v1/members.
type Members struct {
	Members []Member `json:"members"`
}

// Member is one member organisation as the consortium knows it.
type Member struct {
	Org        string   `json:"org"`
	Name       string   `json:"name"`
	Kind       string   `json:"kind"`
	PeerID     string   `json:"peer_id"`
	Voter      bool     `json:"voter"`
	Raft       string   `json:"raft"` // voter | nonvoter | none (not joined yet)
	State      string   `json:"state"`
	Approvals  []string `json:"approvals"`
	Addrs      []string `json:"addrs"`
	ProposedBy string   `json:"proposed_by,omitempty"`
}

// ContractAction is POST /v1/contracts/{approve,reject,retire}.
type ContractAction struct {
	ID     string `json:"id"`
	Reason string `json:"reason,omitempty"`
	// Entry is a governance entry signed outside the node (`contract
	// approve --key FILE`); when set, ID and Reason are ignored.
	Entry []byte `json:"entry,omitempty"`
}

// Contracts is GET /v1/contracts.
type Contracts struct {
	Contracts []ContractInfo `json:"contracts"`
}

// ContractInfo is a contract's current version as the consortium agreed
// (or is agreeing) it.
type ContractInfo struct {
	ID           string            `json:"id"`
	Version      int               `json:"version"`
	State        string            `json:"state"`
	Hash         string            `json:"hash"`
	Title        string            `json:"title,omitempty"`
	Measure      string            `json:"measure"`
	Aggregate    string            `json:"aggregate"`
	Participants []string          `json:"participants"`
	Needed       int               `json:"approvals_needed"`
	Approvals    []string          `json:"approvals"`
	Rejections   map[string]string `json:"rejections,omitempty"`
	ProposedBy   string            `json:"proposed_by"`
	// Schedule is how often rounds run by themselves ("7d"; "" when only
	// `round run` runs them); NextRound, for an active scheduled
	// contract, when the next one is due and whose turn it is.
	Schedule  string         `json:"schedule,omitempty"`
	NextRound *NextRound     `json:"next_round,omitempty"`
	Contract  any            `json:"contract,omitempty"` // the canonical contract (show only)
	History   []ContractInfo `json:"history,omitempty"`
	// Warnings, in the reply to a proposal or an approval, name other
	// contracts whose releases could be differenced with this one's to
	// one or two organisations' cells (contracts.State.OverlapWarnings).
	Warnings []string `json:"warnings,omitempty"`
}

// NextRound is when a scheduled contract's next round is due, and which
// participant's node opens it (the others follow if it does not).
type NextRound struct {
	Due string `json:"due"` // RFC 3339; in the past when overdue
	By  string `json:"by"`
}

// RoundRequest is POST /v1/rounds: run a round of a contract now.
type RoundRequest struct {
	Contract string `json:"contract"`
	// Trace asks for the time each step of the round took.
	Trace bool `json:"trace,omitempty"`
}

// TraceStep is one step of a round the node aggregated, and its time.
type TraceStep struct {
	Step    string  `json:"step"`
	Seconds float64 `json:"seconds"`
}

// Results is a released round's result (GET /v1/results/{contract}, and
// the reply of POST /v1/rounds), with this node's own value beside each
// cell.
type Results struct {
	Contract     string      `json:"contract"`
	Version      int         `json:"version"`
	Round        kpi.RoundID `json:"round"`
	ReleasedAt   string      `json:"released_at"`
	Participants []string    `json:"participants"` // whose inputs the result sums
	Decryptors   []string    `json:"decryptors"`
	Aggregate    string      `json:"aggregate"`
	Cells        []kpi.Cell  `json:"cells"`
	// SealedTo names the readers a result was released to, when this
	// node ran the round but is not one of them: it has no cells.
	SealedTo []string `json:"sealed_to,omitempty"`
	Privacy  Privacy  `json:"privacy"`
	// Trace is the time each step of the round took, when `round run
	// --trace` asked for it.
	Trace []TraceStep `json:"trace,omitempty"`
}

// Privacy states how a result was protected.
type Privacy struct {
	MinCohort  int     `json:"min_cohort"`
	Epsilon    float64 `json:"epsilon"`
	Suppressed int     `json:"suppressed"` // cells under min_cohort, not shown
}

// Rounds is GET /v1/contracts/{id}/rounds: every round of a contract,
// oldest first.
type Rounds struct {
	Rounds []Round `json:"rounds"`
}

// Round is a round as `round list` shows it.
type Round struct {
	Round      kpi.RoundID `json:"round"`
	Version    int         `json:"version"`
	State      string      `json:"state"`            // open | released | failed
	Reason     string      `json:"reason,omitempty"` // why it failed
	Blame      []string    `json:"blame,omitempty"`  // whom the failure's report holds responsible
	ReportedBy string      `json:"reported_by,omitempty"`
	Aggregator string      `json:"aggregator"`
	Inputs     []string    `json:"inputs"`     // committed, or summed once sealed
	Decryptors []string    `json:"decryptors"` // once released
	OpenedAt   string      `json:"opened_at"`
	EndedAt    string      `json:"ended_at,omitempty"`
}

// UILoginRequest is POST /v1/ui/login: a one-time login link to the
// node's dashboard, landing on Path ("/ui/" when empty).
type UILoginRequest struct {
	Path string `json:"path,omitempty"`
}

// UILogin is a one-time login link to the dashboard: it works once,
// before Expires (at most a minute), and starts a browser session.
type UILogin struct {
	URL     string    `json:"url"`
	Expires time.Time `json:"expires"`
}

// Package api is a node's local HTTP API: the /v1 routes the CLI and
// the client call (with the bearer token), the dashboard under /ui/ (with
// a session from a login link), /metrics and /healthz — every route
// behind a check that the request's Host names the API (DNS rebinding).
// The handlers read the governance state and the store themselves; what
// only the node can do (sign, submit, sync, found or join a consortium,
// run a round) they ask of its Backend, declared here and implemented by
// node. It must not be imported by the parts (protocol, contracts,
// privacy, store, ingest); node wires it.
package api

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/cxnet/cxnet/contracts"
	"github.com/cxnet/cxnet/ingest"
	"github.com/cxnet/cxnet/kpi"
	"github.com/cxnet/cxnet/node/client"
	"github.com/cxnet/cxnet/privacy"
	"github.com/cxnet/cxnet/protocol"
	"github.com/cxnet/cxnet/protocol/rpc"
	"github.com/cxnet/cxnet/store"
)

// Backend is what the API asks of the node.
type Backend interface {
	// Ready reports whether the node serves; Status is its status.
	Ready() bool
	Status() client.Status
	// Identity is this node's member descriptor, signed.
	Identity() kpi.Member
	// UsePSK sets the consortium's private-network key (before Create or
	// Join); Create founds a consortium on this node; Join makes this
	// admitted member's node take part in the consortium of the member
	// at via.
	UsePSK(psk []byte) error
	Create(ctx context.Context, name string, minCohort int) error
	Join(ctx context.Context, via string) error
	// Sign signs a governance entry with this node's key; Submit puts a
	// signed entry in the log (an entry the state machine refused is an
	// error that Is ErrInput).
	Sign(t contracts.EntryType, body any) ([]byte, error)
	Submit(ctx context.Context, entry []byte) (contracts.Event, error)
	// Sync brings this node's state up to what the leader had committed;
	// Freshen tries to, and reads go on from this node's own state when
	// the leader is out of reach.
	Sync(ctx context.Context) error
	Freshen(ctx context.Context)
	// Servers are raft's servers (peer ids) by suffrage.
	Servers() (voters, nonvoters map[string]bool)
	// RunRound runs a round of a contract on this node, and returns its
	// id and its steps; a round that failed (and is recorded so) is an
	// error that Is ErrRoundFailed.
	RunRound(ctx context.Context, id kpi.ContractID) (string, []client.TraceStep, error)
	// ReaderKey opens results sealed to this organisation.
	ReaderKey() (*privacy.ReaderKey, error)
	// ImportRefused says a refused import may have left garbage in the
	// store.
	ImportRefused()
}

// Errors the Backend's errors wrap, for errors.Is.
var (
	// ErrInput marks errors in what the user sent: 422.
	ErrInput = errors.New("input")
	// ErrRoundFailed marks a round that failed and is recorded in the
	// log with its reason: 409.
	ErrRoundFailed = errors.New("round failed")
)

// Config configures New.
type Config struct {
	// Org is this node's organisation; Token the bearer token of /v1;
	// Addr the address the API listens on (after listening: the
	// configured port may be 0).
	Org, Token, Addr string
	// DB is the node's store; State reads the governance state
	// (contracts.FSM.Read); Components computes a contract's components
	// over this node's records and how many it scanned.
	DB         *store.DB
	State      func(func(*contracts.State))
	Components func(ctx context.Context, c *contracts.Contract) ([]int64, int64, error)
	Backend    Backend
	// Registry gets the API's metrics, and /metrics serves it.
	Registry *prometheus.Registry
	Now      func() time.Time
	Log      *slog.Logger
}

// API serves the local API.
type API struct {
	cfg Config
	b   Backend
	m   *metrics
	log *slog.Logger
}

// New returns the API's handler; it does no I/O.
func New(cfg Config) (*API, error) {
	var errs []error
	for name, missing := range map[string]bool{"Backend": cfg.Backend == nil, "DB": cfg.DB == nil, "State": cfg.State == nil,
		"Components": cfg.Components == nil, "Registry": cfg.Registry == nil, "Token": cfg.Token == ""} {
		if missing {
			errs = append(errs, fmt.Errorf("api: config: %s is required", name))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	m, err := newMetrics(cfg.Registry)
	if err != nil {
		return nil, err
	}
	return &API{cfg: cfg, b: cfg.Backend, m: m, log: cfg.Log}, nil
}

// routes is the local API, on the address it listens on (a.cfg.Addr).
// Every route answers only requests whose Host names the API — its
// listen address, or localhost, 127.0.0.1 or [::1] with its port — so a
// web page that rebinds its own name to this machine reads nothing
// (hostCheck). Everything under /v1 needs the bearer token too, and the
// dashboard under /ui/ a session from a login link (uiRoutes); /metrics
// and /healthz carry no data and are open to local scrapers, on a
// loopback Host only.
func (a *API) Handler() http.Handler {
	hosts := newHostCheck(a.cfg.Addr, a.m.wrongHost, a.log)
	reg := a.cfg.Registry
	mux := http.NewServeMux()
	handle := func(pattern, route string, h http.HandlerFunc) {
		mux.Handle(pattern, a.m.instrument(route, a.auth(h)))
	}
	handle("GET /v1/status", "status", a.handleStatus)
	handle("GET /v1/data/stats", "data_stats", a.handleDataStats)
	handle("POST /v1/data/import", "data_import", a.handleImport)
	handle("POST /v1/contracts/preview", "contract_preview", a.handlePreview)
	a.consortiumRoutes(handle)
	handle("GET /v1/audit", "audit", a.handleAudit)
	handle("GET /v1/audit/verify", "audit_verify", a.handleAuditVerify)
	a.uiRoutes(mux, handle)
	mux.Handle("GET /metrics", hosts.guard(promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}), true))
	mux.Handle("GET /healthz", hosts.guard(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !a.b.Ready() {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "ok\n")
	}), true))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "not_found", fmt.Sprintf("no API route %s %s", r.Method, r.URL.Path))
	})
	return hosts.guard(mux, false)
}

func (a *API) auth(h http.HandlerFunc) http.HandlerFunc {
	want := []byte("Bearer " + a.cfg.Token)
	return func(w http.ResponseWriter, r *http.Request) {
		if subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), want) != 1 {
			writeError(w, http.StatusUnauthorized, "unauthorized",
				"missing or wrong API token: use the token in the node's home (api.token), as `cxnet --home DIR` does")
			return
		}
		h(w, r)
	}
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

func writeError(w http.ResponseWriter, code int, kind, msg string) {
	writeJSON(w, code, client.Error{Msg: msg, Kind: kind})
}

// writeErr maps an error to a status: the user's input → 422, else 500.
func (a *API) writeErr(w http.ResponseWriter, op string, err error) {
	switch {
	case errors.As(err, new(*kpi.InputError)), errors.Is(err, ErrInput):
		writeError(w, http.StatusUnprocessableEntity, "input", err.Error())
	case errors.Is(err, ErrRoundFailed):
		// Recorded in the log with its reason: `cxnet round list` shows it.
		writeError(w, http.StatusConflict, "round_failed", err.Error())
	case errors.Is(err, protocol.ErrRefused), errors.Is(err, protocol.ErrHandshake),
		errors.Is(err, protocol.ErrUnreachable), errors.Is(err, protocol.ErrNotMember), errors.As(err, new(*rpc.RemoteError)):
		writeError(w, http.StatusBadGateway, "network", op+": "+err.Error())
	case errors.Is(err, store.ErrImportRunning):
		writeError(w, http.StatusConflict, "conflict", err.Error())
	case errors.Is(err, context.Canceled):
		writeError(w, 499, "cancelled", op+": cancelled")
	default:
		a.log.Error(op, "err", err)
		writeError(w, http.StatusInternalServerError, "internal", op+": "+err.Error())
	}
}

// inputError is an error in what the user sent.
type inputError struct{ msg string }

func (e inputError) Error() string        { return e.msg }
func (e inputError) Is(target error) bool { return target == ErrInput }

func (a *API) handleStatus(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, a.b.Status())
}

func (a *API) handleDataStats(w http.ResponseWriter, r *http.Request) {
	st, err := a.cfg.DB.Stats(r.Context())
	if err != nil {
		a.writeErr(w, "data stats", err)
		return
	}
	out := client.DataStats{Records: st.Records, Imports: st.Batches, Measures: map[string]*client.MeasureStats{}}
	for m, s := range st.Measures {
		out.Measures[m] = &client.MeasureStats{Records: s.Records, From: s.From, To: s.To, Subjects: s.Subjects, Dims: s.Dims}
	}
	writeJSON(w, http.StatusOK, out)
}

func (a *API) handlePreview(w http.ResponseWriter, r *http.Request) {
	var req client.PreviewRequest
	if err := json.NewDecoder(io.LimitReader(r.Body, 4<<20)).Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, "input", "preview request: "+err.Error())
		return
	}
	var c *contracts.Contract
	var err error
	if req.YAML == "" {
		rec, ok := a.contract(w, req.ID)
		if !ok {
			return
		}
		c, err = rec.Contract()
	} else {
		c, err = contracts.Parse([]byte(req.YAML), orDefault(req.File, "contract.yaml"))
	}
	if err != nil {
		a.writeErr(w, "preview", err)
		return
	}
	p, err := a.preview(r.Context(), c)
	if err != nil {
		a.writeErr(w, "preview", err)
		return
	}
	writeJSON(w, http.StatusOK, p)
}

// preview computes a contract's cells over this node's own data. Nothing
// leaves the node.
func (a *API) preview(ctx context.Context, c *contracts.Contract) (*client.Preview, error) {
	start := a.cfg.Now()
	comps, scanned, err := a.cfg.Components(ctx, c)
	if err != nil {
		return nil, err
	}
	cells, err := c.Release(comps)
	if err != nil {
		return nil, err
	}
	a.m.previews.Inc()
	out := &client.Preview{
		Contract: string(c.ID), Version: c.Version, Hash: c.Hash(),
		Aggregate: string(c.Aggregate), Measure: c.Measure,
		Scanned: scanned, Seconds: a.cfg.Now().Sub(start).Seconds(),
		Cells: make([]kpi.Cell, len(cells)),
	}
	for i, cell := range cells {
		cnt := cell.Count
		out.Cells[i] = kpi.Cell{Group: cell.Group, Count: &cnt, Value: cell.Value}
	}
	return out, nil
}

func (a *API) handleImport(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	format := q.Get("format")
	switch format {
	case "", "auto", "csv", "fhir":
	default:
		writeError(w, http.StatusBadRequest, "input", fmt.Sprintf("format %q: use csv or fhir", format))
		return
	}
	mr, err := r.MultipartReader()
	if err != nil {
		writeError(w, http.StatusBadRequest, "input", "import: want a multipart body: "+err.Error())
		return
	}
	src := &partSource{mr: mr, format: format, opt: ingest.Options{SkipUnknown: q.Get("skip_unknown") == "1"}}
	opt := store.ImportOptions{
		Source:  q.Get("files"),
		Replace: q.Get("replace") == "1",
		DryRun:  q.Get("dry_run") == "1",
	}
	sum, err := a.cfg.DB.Import(r.Context(), src, opt)
	if err != nil {
		a.m.imports.WithLabelValues("refused").Inc()
		a.b.ImportRefused()
		// The message goes back to the user; the log says where, not what:
		// a refused value is still a patient's observation.
		a.log.Warn("import refused; store unchanged", "files", opt.Source, "where", errWhere(err))
		a.writeErr(w, "import", err)
		return
	}
	outcome := "committed"
	if opt.DryRun {
		outcome = "dry_run"
	} else {
		a.m.importedRecords.Add(float64(sum.Records))
	}
	a.m.imports.WithLabelValues(outcome).Inc()
	a.log.Info("import", "outcome", outcome, "files", opt.Source, "records", sum.Records, "replaced", sum.Replaced, "batch", sum.Batch, "elapsed", sum.Elapsed)
	writeJSON(w, http.StatusOK, client.ImportSummary{
		Batch: sum.Batch, Files: src.files, Records: sum.Records, Replaced: sum.Replaced,
		Measures: sum.Measures, Skipped: src.skipped(), Notes: src.notes(), DryRun: sum.DryRun, Seconds: sum.Elapsed.Seconds(),
	})
}

// fileFormat picks the reader for a file: the requested format, or by
// extension.
func fileFormat(format, name string) (string, error) {
	if format != "" && format != "auto" {
		return format, nil
	}
	lower := strings.ToLower(name)
	switch {
	case strings.HasSuffix(lower, ".csv"):
		return "csv", nil
	case strings.HasSuffix(lower, ".ndjson"), strings.HasSuffix(lower, ".jsonl"), strings.HasSuffix(lower, ".json"):
		return "fhir", nil
	}
	return "", inputError{fmt.Sprintf("%s: cannot tell the format from the name; pass --format csv or --format fhir", name)}
}

func (a *API) handleAudit(w http.ResponseWriter, r *http.Request) {
	// Everything the consortium committed before the request is in this
	// node's audit log before it is read.
	a.b.Freshen(r.Context())
	out := client.AuditLog{Entries: []client.AuditEntry{}}
	err := a.cfg.DB.Audit(func(e store.AuditEntry) error {
		out.Entries = append(out.Entries, client.AuditEntry(e))
		return nil
	})
	if err != nil {
		a.writeErr(w, "audit", err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

func (a *API) handleAuditVerify(w http.ResponseWriter, r *http.Request) {
	entries, err := a.cfg.DB.VerifyAudit()
	var te *store.TamperError
	switch {
	case errors.As(err, &te):
		writeJSON(w, http.StatusOK, client.AuditVerification{OK: false, Entries: entries, Problem: te.Error()})
	case err != nil:
		a.writeErr(w, "audit verify", err)
	default:
		writeJSON(w, http.StatusOK, client.AuditVerification{OK: true, Entries: entries, Head: a.cfg.DB.AuditHead()})
	}
}

// errWhere says where an import failed without quoting any value: the
// position and field of an input error, or the error's class.
func errWhere(err error) string {
	var ie *kpi.InputError
	switch {
	case errors.As(err, &ie):
		return ie.Pos.String() + " field " + ie.Field
	case errors.Is(err, context.Canceled):
		return "cancelled"
	}
	return fmt.Sprintf("%T", errors.Unwrap(err))
}

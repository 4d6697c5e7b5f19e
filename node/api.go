package node

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/cxnet/cxnet/contracts"
	"github.com/cxnet/cxnet/ingest"
	"github.com/cxnet/cxnet/kpi"
	"github.com/cxnet/cxnet/node/client"
	"github.com/cxnet/cxnet/protocol"
	"github.com/cxnet/cxnet/protocol/rpc"
	"github.com/cxnet/cxnet/store"
)

// routes is the local API, on the address it listens on (n.apiAddr).
// Every route answers only requests whose Host names the API — its
// listen address, or localhost, 127.0.0.1 or [::1] with its port — so a
// web page that rebinds its own name to this machine reads nothing
// (hostCheck). Everything under /v1 needs the bearer token too, and the
// dashboard under /ui/ a session from a login link (uiRoutes); /metrics
// and /healthz carry no data and are open to local scrapers, on a
// loopback Host only.
func (n *Node) routes() http.Handler {
	hosts := newHostCheck(n.apiAddr, n.metrics.wrongHost, n.log)
	mux := http.NewServeMux()
	handle := func(pattern, route string, h http.HandlerFunc) {
		mux.Handle(pattern, n.metrics.instrument(route, n.auth(h)))
	}
	handle("GET /v1/status", "status", n.handleStatus)
	handle("GET /v1/data/stats", "data_stats", n.handleDataStats)
	handle("POST /v1/data/import", "data_import", n.handleImport)
	handle("POST /v1/contracts/preview", "contract_preview", n.handlePreview)
	n.consortiumRoutes(handle)
	handle("GET /v1/audit", "audit", n.handleAudit)
	handle("GET /v1/audit/verify", "audit_verify", n.handleAuditVerify)
	n.uiRoutes(mux, handle)
	mux.Handle("GET /metrics", hosts.guard(n.metrics.handler(), true))
	mux.Handle("GET /healthz", hosts.guard(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !n.ready.Load() {
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

func (n *Node) auth(h http.HandlerFunc) http.HandlerFunc {
	want := []byte("Bearer " + n.home.Token)
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
func (n *Node) writeErr(w http.ResponseWriter, op string, err error) {
	var (
		ie *ingest.Error
		re *store.RecordError
		fe *contracts.FieldError
	)
	switch {
	case errors.As(err, &ie), errors.As(err, &re), errors.As(err, &fe), errors.Is(err, errInput):
		writeError(w, http.StatusUnprocessableEntity, "input", err.Error())
	case errors.As(err, new(*roundFailure)):
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
		n.log.Error(op, "err", err)
		writeError(w, http.StatusInternalServerError, "internal", op+": "+err.Error())
	}
}

// errInput marks errors in what the user sent.
var errInput = errors.New("input")

type inputError struct{ msg string }

func (e inputError) Error() string        { return e.msg }
func (e inputError) Is(target error) bool { return target == errInput }

func (n *Node) handleStatus(w http.ResponseWriter, r *http.Request) {
	st := client.Status{
		Org:     n.cfg.Org,
		Name:    n.cfg.Name,
		Kind:    n.cfg.Kind,
		PeerID:  n.home.PeerID.String(),
		Ready:   n.ready.Load(),
		Version: Version,
		API:     n.apiAddr,
		Started: n.started.UTC(),
	}
	for _, a := range n.cons.host.Addrs() {
		st.Listen = append(st.Listen, a.String())
	}
	st.Raft.State, st.Raft.Leader = n.cons.raft.state()
	st.Raft.LastIndex, st.Raft.AppliedIndex, st.Raft.SnapshotIndex = n.cons.raft.indexes()
	rc := n.cfg.Raft
	st.Raft.Timings = &client.RaftTimings{Heartbeat: rc.Heartbeat.String(), Election: rc.Election.String(),
		LeaderLease: rc.LeaderLease.String(), DeadVoterAfter: rc.DeadVoterAfter.String(),
		SnapshotThreshold: rc.SnapshotThreshold, TrailingLogs: rc.TrailingLogs, SnapshotInterval: rc.SnapshotInterval.String()}
	st.Keys = n.cons.keys.Info()
	n.cons.fsm.Read(func(s *contracts.State) {
		if c, ok := s.Consortium(); ok {
			st.Consortium, st.ConsortiumID = c.Name, c.ID
		}
		st.Members = s.Admitted()
	})
	writeJSON(w, http.StatusOK, st)
}

func (n *Node) handleDataStats(w http.ResponseWriter, r *http.Request) {
	st, err := n.db.Stats(r.Context())
	if err != nil {
		n.writeErr(w, "data stats", err)
		return
	}
	out := client.DataStats{Records: st.Records, Imports: st.Batches, Measures: map[string]*client.MeasureStats{}}
	for m, s := range st.Measures {
		out.Measures[m] = &client.MeasureStats{Records: s.Records, From: s.From, To: s.To, Subjects: s.Subjects, Dims: s.Dims}
	}
	writeJSON(w, http.StatusOK, out)
}

func (n *Node) handlePreview(w http.ResponseWriter, r *http.Request) {
	var req client.PreviewRequest
	if err := json.NewDecoder(io.LimitReader(r.Body, 4<<20)).Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, "input", "preview request: "+err.Error())
		return
	}
	var c *contracts.Contract
	var err error
	if req.YAML == "" {
		rec, ok := n.contract(w, req.ID)
		if !ok {
			return
		}
		c, err = rec.Contract()
	} else {
		c, err = contracts.Parse([]byte(req.YAML), orDefault(req.File, "contract.yaml"))
	}
	if err != nil {
		n.writeErr(w, "preview", err)
		return
	}
	p, err := n.preview(r.Context(), c)
	if err != nil {
		n.writeErr(w, "preview", err)
		return
	}
	writeJSON(w, http.StatusOK, p)
}

// preview computes a contract's cells over this node's own data. Nothing
// leaves the node.
func (n *Node) preview(ctx context.Context, c *contracts.Contract) (*client.Preview, error) {
	start := time.Now()
	comps, scanned, err := localComponents(ctx, n.db, c)
	if err != nil {
		return nil, err
	}
	cells, err := c.Release(comps)
	if err != nil {
		return nil, err
	}
	n.metrics.previews.Inc()
	out := &client.Preview{
		Contract: string(c.ID), Version: c.Version, Hash: c.Hash(),
		Aggregate: string(c.Aggregate), Measure: c.Measure,
		Scanned: scanned, Seconds: time.Since(start).Seconds(),
		Cells: make([]client.Cell, len(cells)),
	}
	for i, cell := range cells {
		cnt := cell.Count
		out.Cells[i] = client.Cell{Group: cell.Group, Count: &cnt, Value: cell.Value}
	}
	return out, nil
}

// localComponents computes a contract's components over this node's own
// records, and how many records it scanned.
func localComponents(ctx context.Context, db *store.DB, c *contracts.Contract) ([]int64, int64, error) {
	acc := c.NewAccumulator()
	var scanned int64
	days := store.AllDays
	if c.Window != nil {
		days = [2]int32{c.Window.FromDay, c.Window.ToDay}
	}
	err := db.Scan(ctx, c.Measure, days, func(o *kpi.Observation) error {
		scanned++
		acc.Add(o)
		return nil
	})
	if err != nil {
		return nil, 0, err
	}
	comps, err := acc.Components()
	return comps, scanned, err
}

func (n *Node) handleImport(w http.ResponseWriter, r *http.Request) {
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
	sum, err := n.db.Import(r.Context(), src, opt)
	if err != nil {
		n.metrics.imports.WithLabelValues("refused").Inc()
		select {
		case n.gcNow <- struct{}{}:
		default:
		}
		// The message goes back to the user; the log says where, not what:
		// a refused value is still a patient's observation.
		n.log.Warn("import refused; store unchanged", "files", opt.Source, "where", errWhere(err))
		n.writeErr(w, "import", err)
		return
	}
	outcome := "committed"
	if opt.DryRun {
		outcome = "dry_run"
	} else {
		n.metrics.importedRecords.Add(float64(sum.Records))
	}
	n.metrics.imports.WithLabelValues(outcome).Inc()
	n.log.Info("import", "outcome", outcome, "files", opt.Source, "records", sum.Records, "replaced", sum.Replaced, "batch", sum.Batch, "elapsed", sum.Elapsed)
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

func (n *Node) handleAudit(w http.ResponseWriter, r *http.Request) {
	// Everything the consortium committed before the request is in this
	// node's audit log before it is read.
	n.cons.raft.freshen(r.Context())
	out := client.AuditLog{Entries: []client.AuditEntry{}}
	err := n.db.Audit(func(e store.AuditEntry) error {
		out.Entries = append(out.Entries, client.AuditEntry(e))
		return nil
	})
	if err != nil {
		n.writeErr(w, "audit", err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

func (n *Node) handleAuditVerify(w http.ResponseWriter, r *http.Request) {
	entries, err := n.db.VerifyAudit()
	var te *store.TamperError
	switch {
	case errors.As(err, &te):
		writeJSON(w, http.StatusOK, client.AuditVerification{OK: false, Entries: entries, Problem: te.Error()})
	case err != nil:
		n.writeErr(w, "audit verify", err)
	default:
		writeJSON(w, http.StatusOK, client.AuditVerification{OK: true, Entries: entries, Head: n.db.AuditHead()})
	}
}

// errWhere says where an import failed without quoting any value: the
// position and field of an input error, or the error's class.
func errWhere(err error) string {
	var (
		ie *ingest.Error
		re *store.RecordError
	)
	switch {
	case errors.As(err, &ie):
		return ie.Pos.String() + " field " + ie.Field
	case errors.As(err, &re):
		return re.Pos.String() + " field " + re.Field
	case errors.Is(err, context.Canceled):
		return "cancelled"
	}
	return fmt.Sprintf("%T", errors.Unwrap(err))
}

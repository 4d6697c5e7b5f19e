package ui

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"math/big"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/cxnet/cxnet/kpi"
	"github.com/cxnet/cxnet/node/client"
)

// pageNames are the templates under templates/, each rendered inside
// layout.html.
var pageNames = []string{"overview", "contracts", "results", "rounds", "audit", "message"}

func parsePages() (map[string]*template.Template, error) {
	funcs := template.FuncMap{
		"join":  strings.Join,
		"short": short,
		"when":  when,
		"add":   func(a, b int) int { return a + b },
	}
	pages := map[string]*template.Template{}
	for _, name := range pageNames {
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(files, "templates/layout.html", "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("ui: template %s: %w", name, err)
		}
		pages[name] = t
	}
	return pages, nil
}

// short abbreviates a digest or peer id for a table: its first 16
// characters.
func short(s string) string {
	if len(s) <= 19 {
		return s
	}
	return s[:16] + "…"
}

// when renders an RFC 3339 time as "2026-11-22 09:24:56 UTC".
func when(s string) string {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return s
	}
	return t.UTC().Format("2006-01-02 15:04:05 UTC")
}

// stampKey keys the request's Source.Changes, read before the page's
// data: a change while the page reads makes it refresh, never hides.
type stampKey struct{}

// page is what layout.html renders: the header and the page's own data.
type page struct {
	Title string
	Nav   string // overview | contracts | rounds | audit: the current tab
	Org   string
	Name  string
	Stamp string // Source.Changes before the data was read: the page refreshes when it moves
	Data  any
}

// render writes a page; the data was read before the first byte.
func (s *Server) render(w http.ResponseWriter, r *http.Request, code int, name string, p page) {
	if p.Org == "" && name != "message" {
		if st, err := s.src.Status(r.Context()); err == nil {
			p.Org, p.Name = st.Org, st.Name
		}
	}
	if name != "message" {
		p.Stamp, _ = r.Context().Value(stampKey{}).(string)
	}
	var buf bytes.Buffer
	if err := s.pages[name].Execute(&buf, p); err != nil {
		s.log.Error("dashboard: render", "page", name, "err", err)
		http.Error(w, "dashboard: render "+name+": "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(code)
	w.Write(buf.Bytes())
}

type message struct{ Text string }

func (s *Server) errorPage(w http.ResponseWriter, r *http.Request, code int, title, text string) {
	s.render(w, r, code, "message", page{Title: title, Data: message{Text: text}})
}

// sourceError answers a request whose data the node could not give.
func (s *Server) sourceError(w http.ResponseWriter, r *http.Request, what string, err error) {
	code := http.StatusBadGateway
	var ae *client.Error
	if errors.As(err, &ae) && ae.Status == http.StatusNotFound {
		code = http.StatusNotFound
	}
	if !errors.As(err, &ae) && !errors.Is(err, context.Canceled) {
		s.log.Warn("dashboard: read "+what, "err", err)
	}
	s.errorPage(w, r, code, "Could not read "+what, fmt.Sprintf("The node could not give %s: %v", what, err))
}

// status is *client.Error's status, 0 for other errors.
func status(err error) int {
	var ae *client.Error
	if errors.As(err, &ae) {
		return ae.Status
	}
	return 0
}

type kindGroup struct {
	Kind    string
	Members []client.Member
}

type release struct {
	Contract, Title, Round, ReleasedAt string
	Inputs                             []string
}

type overview struct {
	Status   *client.Status
	Min      int // the consortium's floor
	Kinds    []kindGroup
	Waiting  []client.ContractInfo
	Releases []release
}

func (s *Server) handleOverview(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	st, err := s.src.Status(ctx)
	if err != nil {
		s.sourceError(w, r, "the node's status", err)
		return
	}
	members, err := s.src.Members(ctx)
	if err != nil {
		s.sourceError(w, r, "the members", err)
		return
	}
	cs, err := s.src.Contracts(ctx)
	if err != nil {
		s.sourceError(w, r, "the contracts", err)
		return
	}
	ov := overview{Status: st}
	for _, m := range members.Members {
		i := slices.IndexFunc(ov.Kinds, func(k kindGroup) bool { return k.Kind == m.Kind })
		if i < 0 {
			ov.Kinds = append(ov.Kinds, kindGroup{Kind: m.Kind})
			i = len(ov.Kinds) - 1
		}
		ov.Kinds[i].Members = append(ov.Kinds[i].Members, m)
	}
	slices.SortFunc(ov.Kinds, func(a, b kindGroup) int { return cmp.Compare(a.Kind, b.Kind) })
	for _, c := range cs.Contracts {
		if c.State == "proposed" && slices.Contains(c.Participants, st.Org) && !slices.Contains(c.Approvals, st.Org) {
			ov.Waiting = append(ov.Waiting, c)
		}
		rounds, err := s.src.Rounds(ctx, c.ID)
		if err != nil {
			s.sourceError(w, r, "the rounds of "+c.ID, err)
			return
		}
		for _, rd := range slices.Backward(rounds.Rounds) {
			if rd.State == "released" {
				ov.Releases = append(ov.Releases, release{Contract: c.ID, Title: c.Title, Round: string(rd.Round), ReleasedAt: rd.EndedAt, Inputs: rd.Inputs})
				break
			}
		}
	}
	slices.SortFunc(ov.Releases, func(a, b release) int { return cmp.Compare(b.ReleasedAt, a.ReleasedAt) })
	s.render(w, r, http.StatusOK, "overview", page{Title: "Overview", Nav: "overview", Org: st.Org, Name: st.Name, Data: ov})
}

// canonical is what the pages read of a contract's canonical form
// (`contract show --json`'s "contract").
type canonical struct {
	Readers         []string            `json:"readers"`
	Period          string              `json:"period"`
	MinParticipants int                 `json:"min_participants"`
	GroupBy         map[string][]string `json:"group_by"`
	Window          *struct {
		From string `json:"from"`
		To   string `json:"to"`
	} `json:"window"`
	Privacy struct {
		MinCohort int         `json:"min_cohort"`
		Epsilon   json.Number `json:"epsilon"`
		Budget    json.Number `json:"budget"`
	} `json:"privacy"`
}

// contractRow is a contract as the contracts page lists it.
type contractRow struct {
	client.ContractInfo
	Spec      canonical
	Spent     string // ε spent; "" for an exact contract
	Left      string // ε left of the budget
	Exact     bool
	Releases  int
	SpecError string
}

func (s *Server) contractRow(ctx context.Context, id string) (*contractRow, error) {
	info, err := s.src.Contract(ctx, id)
	if err != nil {
		return nil, err
	}
	row := &contractRow{ContractInfo: *info}
	b, _ := json.Marshal(info.Contract)
	if err := json.Unmarshal(b, &row.Spec); err != nil {
		row.SpecError = err.Error()
	}
	eps, ok := new(big.Rat).SetString(orDefault(row.Spec.Privacy.Epsilon.String(), "0"))
	row.Exact = !ok || eps.Sign() == 0
	if !row.Exact {
		spent, err := s.src.EpsilonSpent(ctx, id)
		if err != nil {
			return nil, err
		}
		row.Spent = spent
		sp, ok1 := new(big.Rat).SetString(spent)
		budget, ok2 := new(big.Rat).SetString(row.Spec.Privacy.Budget.String())
		if ok1 && ok2 {
			row.Left = decimal(new(big.Rat).Sub(budget, sp))
		}
	}
	return row, nil
}

// decimal renders a rational with up to 6 decimals, trailing zeros cut.
func decimal(r *big.Rat) string {
	s := r.FloatString(6)
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	return s
}

func (s *Server) handleContracts(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	cs, err := s.src.Contracts(ctx)
	if err != nil {
		s.sourceError(w, r, "the contracts", err)
		return
	}
	rows := make([]*contractRow, 0, len(cs.Contracts))
	for _, c := range cs.Contracts {
		row, err := s.contractRow(ctx, c.ID)
		if err != nil {
			s.sourceError(w, r, "contract "+c.ID, err)
			return
		}
		rounds, err := s.src.Rounds(ctx, c.ID)
		if err != nil {
			s.sourceError(w, r, "the rounds of "+c.ID, err)
			return
		}
		for _, rd := range rounds.Rounds {
			if rd.State == "released" {
				row.Releases++
			}
		}
		rows = append(rows, row)
	}
	s.render(w, r, http.StatusOK, "contracts", page{Title: "Contracts", Nav: "contracts", Data: rows})
}

// maxRoundsCharted is how many of the latest released rounds the chart
// over rounds shows.
const maxRoundsCharted = 12

type resultsPage struct {
	Contract  *contractRow
	Org       string
	Results   *client.Results
	Forbidden string // why this organisation may not read the results
	None      string // why there is nothing to show yet
	Dims      []string
	Rows      []cellRow
	Cells     *chart
	Periods   *chart
	Rounds    *roundsTable
	Released  []client.Round // newest first, for the round picker
	Query     string         // "?round=R" when a round was asked for
}

func (s *Server) handleResults(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	id := r.PathValue("id")
	row, err := s.contractRow(ctx, id)
	if err != nil {
		s.sourceError(w, r, "contract "+id, err)
		return
	}
	st, err := s.src.Status(ctx)
	if err != nil {
		s.sourceError(w, r, "the node's status", err)
		return
	}
	rounds, err := s.src.Rounds(ctx, id)
	if err != nil {
		s.sourceError(w, r, "the rounds of "+id, err)
		return
	}
	p := resultsPage{Contract: row, Org: st.Org}
	for _, rd := range slices.Backward(rounds.Rounds) {
		if rd.State == "released" {
			p.Released = append(p.Released, rd)
		}
	}
	want := kpi.RoundID(r.URL.Query().Get("round"))
	if want != "" {
		p.Query = "?round=" + string(want)
	}
	res, err := s.src.Results(ctx, id, want)
	switch {
	case status(err) == http.StatusForbidden:
		p.Forbidden = fmt.Sprintf("The results of %s are released to its readers only (%s), sealed to their keys: no other node can read them. Read them on a reader's node.",
			id, strings.Join(row.Spec.Readers, ", "))
	case status(err) == http.StatusNotFound:
		var ae *client.Error
		errors.As(err, &ae)
		p.None = ae.Msg
	case err != nil:
		s.sourceError(w, r, "the results of "+id, err)
		return
	case len(res.SealedTo) > 0:
		p.Forbidden = fmt.Sprintf("This result was released to its readers only (%s): read it on their nodes.", strings.Join(res.SealedTo, ", "))
	default:
		p.Results = res
		p.Dims = dimsOf(res.Cells)
		p.Rows = cellRows(res, p.Dims)
		p.Cells = cellsChart(res, p.Rows, st.Org)
		p.Periods = periodsChart(res, p.Dims, st.Org)
		if want == "" {
			var history []*client.Results
			for i, rd := range p.Released {
				if i == maxRoundsCharted {
					break
				}
				h, err := s.src.Results(ctx, id, rd.Round)
				if err != nil {
					s.sourceError(w, r, "round "+string(rd.Round), err)
					return
				}
				history = append(history, h)
			}
			slices.Reverse(history)
			p.Rounds = overRounds(history, p.Dims)
		}
	}
	s.render(w, r, http.StatusOK, "results", page{Title: id, Nav: "contracts", Org: st.Org, Name: st.Name, Data: p})
}

// handleDownload answers results.csv and results.json: what `cxnet
// results --csv` and `--json` print.
func (s *Server) handleDownload(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	round := kpi.RoundID(r.URL.Query().Get("round"))
	res, err := s.src.Results(r.Context(), id, round)
	if err != nil {
		code := cmp.Or(status(err), http.StatusBadGateway)
		http.Error(w, fmt.Sprintf("results of %s: %v", id, err), code)
		return
	}
	name := strings.NewReplacer("/", "-", "\"", "").Replace(cmp.Or(string(res.Round), id))
	var buf bytes.Buffer
	if strings.HasSuffix(r.URL.Path, ".csv") {
		err = client.WriteResultsCSV(&buf, res)
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		name += ".csv"
	} else {
		err = client.WriteResultsJSON(&buf, res)
		w.Header().Set("Content-Type", "application/json")
		name += ".json"
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Disposition", `attachment; filename="`+name+`"`)
	w.Write(buf.Bytes())
}

type contractRounds struct {
	Contract client.ContractInfo
	Rounds   []client.Round // newest first
	Failed   int
}

func (s *Server) handleRounds(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	cs, err := s.src.Contracts(ctx)
	if err != nil {
		s.sourceError(w, r, "the contracts", err)
		return
	}
	var out []contractRounds
	for _, c := range cs.Contracts {
		rounds, err := s.src.Rounds(ctx, c.ID)
		if err != nil {
			s.sourceError(w, r, "the rounds of "+c.ID, err)
			return
		}
		cr := contractRounds{Contract: c, Rounds: slices.Clone(rounds.Rounds)}
		slices.Reverse(cr.Rounds)
		for _, rd := range cr.Rounds {
			if rd.State == "failed" {
				cr.Failed++
			}
		}
		out = append(out, cr)
	}
	s.render(w, r, http.StatusOK, "rounds", page{Title: "Rounds", Nav: "rounds", Data: out})
}

// maxAuditShown is how many of the newest audit entries the page lists;
// `cxnet audit` prints them all.
const maxAuditShown = 500

type auditPage struct {
	Verify  *client.AuditVerification
	Entries []client.AuditEntry // newest first
	Total   int
}

func (s *Server) handleAudit(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	v, err := s.src.AuditVerify(ctx)
	if err != nil {
		s.sourceError(w, r, "the audit verification", err)
		return
	}
	log, err := s.src.Audit(ctx)
	if err != nil {
		s.sourceError(w, r, "the audit log", err)
		return
	}
	p := auditPage{Verify: v, Total: len(log.Entries)}
	for i := len(log.Entries) - 1; i >= 0 && len(p.Entries) < maxAuditShown; i-- {
		p.Entries = append(p.Entries, log.Entries[i])
	}
	s.render(w, r, http.StatusOK, "audit", page{Title: "Audit log", Nav: "audit", Data: p})
}

// handleEvents is a server-sent event stream: an event "change", with
// Source.Changes as its data, on connecting and whenever it changes. The
// page compares it with the one it was rendered at and refreshes.
func (s *Server) handleEvents(w http.ResponseWriter, r *http.Request) {
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	ctx := r.Context()
	last := ""
	tick := time.NewTicker(s.cfg.Poll)
	defer tick.Stop()
	idle := 0
	for {
		stamp, err := s.src.Changes(ctx)
		if err == nil && stamp != last {
			last, idle = stamp, 0
			fmt.Fprintf(w, "event: change\ndata: %s\n\n", stamp)
			if rc.Flush() != nil {
				return
			}
		} else if idle++; idle*int(s.cfg.Poll/time.Millisecond) >= 15000 {
			idle = 0
			fmt.Fprint(w, ": keep-alive\n\n") // proxies and tunnels drop silent streams
			if rc.Flush() != nil {
				return
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if !s.sessions.valid(r) {
			return // signed out: the page stops listening
		}
	}
}

package api

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"

	"github.com/cxnet/cxnet/contracts"
	"github.com/cxnet/cxnet/kpi"
	"github.com/cxnet/cxnet/node/client"
)

func (a *API) handleRunRound(w http.ResponseWriter, r *http.Request) {
	var req client.RoundRequest
	if !decodeBody(w, r, &req) {
		return
	}
	if !a.synced(w, r, "round run") {
		return
	}
	round, steps, err := a.b.RunRound(r.Context(), kpi.ContractID(req.Contract))
	if err != nil {
		a.writeErr(w, "round run", err)
		return
	}
	trace := []client.TraceStep{} // non-nil: this node ran the round
	if req.Trace && steps != nil {
		trace = steps
	}
	a.writeResults(w, r, req.Contract, round, trace)
}

func (a *API) handleResults(w http.ResponseWriter, r *http.Request) {
	if !a.synced(w, r, "results") {
		return
	}
	a.writeResults(w, r, r.PathValue("id"), r.URL.Query().Get("round"), nil)
}

// writeResults answers with a contract's released result — round "" is
// the latest — and this node's own value beside each cell, when this
// organisation may read it. The node that ran the round (ran, with the
// round's trace) but may not read it gets the round without its cells.
func (a *API) writeResults(w http.ResponseWriter, r *http.Request, id, roundID string, ran []client.TraceStep) {
	rec, ok := a.contract(w, id)
	if !ok {
		return
	}
	var round contracts.Round
	found := false
	a.cfg.State(func(s *contracts.State) {
		if roundID != "" {
			round, found = s.Round(kpi.RoundID(roundID))
			found = found && round.Contract == rec.ID && round.State == contracts.RoundReleased
			return
		}
		for _, rd := range s.Rounds(rec.ID) {
			if rd.State == contracts.RoundReleased {
				round, found = rd, true
			}
		}
	})
	if !found {
		what := "no released round"
		if roundID != "" {
			what = fmt.Sprintf("no released round %q", roundID)
		}
		writeError(w, http.StatusNotFound, "not_found", fmt.Sprintf("%s of %s yet: run one with `cxnet round run %s`", what, id, id))
		return
	}
	version := rec.ContractVersion
	for _, h := range rec.History {
		if h.Version == round.Version {
			version = h
		}
	}
	c, err := version.Contract()
	if err != nil {
		a.writeErr(w, "results", err)
		return
	}
	if len(c.Readers) > 0 && !slices.Contains(c.Readers, kpi.OrgID(a.cfg.Org)) && ran != nil {
		writeJSON(w, http.StatusOK, client.Results{Contract: id, Version: round.Version, Round: round.ID, ReleasedAt: round.Release.Released,
			Participants: orgStrings(round.Release.Inputs), Decryptors: orgStrings(round.Release.Decryptors),
			Aggregate: string(c.Aggregate), SealedTo: orgStrings(c.Readers), Privacy: client.Privacy{MinCohort: c.Privacy.MinCohort}, Trace: ran})
		return
	}
	if len(c.Readers) > 0 && !slices.Contains(c.Readers, kpi.OrgID(a.cfg.Org)) {
		writeError(w, http.StatusForbidden, "forbidden", fmt.Sprintf("%s may not read results of %s: its readers are %v", a.cfg.Org, id, c.Readers))
		return
	}
	out := client.Results{Contract: id, Version: round.Version, Round: round.ID, ReleasedAt: round.Release.Released,
		Participants: orgStrings(round.Release.Inputs), Decryptors: orgStrings(round.Release.Decryptors),
		Aggregate: string(c.Aggregate), Privacy: client.Privacy{MinCohort: c.Privacy.MinCohort, Suppressed: round.Release.Suppressed}}
	if round.Epsilon != "" {
		if eps, err := kpi.ParseDecimal(round.Epsilon); err == nil {
			out.Privacy.Epsilon = eps.Float()
		}
	}
	if err := a.releasedCells(round, &out.Cells); err != nil {
		a.writeErr(w, "results", fmt.Errorf("round %s: released cells: %w", round.ID, err))
		return
	}
	if len(ran) > 0 {
		out.Trace = ran
	}
	out.Privacy.Suppressed = 0
	for _, cell := range out.Cells {
		if cell.Suppressed {
			out.Privacy.Suppressed++
		}
	}
	local, err := a.preview(r.Context(), c)
	if err != nil {
		a.writeErr(w, "results", err)
		return
	}
	for i := range out.Cells {
		if i < len(local.Cells) {
			lc := local.Cells[i]
			out.Cells[i].Local = &kpi.LocalValue{Count: *lc.Count, Value: lc.Value}
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// releasedCells decodes a round's released cells into cells: from the log,
// or, for a contract with readers, opened with this reader's key (no node
// but the readers' can).
func (a *API) releasedCells(round contracts.Round, cells any) error {
	if round.Release.Sealed == nil {
		return json.Unmarshal(round.Release.Cells, cells)
	}
	rk, err := a.b.ReaderKey()
	if err != nil {
		return err
	}
	var released []kpi.Cell
	a.cfg.State(func(s *contracts.State) {
		released, err = s.ReaderRelease(round.ID, kpi.OrgID(a.cfg.Org), rk.Open)
	})
	if err != nil {
		return err
	}
	b, _ := json.Marshal(released)
	return json.Unmarshal(b, cells)
}

func (a *API) handleRounds(w http.ResponseWriter, r *http.Request) {
	if !a.synced(w, r, "round list") {
		return
	}
	rec, ok := a.contract(w, r.PathValue("id"))
	if !ok {
		return
	}
	out := client.Rounds{Rounds: []client.Round{}}
	a.cfg.State(func(s *contracts.State) {
		for _, rd := range s.Rounds(rec.ID) {
			out.Rounds = append(out.Rounds, roundInfo(rd))
		}
	})
	writeJSON(w, http.StatusOK, out)
}

// roundInfo is a round as `round list` shows it.
func roundInfo(r contracts.Round) client.Round {
	out := client.Round{Round: r.ID, Version: r.Version, State: string(r.State), Reason: r.Reason, Blame: orgStrings(r.Blame),
		ReportedBy: string(r.ReportedBy), Aggregator: string(r.Aggregator), OpenedAt: r.Opened, EndedAt: r.Ended,
		Inputs: orgStrings(slices.Sorted(maps.Keys(r.Inputs))), Decryptors: []string{}}
	if r.Sealed != nil {
		out.Inputs = orgStrings(r.Sealed)
	}
	if r.Release != nil {
		out.Decryptors = orgStrings(r.Release.Decryptors)
	}
	if out.Inputs == nil {
		out.Inputs = []string{}
	}
	return out
}

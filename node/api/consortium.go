package api

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/cxnet/cxnet/contracts"
	"github.com/cxnet/cxnet/kpi"
	"github.com/cxnet/cxnet/node/client"
	"github.com/cxnet/cxnet/protocol"
)

func (a *API) consortiumRoutes(handle func(pattern, route string, h http.HandlerFunc)) {
	handle("GET /v1/identity", "identity", a.handleIdentity)
	handle("POST /v1/consortium/create", "consortium_create", a.handleCreate)
	handle("POST /v1/consortium/admit", "consortium_admit", a.handleAdmit)
	handle("POST /v1/consortium/approve", "consortium_approve", a.handleApproveMember)
	handle("POST /v1/consortium/join", "consortium_join", a.handleJoin)
	handle("GET /v1/members", "members", a.handleMembers)
	handle("POST /v1/contracts/propose", "contract_propose", a.handlePropose)
	handle("POST /v1/contracts/{action}", "contract_action", a.handleContractAction)
	handle("GET /v1/contracts", "contract_list", a.handleContracts)
	handle("GET /v1/contracts/{id}", "contract_show", a.handleContract)
	handle("GET /v1/contracts/{id}/rounds", "round_list", a.handleRounds)
	handle("POST /v1/rounds", "round_run", a.handleRunRound)
	handle("GET /v1/results/{id}", "results", a.handleResults)
}

func decodeBody(w http.ResponseWriter, r *http.Request, v any) bool {
	if err := json.NewDecoder(io.LimitReader(r.Body, 4<<20)).Decode(v); err != nil {
		writeError(w, http.StatusBadRequest, "input", "request body: "+err.Error())
		return false
	}
	return true
}

func (a *API) handleIdentity(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, a.b.Identity())
}

func (a *API) consortiumInfo() (client.Consortium, bool) {
	var out client.Consortium
	var ok bool
	a.cfg.State(func(s *contracts.State) {
		var c contracts.Consortium
		if c, ok = s.Consortium(); ok {
			out = client.Consortium{ID: c.ID, Name: c.Name, MinCohort: c.MinCohort, Founder: string(c.Founder), Created: c.Created}
		}
	})
	return out, ok
}

func (a *API) handleCreate(w http.ResponseWriter, r *http.Request) {
	var req client.CreateRequest
	if !decodeBody(w, r, &req) {
		return
	}
	if strings.TrimSpace(req.Name) == "" {
		writeError(w, http.StatusUnprocessableEntity, "input", "consortium create: --name is required")
		return
	}
	var pskHex string
	if req.PSK {
		psk, err := protocol.GeneratePSK()
		if err == nil {
			err = a.b.UsePSK(psk)
		}
		if err != nil {
			a.writeErr(w, "consortium create", err)
			return
		}
		pskHex = protocol.EncodePSK(psk)
	}
	if err := a.b.Create(r.Context(), req.Name, req.MinCohort); err != nil {
		a.writeErr(w, "consortium create", err)
		return
	}
	info, _ := a.consortiumInfo()
	info.PSK = pskHex
	writeJSON(w, http.StatusOK, info)
}

func (a *API) handleJoin(w http.ResponseWriter, r *http.Request) {
	var req client.JoinRequest
	if !decodeBody(w, r, &req) {
		return
	}
	if req.PSK != "" {
		psk, err := protocol.ParsePSK(req.PSK)
		if err != nil {
			writeError(w, http.StatusUnprocessableEntity, "input", "--psk: "+err.Error())
			return
		}
		if err := a.b.UsePSK(psk); err != nil {
			a.writeErr(w, "consortium join", err)
			return
		}
	}
	if err := a.b.Join(r.Context(), req.Via); err != nil {
		a.writeErr(w, "consortium join", err)
		return
	}
	info, _ := a.consortiumInfo()
	writeJSON(w, http.StatusOK, info)
}

// governance signs a body with this node's governance key and submits it.
func (a *API) governance(w http.ResponseWriter, r *http.Request, op string, t contracts.EntryType, body any) (contracts.Event, bool) {
	entry, err := a.b.Sign(t, body)
	if err != nil {
		a.writeErr(w, op, err)
		return contracts.Event{}, false
	}
	return a.submit(w, r, op, entry)
}

func (a *API) submit(w http.ResponseWriter, r *http.Request, op string, entry []byte) (contracts.Event, bool) {
	ev, err := a.b.Submit(r.Context(), entry)
	if err != nil {
		a.writeErr(w, op, err)
		return ev, false
	}
	return ev, true
}

func result(ev contracts.Event) client.GovernanceResult {
	return client.GovernanceResult{Event: ev.Type, Object: ev.Object, Index: ev.Index, Outcome: string(ev.Outcome), Detail: ev.Detail}
}

func (a *API) handleAdmit(w http.ResponseWriter, r *http.Request) {
	var m kpi.Member
	if !decodeBody(w, r, &m) {
		return
	}
	if err := m.Verify(); err != nil {
		writeError(w, http.StatusUnprocessableEntity, "input", "descriptor: "+err.Error())
		return
	}
	if ev, ok := a.governance(w, r, "consortium admit", contracts.EntryAdmitPropose, contracts.AdmitPropose{Member: m}); ok {
		writeJSON(w, http.StatusOK, result(ev))
	}
}

func (a *API) handleApproveMember(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Org string `json:"org"`
	}
	if !decodeBody(w, r, &req) {
		return
	}
	if !a.synced(w, r, "consortium approve") {
		return
	}
	var hash string
	var found bool
	a.cfg.State(func(s *contracts.State) {
		var m contracts.Membership
		if m, found = s.Member(kpi.OrgID(req.Org)); found {
			hash = m.DescriptorHash
		}
	})
	if !found {
		writeError(w, http.StatusNotFound, "not_found", fmt.Sprintf("no member or pending admission %q: see `cxnet members`", req.Org))
		return
	}
	if ev, ok := a.governance(w, r, "consortium approve", contracts.EntryAdmitApprove, contracts.AdmitApprove{Org: kpi.OrgID(req.Org), DescriptorHash: hash}); ok {
		writeJSON(w, http.StatusOK, result(ev))
	}
}

func (a *API) handleMembers(w http.ResponseWriter, r *http.Request) {
	a.b.Freshen(r.Context())
	voters, nonvoters := a.b.Servers()
	out := client.Members{Members: []client.Member{}}
	a.cfg.State(func(s *contracts.State) {
		for _, m := range s.Members() {
			cm := client.Member{
				Org: string(m.Member.Org), Name: m.Member.Name, Kind: m.Member.Kind, PeerID: m.Member.PeerID,
				Voter: voters[m.Member.PeerID], State: string(m.State), Addrs: m.Member.Addrs,
				ProposedBy: string(m.ProposedBy), Approvals: orgStrings(m.Approvals), Raft: "none",
			}
			switch {
			case voters[m.Member.PeerID]:
				cm.Raft = "voter"
			case nonvoters[m.Member.PeerID]:
				cm.Raft = "nonvoter"
			}
			out.Members = append(out.Members, cm)
		}
	})
	writeJSON(w, http.StatusOK, out)
}

func orgStrings(orgs []kpi.OrgID) []string {
	out := make([]string, len(orgs))
	for i, o := range orgs {
		out[i] = string(o)
	}
	return out
}

func (a *API) handlePropose(w http.ResponseWriter, r *http.Request) {
	var req client.PreviewRequest
	if !decodeBody(w, r, &req) {
		return
	}
	c, err := contracts.Parse([]byte(req.YAML), orDefault(req.File, "contract.yaml"))
	if err != nil {
		a.writeErr(w, "contract propose", err)
		return
	}
	body := contracts.ContractPropose{Contract: c.Canonical(), Hash: c.Hash()}
	if _, ok := a.governance(w, r, "contract propose", contracts.EntryContractPropose, body); ok {
		a.writeContract(w, string(c.ID), true)
	}
}

func (a *API) handleContractAction(w http.ResponseWriter, r *http.Request) {
	var req client.ContractAction
	if !decodeBody(w, r, &req) {
		return
	}
	action := r.PathValue("action")
	if len(req.Entry) > 0 { // signed by a board member's own key, outside the node
		e, err := contracts.DecodeEntry(req.Entry)
		if err != nil {
			writeError(w, http.StatusUnprocessableEntity, "input", "signed entry: "+err.Error())
			return
		}
		if _, ok := a.submit(w, r, "contract "+action, req.Entry); ok {
			_, approval := e.Value.(*contracts.ContractApprove)
			a.writeContract(w, entryContractID(e), approval)
		}
		return
	}
	if !a.synced(w, r, "contract "+action) {
		return
	}
	rec, ok := a.contract(w, req.ID)
	if !ok {
		return
	}
	id := kpi.ContractID(req.ID)
	var t contracts.EntryType
	var body any
	switch action {
	case "approve":
		t, body = contracts.EntryContractApprove, contracts.ContractApprove{ID: id, Version: rec.Version, Hash: rec.Hash}
	case "reject":
		if strings.TrimSpace(req.Reason) == "" {
			writeError(w, http.StatusUnprocessableEntity, "input", "contract reject: give a --reason the other members will read")
			return
		}
		t, body = contracts.EntryContractReject, contracts.ContractReject{ID: id, Version: rec.Version, Hash: rec.Hash, Reason: req.Reason}
	case "retire":
		t, body = contracts.EntryContractRetire, contracts.ContractRetire{ID: id, Version: rec.Version}
	default:
		writeError(w, http.StatusNotFound, "not_found", fmt.Sprintf("no contract action %q (approve, reject, retire)", action))
		return
	}
	if _, ok := a.governance(w, r, "contract "+action, t, body); ok {
		a.writeContract(w, req.ID, action == "approve")
	}
}

// entryContractID names the contract a signed contract entry is about.
func entryContractID(e *contracts.Entry) string {
	switch v := e.Value.(type) {
	case *contracts.ContractApprove:
		return string(v.ID)
	case *contracts.ContractReject:
		return string(v.ID)
	case *contracts.ContractRetire:
		return string(v.ID)
	}
	return ""
}

func (a *API) contract(w http.ResponseWriter, id string) (contracts.ContractRecord, bool) {
	var rec contracts.ContractRecord
	var ok bool
	a.cfg.State(func(s *contracts.State) { rec, ok = s.Contract(kpi.ContractID(id)) })
	if !ok {
		writeError(w, http.StatusNotFound, "not_found", fmt.Sprintf("no contract %q in this consortium: see `cxnet contract list`", id))
	}
	return rec, ok
}

// writeContract writes a contract's full description; with warn (the
// reply to a proposal or an approval), the board's warnings about other
// contracts its releases could be differenced with.
func (a *API) writeContract(w http.ResponseWriter, id string, warn bool) {
	rec, ok := a.contract(w, id)
	if !ok {
		return
	}
	var rounds []contracts.Round
	var warnings []string
	a.cfg.State(func(s *contracts.State) {
		rounds = s.Rounds(rec.ID)
		if c, err := rec.Contract(); warn && err == nil {
			warnings = s.OverlapWarnings(c)
		}
	})
	info := contractInfo(rec, true, rounds, a.cfg.Now())
	info.Warnings = warnings
	writeJSON(w, http.StatusOK, info)
}

// contractInfo describes a contract's current version (with its history
// when full) and, for a scheduled contract, its schedule and, once
// active, its next round (a first round is due now).
func contractInfo(rec contracts.ContractRecord, full bool, rounds []contracts.Round, now time.Time) client.ContractInfo {
	info, c := versionInfo(string(rec.ID), rec.ContractVersion, full)
	if full {
		for _, h := range rec.History {
			old, _ := versionInfo(string(rec.ID), h, false)
			info.History = append(info.History, old)
		}
	}
	if c != nil && c.Schedule > 0 {
		info.Schedule = contracts.FormatSchedule(c.Schedule)
		if due, by, ok := c.NextRound(rounds, now); ok && rec.State == contracts.ContractActive {
			info.NextRound = &client.NextRound{Due: due.UTC().Format(time.RFC3339), By: string(by)}
		}
	}
	return info
}

// versionInfo describes one version of a contract, and returns it parsed
// (nil when it does not parse).
func versionInfo(id string, v contracts.ContractVersion, full bool) (client.ContractInfo, *contracts.Contract) {
	info := client.ContractInfo{
		ID: id, Version: v.Version, State: string(v.State), Hash: v.Hash,
		Participants: orgStrings(v.Participants), Needed: v.Needed, Approvals: orgStrings(v.Approvals),
		ProposedBy: string(v.ProposedBy),
	}
	if len(v.Rejections) > 0 {
		info.Rejections = map[string]string{}
		for o, why := range v.Rejections {
			info.Rejections[string(o)] = why
		}
	}
	c, err := v.Contract()
	if err == nil {
		info.Title, info.Measure, info.Aggregate = c.Title, c.Measure, string(c.Aggregate)
	}
	if full {
		info.Contract = json.RawMessage(v.Canonical)
	}
	return info, c
}

func (a *API) handleContracts(w http.ResponseWriter, r *http.Request) {
	a.b.Freshen(r.Context())
	out := client.Contracts{Contracts: []client.ContractInfo{}}
	a.cfg.State(func(s *contracts.State) {
		now := a.cfg.Now()
		for _, rec := range s.Contracts() {
			out.Contracts = append(out.Contracts, contractInfo(rec, false, s.Rounds(rec.ID), now))
		}
	})
	writeJSON(w, http.StatusOK, out)
}

func (a *API) handleContract(w http.ResponseWriter, r *http.Request) {
	a.b.Freshen(r.Context())
	a.writeContract(w, r.PathValue("id"), false)
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// synced brings this node's state up to the leader's before a command
// reads it; on failure it answers the request.
func (a *API) synced(w http.ResponseWriter, r *http.Request, op string) bool {
	if err := a.b.Sync(r.Context()); err != nil {
		a.writeErr(w, op, err)
		return false
	}
	return true
}

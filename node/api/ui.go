package api

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/cxnet/cxnet/contracts"
	"github.com/cxnet/cxnet/kpi"
	"github.com/cxnet/cxnet/node/client"
	"github.com/cxnet/cxnet/node/ui"
)

var _ ui.Source = (*uiSource)(nil)

// uiRoutes serves the dashboard under /ui/ on the API's mux (behind the
// same Host check as every route), and POST /v1/ui/login, with the
// token, for its one-time login links (`cxnet ui`).
func (a *API) uiRoutes(mux *http.ServeMux, handle func(pattern, route string, h http.HandlerFunc)) {
	dash, err := ui.New(ui.Config{Source: &uiSource{a: a, api: mux}, Addr: a.cfg.Addr, Log: a.log.With("component", "ui")})
	if err != nil {
		a.log.Error("dashboard not served", "err", err)
		unavailable := func(w http.ResponseWriter, r *http.Request) {
			writeError(w, http.StatusServiceUnavailable, "unavailable", "the dashboard is not served: "+err.Error())
		}
		handle("POST /v1/ui/login", "ui_login", unavailable)
		mux.HandleFunc("/ui/", unavailable)
		return
	}
	handle("POST /v1/ui/login", "ui_login", func(w http.ResponseWriter, r *http.Request) {
		var req client.UILoginRequest
		if !decodeBody(w, r, &req) {
			return
		}
		link, expires, err := dash.LoginLink(req.Path)
		switch {
		case errors.Is(err, ui.ErrPath):
			writeError(w, http.StatusUnprocessableEntity, "input", err.Error())
		case err != nil:
			writeError(w, http.StatusServiceUnavailable, "unavailable", err.Error())
		default:
			a.log.Info("dashboard login link made", "landing", req.Path, "expires", expires.UTC())
			writeJSON(w, http.StatusOK, client.UILogin{URL: link, Expires: expires.UTC()})
		}
	})
	mux.Handle("/ui/", dash)
}

// uiSource gives the dashboard the local API's own answers: it calls the
// API's handlers in process, with the token, so a page shows exactly what
// the CLI prints (`cxnet results --json` and the rest). The API's metrics
// count these calls under their routes.
type uiSource struct {
	a   *API
	api http.Handler
}

func (s *uiSource) get(ctx context.Context, path string, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+s.a.cfg.Addr+path, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+s.a.cfg.Token)
	rec := &bufferedResponse{header: http.Header{}, code: http.StatusOK}
	s.api.ServeHTTP(rec, req)
	if rec.code >= 300 {
		e := &client.Error{Status: rec.code}
		if json.Unmarshal(rec.body.Bytes(), e) != nil || e.Msg == "" {
			e.Msg = fmt.Sprintf("GET %s: %d %s", path, rec.code, bytes.TrimSpace(rec.body.Bytes()))
		}
		return e
	}
	if err := json.Unmarshal(rec.body.Bytes(), out); err != nil {
		return fmt.Errorf("decode the answer of GET %s: %w", path, err)
	}
	return nil
}

// bufferedResponse is an http.ResponseWriter that keeps the answer.
type bufferedResponse struct {
	header http.Header
	code   int
	wrote  bool
	body   bytes.Buffer
}

func (b *bufferedResponse) Header() http.Header { return b.header }

func (b *bufferedResponse) WriteHeader(code int) {
	if !b.wrote {
		b.code, b.wrote = code, true
	}
}

func (b *bufferedResponse) Write(p []byte) (int, error) {
	b.wrote = true
	return b.body.Write(p)
}

func (s *uiSource) Status(ctx context.Context) (*client.Status, error) {
	var out client.Status
	return &out, s.get(ctx, "/v1/status", &out)
}

func (s *uiSource) Members(ctx context.Context) (*client.Members, error) {
	var out client.Members
	return &out, s.get(ctx, "/v1/members", &out)
}

func (s *uiSource) Contracts(ctx context.Context) (*client.Contracts, error) {
	var out client.Contracts
	return &out, s.get(ctx, "/v1/contracts", &out)
}

func (s *uiSource) Contract(ctx context.Context, id string) (*client.ContractInfo, error) {
	var out client.ContractInfo
	return &out, s.get(ctx, "/v1/contracts/"+url.PathEscape(id), &out)
}

func (s *uiSource) Results(ctx context.Context, id, round string) (*client.Results, error) {
	var out client.Results
	path := "/v1/results/" + url.PathEscape(id)
	if round != "" {
		path += "?round=" + url.QueryEscape(round)
	}
	return &out, s.get(ctx, path, &out)
}

func (s *uiSource) Rounds(ctx context.Context, id string) (*client.Rounds, error) {
	var out client.Rounds
	return &out, s.get(ctx, "/v1/contracts/"+url.PathEscape(id)+"/rounds", &out)
}

func (s *uiSource) Audit(ctx context.Context) (*client.AuditLog, error) {
	var out client.AuditLog
	return &out, s.get(ctx, "/v1/audit", &out)
}

func (s *uiSource) AuditVerify(ctx context.Context) (*client.AuditVerification, error) {
	var out client.AuditVerification
	return &out, s.get(ctx, "/v1/audit/verify", &out)
}

// EpsilonSpent is contracts.State.EpsilonSpent, the figure the round
// rules check the budget with.
func (s *uiSource) EpsilonSpent(ctx context.Context, id string) (string, error) {
	out := "0"
	s.a.cfg.State(func(st *contracts.State) {
		out = st.EpsilonSpent(kpi.ContractID(id)).FloatString(6)
	})
	if strings.Contains(out, ".") {
		out = strings.TrimRight(strings.TrimRight(out, "0"), ".")
	}
	return out, nil
}

// Changes digests what the pages show of the governance state — members
// and their states, contracts with their versions, states and approvals,
// rounds and their states, the key epoch — read from this node's state
// without a trip to the leader, so open pages can ask every few seconds.
func (s *uiSource) Changes(ctx context.Context) (string, error) {
	h := sha256.New()
	s.a.cfg.State(func(st *contracts.State) {
		for _, m := range st.Members() {
			fmt.Fprintf(h, "member %s %s\n", m.Member.Org, m.State)
		}
		if k, ok := st.Keys(); ok {
			fmt.Fprintf(h, "keys %d\n", k.Epoch)
		}
		for _, c := range st.Contracts() {
			fmt.Fprintf(h, "contract %s %d %s %d\n", c.ID, c.Version, c.State, len(c.Approvals))
			for _, r := range st.Rounds(c.ID) {
				fmt.Fprintf(h, "round %s %s\n", r.ID, r.State)
			}
		}
	})
	return hex.EncodeToString(h.Sum(nil)[:12]), nil
}

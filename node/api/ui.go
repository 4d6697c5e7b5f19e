package api

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
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
	dash, err := ui.New(ui.Config{Source: &uiSource{Client: client.NewInProcess(mux, a.cfg.Addr, a.cfg.Token), a: a}, Addr: a.cfg.Addr, Log: a.log.With("component", "ui")})
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

// uiSource gives the dashboard the local API's own answers: an API client
// served by the API's handlers in process, with the token, so a page
// shows exactly what the CLI prints (`cxnet results --json` and the
// rest). The API's metrics count these calls under their routes.
type uiSource struct {
	*client.Client
	a *API
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

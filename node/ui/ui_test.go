package ui

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cxnet/cxnet/kpi"
	"github.com/cxnet/cxnet/node/client"
)

// fakeSource answers canned API data. Its org and values are markers a
// page without a session must not contain.
type fakeSource struct {
	mu      sync.Mutex
	stamp   string
	results map[string]*client.Results // by contract id; missing: 404
	forbid  map[string]bool            // contract ids answering 403
	rounds  map[string][]client.Round
	verify  client.AuditVerification
}

const secretOrg = "hosp-secret"

func newFakeSource() *fakeSource {
	n := func(v int64) *int64 { return &v }
	res := &client.Results{Contract: "nps-care", Version: 1, Round: "nps-care/7", ReleasedAt: "2026-11-22T09:24:56Z",
		Participants: []string{secretOrg, "hosp-b", "pharma-x"}, Decryptors: []string{secretOrg, "hosp-b"}, Aggregate: "nps",
		Cells: []kpi.Cell{
			{Group: map[string]string{"care_setting": "inpatient"}, Count: n(214), Value: -3.27103, Local: &kpi.LocalValue{Count: 67, Value: 1.49254}},
			{Group: map[string]string{"care_setting": "outpatient"}, Suppressed: true, Reason: "differencing", Local: &kpi.LocalValue{Count: 131, Value: -9.16031}},
			{Group: map[string]string{"care_setting": "pharmacy"}, Suppressed: true, Reason: "min_cohort", Local: &kpi.LocalValue{Count: 2, Value: -50.0}},
		},
		Privacy: client.Privacy{MinCohort: 11, Suppressed: 2}}
	return &fakeSource{
		stamp:   "s1",
		results: map[string]*client.Results{"nps-care": res},
		forbid:  map[string]bool{"sealed": true},
		rounds: map[string][]client.Round{
			"nps-care": {
				{Round: "nps-care/7", State: "released", Aggregator: "hosp-b", Inputs: []string{secretOrg, "hosp-b", "pharma-x"}, OpenedAt: "2026-11-22T09:24:55Z", EndedAt: "2026-11-22T09:24:56Z"},
				{Round: "nps-care/9", State: "failed", Reason: "hosp-b refused the aggregator pharma-x: wrong inputs", Blame: []string{"pharma-x"}, ReportedBy: "hosp-b",
					Aggregator: "pharma-x", Inputs: []string{"hosp-b"}, OpenedAt: "2026-11-22T10:00:00Z", EndedAt: "2026-11-22T10:00:01Z"},
			},
		},
		verify: client.AuditVerification{OK: true, Entries: 3, Head: "abcdef0123456789abcdef"},
	}
}

var errNotFound = &client.Error{Status: http.StatusNotFound, Msg: "no released round of x yet"}

func (f *fakeSource) Status(context.Context) (*client.Status, error) {
	return &client.Status{Org: secretOrg, Name: "St. Secret", Kind: "hospital", Ready: true, Consortium: "Diabetes journey", Members: 3,
		Keys: &client.Keys{Epoch: 2, Members: []string{secretOrg, "hosp-b", "pharma-x"}, Threshold: 2, PublicKey: "sha256:0123456789abcdef0123", ThresholdKey: true}}, nil
}

func (f *fakeSource) Members(context.Context) (*client.Members, error) {
	return &client.Members{Members: []client.Member{
		{Org: secretOrg, Kind: "hospital", State: "admitted", Raft: "voter"},
		{Org: "pharma-x", Kind: "pharma", State: "admitted", Raft: "voter"},
		{Org: "hosp-b", Kind: "hospital", State: "admitted", Raft: "nonvoter"},
	}}, nil
}

func (f *fakeSource) Contracts(context.Context) (*client.Contracts, error) {
	return &client.Contracts{Contracts: []client.ContractInfo{
		{ID: "nps-care", State: "active", Participants: []string{secretOrg, "hosp-b", "pharma-x"}, Needed: 3, Approvals: []string{secretOrg, "hosp-b", "pharma-x"}},
		{ID: "waiting", State: "proposed", Participants: []string{secretOrg, "hosp-b", "pharma-x"}, Needed: 3, Approvals: []string{"hosp-b"}},
	}}, nil
}

func (f *fakeSource) Contract(_ context.Context, id string) (*client.ContractInfo, error) {
	spec := map[string]any{"privacy": map[string]any{"min_cohort": 11, "epsilon": 0, "budget": 0}, "readers": []any{}}
	if id == "waiting" {
		spec = map[string]any{"privacy": map[string]any{"min_cohort": 20, "epsilon": 0.5, "budget": 2}, "readers": []any{"hosp-b"}}
	}
	return &client.ContractInfo{ID: id, State: "active", Aggregate: "nps", Measure: "nps", Contract: spec}, nil
}

func (f *fakeSource) Results(_ context.Context, id string, round kpi.RoundID) (*client.Results, error) {
	if f.forbid[id] {
		return nil, &client.Error{Status: http.StatusForbidden, Msg: "forbidden"}
	}
	r, ok := f.results[id]
	if !ok || (round != "" && round != r.Round) {
		return nil, errNotFound
	}
	return r, nil
}

func (f *fakeSource) Rounds(_ context.Context, id string) (*client.Rounds, error) {
	return &client.Rounds{Rounds: f.rounds[id]}, nil
}

func (f *fakeSource) Audit(context.Context) (*client.AuditLog, error) {
	return &client.AuditLog{Entries: []client.AuditEntry{{Seq: 1, Kind: "consortium.created", Actor: secretOrg}}}, nil
}

func (f *fakeSource) AuditVerify(context.Context) (*client.AuditVerification, error) {
	v := f.verify
	return &v, nil
}

func (f *fakeSource) EpsilonSpent(context.Context, string) (string, error) { return "0.5", nil }

func (f *fakeSource) Changes(context.Context) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.stamp, nil
}

func (f *fakeSource) setStamp(s string) {
	f.mu.Lock()
	f.stamp = s
	f.mu.Unlock()
}

// clock is a settable test clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

type harness struct {
	t   *testing.T
	src *fakeSource
	clk *clock
	srv *Server
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	h := &harness{t: t, src: newFakeSource(), clk: &clock{now: time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)}}
	var err error
	h.srv, err = New(Config{Source: h.src, Addr: "127.0.0.1:8001", Now: h.clk.Now, Poll: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// get serves GET path with the cookie (none when nil).
func (h *harness) get(path string, cookie *http.Cookie) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodGet, "http://127.0.0.1:8001"+path, nil)
	if cookie != nil {
		r.AddCookie(cookie)
	}
	w := httptest.NewRecorder()
	h.srv.ServeHTTP(w, r)
	return w
}

// login makes a link to p and follows it, returning the session cookie.
func (h *harness) login(p string) *http.Cookie {
	h.t.Helper()
	link, _, err := h.srv.LoginLink(p)
	if err != nil {
		h.t.Fatal(err)
	}
	u, _ := url.Parse(link)
	w := h.get(u.RequestURI(), nil)
	if w.Code != http.StatusSeeOther {
		h.t.Fatalf("login: %d %s", w.Code, w.Body)
	}
	cookies := w.Result().Cookies()
	if len(cookies) != 1 {
		h.t.Fatalf("login set cookies %v", cookies)
	}
	return cookies[0]
}

func TestLoginLink(t *testing.T) {
	h := newHarness(t)
	link, expires, err := h.srv.LoginLink("/ui/contracts/nps-care")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(link, "http://127.0.0.1:8001/ui/login?code=") || !expires.Equal(h.clk.Now().Add(time.Minute)) {
		t.Fatalf("link %s until %s", link, expires)
	}
	u, _ := url.Parse(link)
	w := h.get(u.RequestURI(), nil)
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/ui/contracts/nps-care" {
		t.Fatalf("first use: %d to %q", w.Code, w.Header().Get("Location"))
	}
	c := w.Result().Cookies()[0]
	if c.Name != "cxnet_ui_8001" || !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/ui/" || len(c.Value) < 40 {
		t.Fatalf("session cookie %+v: want HttpOnly, SameSite=Strict, Path=/ui/, named after the port, a long secret", c)
	}
	if w := h.get("/ui/contracts/nps-care", c); w.Code != http.StatusOK || !strings.Contains(w.Body.String(), secretOrg) {
		t.Fatalf("with the session: %d", w.Code)
	}
	if w := h.get(u.RequestURI(), nil); w.Code != http.StatusUnauthorized || w.Header().Get("Set-Cookie") != "" {
		t.Fatalf("second use of the link: %d, cookie %q; want 401 and no session", w.Code, w.Header().Get("Set-Cookie"))
	}
}

func TestLoginLinkExpiresAfterAMinute(t *testing.T) {
	h := newHarness(t)
	link, _, _ := h.srv.LoginLink("")
	h.clk.add(time.Minute)
	u, _ := url.Parse(link)
	if w := h.get(u.RequestURI(), nil); w.Code != http.StatusUnauthorized {
		t.Fatalf("a minute later: %d, want 401", w.Code)
	}
	// Nor does a later, valid link revive it.
	h.srv.LoginLink("")
	if w := h.get(u.RequestURI(), nil); w.Code != http.StatusUnauthorized {
		t.Fatalf("expired link after a new one: %d", w.Code)
	}
	if _, err := New(Config{Source: h.src, Addr: "127.0.0.1:8001", LinkTTL: 2 * time.Minute}); err == nil {
		t.Fatal("a link lifetime over a minute was accepted")
	}
}

func TestSessionExpiresAndEnds(t *testing.T) {
	h := newHarness(t)
	c := h.login("")
	h.clk.add(11 * time.Hour)
	if w := h.get("/ui/", c); w.Code != http.StatusOK {
		t.Fatalf("11h in: %d", w.Code)
	}
	h.clk.add(time.Hour)
	if w := h.get("/ui/", c); w.Code != http.StatusUnauthorized {
		t.Fatalf("12h in: %d, want 401", w.Code)
	}
	c = h.login("")
	r := httptest.NewRequest(http.MethodPost, "http://127.0.0.1:8001/ui/logout", nil)
	r.AddCookie(c)
	w := httptest.NewRecorder()
	h.srv.ServeHTTP(w, r)
	if cleared := w.Result().Cookies(); w.Code != http.StatusOK || len(cleared) != 1 || cleared[0].MaxAge >= 0 {
		t.Fatalf("logout: %d, cookies %v", w.Code, cleared)
	}
	if w := h.get("/ui/", c); w.Code != http.StatusUnauthorized {
		t.Fatalf("after logout: %d, want 401", w.Code)
	}
}

func TestLandingPath(t *testing.T) {
	cases := []struct {
		in, want string
		ok       bool
	}{
		{"", "/ui/", true},
		{"/ui/", "/ui/", true},
		{"/ui/contracts/nps-care", "/ui/contracts/nps-care", true},
		{"/ui/contracts/nps-care?round=nps-care%2F7", "/ui/contracts/nps-care?round=nps-care%2F7", true},
		{"/ui", "", false},
		{"https://evil.example/ui/", "", false},
		{"//evil.example/ui/", "", false},
		{"/\\evil.example/ui/", "", false},
		{"/ui/../v1/status", "", false},
		{"/ui/./audit", "", false},
		{"/metrics", "", false},
		{"/ui/#x", "", false},
		{"/ui/a b", "", false},
		{"/ui/\r\nSet-Cookie: x", "", false},
		{"javascript:alert(1)", "", false},
	}
	for _, tc := range cases {
		got, err := LandingPath(tc.in)
		if tc.ok != (err == nil) || got != tc.want {
			t.Errorf("LandingPath(%q) = %q, %v; want %q, ok %v", tc.in, got, err, tc.want, tc.ok)
		}
		if err != nil && !errors.Is(err, ErrPath) {
			t.Errorf("LandingPath(%q): %v is not ErrPath", tc.in, err)
		}
	}
}

// TestNoDataWithoutASession: every page, download and the event stream,
// without a cookie or with a made-up one, answers 401 with how to sign
// in and nothing of the node's data.
func TestNoDataWithoutASession(t *testing.T) {
	h := newHarness(t)
	h.login("") // a live session exists, just not this request's
	paths := []string{"/ui/", "/ui/contracts", "/ui/contracts/nps-care", "/ui/contracts/nps-care/results.csv",
		"/ui/contracts/nps-care/results.json", "/ui/rounds", "/ui/audit", "/ui/events"}
	for _, cookie := range []*http.Cookie{nil, {Name: "cxnet_ui_8001", Value: "made-up"}} {
		for _, p := range paths {
			w := h.get(p, cookie)
			body := w.Body.String()
			if w.Code != http.StatusUnauthorized || !strings.Contains(body, "cxnet --home DIR ui") ||
				strings.Contains(body, secretOrg) || strings.Contains(body, "nps-care/7") || strings.Contains(body, "3.27") {
				t.Errorf("%s (cookie %v): %d\n%s", p, cookie, w.Code, body)
			}
		}
	}
}

func TestSecurityHeaders(t *testing.T) {
	h := newHarness(t)
	c := h.login("")
	for _, p := range []string{"/ui/", "/ui/audit", "/ui/nope", "/ui/static/ui.js", "/ui/login?code=x"} {
		w := h.get(p, c)
		hd := w.Header()
		if hd.Get("Content-Security-Policy") != CSP || hd.Get("X-Content-Type-Options") != "nosniff" ||
			hd.Get("Referrer-Policy") != "no-referrer" || hd.Get("X-Frame-Options") != "DENY" {
			t.Errorf("%s: headers %v", p, hd)
		}
	}
	for _, directive := range []string{"default-src 'none'", "script-src 'self'", "style-src 'self'", "frame-ancestors 'none'"} {
		if !strings.Contains(CSP, directive) || strings.Contains(CSP, "unsafe") {
			t.Errorf("CSP %q: want %s and nothing unsafe", CSP, directive)
		}
	}
	if w := h.get("/ui/static/", c); w.Code != http.StatusNotFound {
		t.Errorf("static directory listing: %d", w.Code)
	}
	// The vendored Chart.js is the version VERSION names (`make chartjs`),
	// with its licence, and needs no session.
	version, err := files.ReadFile("static/vendor/chartjs/VERSION")
	if err != nil {
		t.Fatal(err)
	}
	if w := h.get("/ui/static/vendor/chartjs/chart.umd.min.js", nil); w.Code != http.StatusOK ||
		!strings.Contains(w.Body.String()[:200], "Chart.js v"+strings.TrimSpace(string(version))+"\n") {
		t.Errorf("vendored Chart.js: %d, not version %s", w.Code, version)
	}
	if w := h.get("/ui/static/vendor/chartjs/LICENSE.md", nil); w.Code != http.StatusOK || !strings.Contains(w.Body.String(), "MIT License") {
		t.Errorf("Chart.js licence: %d", w.Code)
	}
}

func TestResultsPage(t *testing.T) {
	h := newHarness(t)
	c := h.login("")
	w := h.get("/ui/contracts/nps-care", c)
	body := w.Body.String()
	for _, want := range []string{
		`data-col="value">-3.27103<`, `data-col="count">214<`, // the network's value and count
		`data-col="own-value">1.49254<`, `data-col="own-count">67<`, // the own beside it
		`data-reason="differencing"`, `data-reason="min_cohort"`, // suppressed with the reason
		`fewer than 11 records network-wide`,
		`href="/ui/contracts/nps-care/results.csv"`, `href="/ui/contracts/nps-care/results.json"`,
		`id="chart-cells"`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("results page lacks %s", want)
		}
	}
	// The chart's network series has a gap, not a zero, per suppressed cell.
	start := strings.Index(body, `id="chart-cells">`) + len(`id="chart-cells">`)
	var ch chart
	if err := json.NewDecoder(strings.NewReader(body[start:])).Decode(&ch); err != nil {
		t.Fatalf("chart data: %v", err)
	}
	if len(ch.Series) != 2 || ch.Series[0].Data[0] == nil || ch.Series[0].Data[1] != nil || ch.Series[0].Data[2] != nil || *ch.Series[1].Data[2] != -50 {
		t.Fatalf("chart %+v", ch)
	}
	if !strings.Contains(ch.Labels[1], "suppressed: differencing") {
		t.Errorf("label %q does not say the cell is suppressed", ch.Labels[1])
	}

	if w := h.get("/ui/contracts/sealed", c); w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `id="forbidden"`) || strings.Contains(w.Body.String(), `id="cells"`) {
		t.Errorf("a contract released to others: %d\n%s", w.Code, w.Body)
	}
	if w := h.get("/ui/contracts/nothing", c); w.Code != http.StatusOK || !strings.Contains(w.Body.String(), "no released round") {
		t.Errorf("a contract without a release: %d\n%s", w.Code, w.Body)
	}
	if w := h.get("/ui/contracts/nps-care/results.csv?round=nps-care%2F99", c); w.Code != http.StatusNotFound {
		t.Errorf("download of an unknown round: %d", w.Code)
	}
}

func TestDownloads(t *testing.T) {
	h := newHarness(t)
	c := h.login("")
	for _, format := range []string{"csv", "json"} {
		w := h.get("/ui/contracts/nps-care/results."+format+"?round=nps-care%2F7", c)
		var want bytes.Buffer
		if format == "csv" {
			client.WriteResultsCSV(&want, h.src.results["nps-care"])
		} else {
			client.WriteResultsJSON(&want, h.src.results["nps-care"])
		}
		if w.Code != http.StatusOK || w.Body.String() != want.String() ||
			w.Header().Get("Content-Disposition") != `attachment; filename="nps-care-7.`+format+`"` {
			t.Errorf("%s: %d %v\n%s", format, w.Code, w.Header(), w.Body)
		}
	}
	var csv bytes.Buffer
	client.WriteResultsCSV(&csv, h.src.results["nps-care"])
	if want := "care_setting,count,value,suppressed,own_count,own_value\ninpatient,214,-3.27103,false,67,1.49254\n" +
		"outpatient,,,true,131,-9.16031\npharmacy,,,true,2,-50\n"; csv.String() != want {
		t.Errorf("CSV:\n%s\nwant:\n%s", csv.String(), want)
	}
}

func TestOtherPages(t *testing.T) {
	h := newHarness(t)
	c := h.login("")
	cases := []struct{ path, want string }{
		{"/ui/", `hosp-b</td>`},
		{"/ui/", `<code>cxnet contract approve waiting</code>`},          // waits for this org's approval
		{"/ui/", `nps-care/7`},                                           // the latest release
		{"/ui/contracts", `spent 0.5, left 1.5`},                         // the privacy budget
		{"/ui/contracts", `hosp-b<br><span class="sub">released sealed`}, // readers
		{"/ui/rounds", `class="round-failed"`},
		{"/ui/rounds", `hosp-b refused the aggregator pharma-x: wrong inputs<br><span class="sub">blames pharma-x, reported by hosp-b`},
		{"/ui/audit", `id="verify" class="verify ok"`},
	}
	for _, tc := range cases {
		if w := h.get(tc.path, c); w.Code != http.StatusOK || !strings.Contains(w.Body.String(), tc.want) {
			t.Errorf("%s: %d, lacks %s\n%s", tc.path, w.Code, tc.want, w.Body)
		}
	}
	h.src.verify = client.AuditVerification{OK: false, Entries: 2, Problem: "entry 3: hash does not chain"}
	if w := h.get("/ui/audit", c); !strings.Contains(w.Body.String(), `class="verify broken" role="alert">✗ Broken: entry 3: hash does not chain`) {
		t.Errorf("a broken audit log:\n%s", w.Body)
	}
}

// TestEvents: the event stream says the current state on connecting and
// again whenever it changes; it ends with the session.
func TestEvents(t *testing.T) {
	h := newHarness(t)
	c := h.login("")
	srv := httptest.NewServer(h.srv)
	defer srv.Close()
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/ui/events", nil)
	req.AddCookie(c)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("content type %q", resp.Header.Get("Content-Type"))
	}
	events := bufio.NewReader(resp.Body)
	next := func() string {
		for {
			line, err := events.ReadString('\n')
			if err != nil {
				t.Fatalf("event stream: %v", err)
			}
			if data, ok := strings.CutPrefix(line, "data: "); ok {
				return strings.TrimSpace(data)
			}
		}
	}
	if got := next(); got != "s1" {
		t.Fatalf("first event %q", got)
	}
	h.src.setStamp("s2")
	if got := next(); got != "s2" {
		t.Fatalf("after a change: %q", got)
	}
	h.clk.add(13 * time.Hour) // the session expires: the stream ends
	done := make(chan error, 1)
	go func() { _, err := io.Copy(io.Discard, events); done <- err }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the stream outlived the session")
	}
}

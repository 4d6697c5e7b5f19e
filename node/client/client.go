// Package client is the Go client of a cxnet node's local HTTP API, and the
// JSON types that API speaks. The CLI talks to a running node only through
// it. It imports nothing of cxnet but the kpi vocabulary.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/cxnet/cxnet/kpi"
)

// Files in a node's home that the client reads.
const (
	TokenFile   = "api.token" // bearer token, 0600
	APIAddrFile = "api.addr"  // address the running daemon listens on
)

// ErrNotRunning says the node's daemon is not reachable.
var ErrNotRunning = errors.New("the cxnet daemon is not running")

// Client calls one node's API.
type Client struct {
	addr  string // fixed address; "" reads api.addr before each call
	token string
	home  string
	http  *http.Client
}

// Open returns a client for the node whose home is home. addr overrides
// the address the daemon wrote at start-up (api.addr).
func Open(home, addr string) (*Client, error) {
	tok, err := os.ReadFile(filepath.Join(home, TokenFile))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("no cxnet node at %s (no %s): create one with `cxnet init --home %s ...` or pass --home", home, TokenFile, home)
		}
		return nil, fmt.Errorf("read API token: %w", err)
	}
	return &Client{
		addr:  addr,
		token: strings.TrimSpace(string(tok)),
		home:  home,
		http:  &http.Client{Transport: &http.Transport{Proxy: nil, DisableCompression: true}},
	}, nil
}

// NewInProcess returns a client whose requests are served by h, a node's
// API handler, in this process, with the node's token: what the node's
// own dashboard reads, the answers the CLI would get. addr is the API's
// address (the Host its requests name).
func NewInProcess(h http.Handler, addr, token string) *Client {
	return &Client{addr: addr, token: token, http: &http.Client{Transport: handlerTransport{h}}}
}

// handlerTransport serves a request with a handler in process.
type handlerTransport struct{ h http.Handler }

func (t handlerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	w := &bufferedResponse{header: http.Header{}, code: http.StatusOK}
	t.h.ServeHTTP(w, req)
	return &http.Response{
		Status: fmt.Sprintf("%d %s", w.code, http.StatusText(w.code)), StatusCode: w.code,
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: w.header, Body: io.NopCloser(&w.body), ContentLength: int64(w.body.Len()), Request: req,
	}, nil
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

// Error is an error the API returned.
type Error struct {
	Status int    `json:"-"`
	Msg    string `json:"error"`
	// Kind classifies it: "input" (the user's data or request was wrong),
	// "not_found", "conflict", "internal".
	Kind string `json:"kind,omitempty"`
}

func (e *Error) Error() string { return e.Msg }

// base returns the API's URL: the fixed address, or the one the running
// daemon wrote in its home.
func (c *Client) base() (string, error) {
	if c.addr != "" {
		return "http://" + c.addr, nil
	}
	a, err := os.ReadFile(filepath.Join(c.home, APIAddrFile))
	if err != nil {
		return "", fmt.Errorf("%w for home %s: start it with `cxnet run --home %s`", ErrNotRunning, c.home, c.home)
	}
	return "http://" + strings.TrimSpace(string(a)), nil
}

func (c *Client) do(ctx context.Context, method, path string, body io.Reader, contentType string, out any) error {
	base, err := c.base()
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, method, base+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		var op *net.OpError
		if errors.Is(err, syscall.ECONNREFUSED) || (errors.As(err, &op) && op.Op == "dial") {
			return fmt.Errorf("%w at %s (home %s): start it with `cxnet run --home %s`", ErrNotRunning, strings.TrimPrefix(base, "http://"), c.home, c.home)
		}
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		e := &Error{Status: resp.StatusCode}
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		if json.Unmarshal(b, e) != nil || e.Msg == "" {
			e.Msg = fmt.Sprintf("node answered %s: %s", resp.Status, bytes.TrimSpace(b))
		}
		return e
	}
	if out == nil {
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("decode answer of %s %s: %w", method, path, err)
	}
	return nil
}

func (c *Client) getJSON(ctx context.Context, path string, out any) error {
	return c.do(ctx, http.MethodGet, path, nil, "", out)
}

func (c *Client) postJSON(ctx context.Context, path string, in, out any) error {
	b, err := json.Marshal(in)
	if err != nil {
		return err
	}
	return c.do(ctx, http.MethodPost, path, bytes.NewReader(b), "application/json", out)
}

// Status returns the node's status.
func (c *Client) Status(ctx context.Context) (*Status, error) {
	var s Status
	return &s, c.getJSON(ctx, "/v1/status", &s)
}

// WaitReady polls the status until the node is ready or ctx ends.
func (c *Client) WaitReady(ctx context.Context) (*Status, error) {
	for {
		s, err := c.Status(ctx)
		if err == nil && s.Ready {
			return s, nil
		}
		select {
		case <-ctx.Done():
			if err == nil {
				err = errors.New("node not ready")
			}
			return nil, fmt.Errorf("%w (%v)", err, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// DataStats returns what the node holds.
func (c *Client) DataStats(ctx context.Context) (*DataStats, error) {
	var s DataStats
	return &s, c.getJSON(ctx, "/v1/data/stats", &s)
}

// Preview computes a contract's cells over this node's own data.
func (c *Client) Preview(ctx context.Context, req PreviewRequest) (*Preview, error) {
	var p Preview
	return &p, c.postJSON(ctx, "/v1/contracts/preview", req, &p)
}

// Audit returns the node's audit log.
func (c *Client) Audit(ctx context.Context) (*AuditLog, error) {
	var a AuditLog
	return &a, c.getJSON(ctx, "/v1/audit", &a)
}

// AuditVerify checks the node's audit chain.
func (c *Client) AuditVerify(ctx context.Context) (*AuditVerification, error) {
	var v AuditVerification
	return &v, c.getJSON(ctx, "/v1/audit/verify", &v)
}

// Identity returns the node's signed member descriptor: what `cxnet
// identity --json` prints and `cxnet consortium admit` reads.
func (c *Client) Identity(ctx context.Context) (kpi.Member, error) {
	var m kpi.Member
	err := c.getJSON(ctx, "/v1/identity", &m) // before reading m: Go leaves the order of `return m, f(&m)` unspecified
	return m, err
}

// CreateConsortium founds a consortium on this node.
func (c *Client) CreateConsortium(ctx context.Context, req CreateRequest) (*Consortium, error) {
	var out Consortium
	return &out, c.postJSON(ctx, "/v1/consortium/create", req, &out)
}

// Admit proposes admitting the member whose descriptor (cxnet identity
// --json) is given.
func (c *Client) Admit(ctx context.Context, descriptor kpi.Member) (*GovernanceResult, error) {
	var out GovernanceResult
	return &out, c.postJSON(ctx, "/v1/consortium/admit", descriptor, &out)
}

// Approve approves org's pending admission.
func (c *Client) Approve(ctx context.Context, org string) (*GovernanceResult, error) {
	var out GovernanceResult
	return &out, c.postJSON(ctx, "/v1/consortium/approve", map[string]string{"org": org}, &out)
}

// Join makes this admitted member's node join the consortium via a member.
func (c *Client) Join(ctx context.Context, req JoinRequest) (*Consortium, error) {
	var out Consortium
	return &out, c.postJSON(ctx, "/v1/consortium/join", req, &out)
}

// Members lists the consortium's members.
func (c *Client) Members(ctx context.Context) (*Members, error) {
	var out Members
	return &out, c.getJSON(ctx, "/v1/members", &out)
}

// Propose proposes a contract file; it counts as this organisation's
// approval.
func (c *Client) Propose(ctx context.Context, file, yaml string) (*ContractInfo, error) {
	var out ContractInfo
	return &out, c.postJSON(ctx, "/v1/contracts/propose", PreviewRequest{File: file, YAML: yaml}, &out)
}

// ContractAction approves, rejects or retires a contract.
func (c *Client) ContractAction(ctx context.Context, action string, req ContractAction) (*ContractInfo, error) {
	var out ContractInfo
	return &out, c.postJSON(ctx, "/v1/contracts/"+action, req, &out)
}

// Contracts lists the consortium's contracts.
func (c *Client) Contracts(ctx context.Context) (*Contracts, error) {
	var out Contracts
	return &out, c.getJSON(ctx, "/v1/contracts", &out)
}

// Contract returns one contract.
func (c *Client) Contract(ctx context.Context, id string) (*ContractInfo, error) {
	var out ContractInfo
	return &out, c.getJSON(ctx, "/v1/contracts/"+url.PathEscape(id), &out)
}

// ImportFile is one file of an import.
type ImportFile struct {
	Name string    // as the user named it, for messages
	Body io.Reader // its content
}

// Import streams files to the node, which stores them as one atomic
// import. mapping is the FHIR mapping file's content (nil when none).
func (c *Client) Import(ctx context.Context, opt ImportRequest, mapping []byte, files []ImportFile) (*ImportSummary, error) {
	pr, pw := io.Pipe()
	mw := newMultipart(pw)
	go func() {
		pw.CloseWithError(mw.writeAll(mapping, files))
	}()
	q := url.Values{}
	q.Set("format", opt.Format)
	names := make([]string, len(files))
	for i, f := range files {
		names[i] = f.Name
	}
	q.Set("files", strings.Join(names, ", "))
	if opt.DryRun {
		q.Set("dry_run", "1")
	}
	if opt.Replace {
		q.Set("replace", "1")
	}
	if opt.SkipUnknown {
		q.Set("skip_unknown", "1")
	}
	var sum ImportSummary
	err := c.do(ctx, http.MethodPost, "/v1/data/import?"+q.Encode(), pr, mw.contentType(), &sum)
	pr.Close()
	return &sum, err
}

// RunRound runs a round of a contract with this node as its aggregator,
// waits for the release and returns it.
func (c *Client) RunRound(ctx context.Context, contract string) (*Results, error) {
	return c.RunRoundWith(ctx, RoundRequest{Contract: contract})
}

// RunRoundWith runs a round as req asks (with its trace, say).
func (c *Client) RunRoundWith(ctx context.Context, req RoundRequest) (*Results, error) {
	var out Results
	return &out, c.postJSON(ctx, "/v1/rounds", req, &out)
}

// Results returns a contract's released result: round "" is the latest.
func (c *Client) Results(ctx context.Context, contract string, round kpi.RoundID) (*Results, error) {
	var out Results
	path := "/v1/results/" + url.PathEscape(contract)
	if round != "" {
		path += "?round=" + url.QueryEscape(string(round))
	}
	return &out, c.getJSON(ctx, path, &out)
}

// Rounds returns every round of a contract, oldest first.
func (c *Client) Rounds(ctx context.Context, contract string) (*Rounds, error) {
	var out Rounds
	return &out, c.getJSON(ctx, "/v1/contracts/"+url.PathEscape(contract)+"/rounds", &out)
}

// UILogin asks the node for a one-time login link to its dashboard,
// landing on path ("/ui/" when empty).
func (c *Client) UILogin(ctx context.Context, path string) (*UILogin, error) {
	var out UILogin
	return &out, c.postJSON(ctx, "/v1/ui/login", UILoginRequest{Path: path}, &out)
}

// Package ui is the analyst's dashboard a node serves under /ui/ on its
// local API address: server-rendered html/template pages and their assets
// embedded in the binary, a strict Content-Security-Policy, Chart.js
// (vendored from npm, see static/vendor/chartjs/VERSION) for the charts and
// a little JavaScript for live updates. Nothing is fetched from elsewhere.
//
// The pages are read-only: governance stays in the CLI, signed with the
// board's key. They read the node only through Source, which answers what
// the local API answers the CLI (a *client.Client satisfies most of it),
// so a page shows the numbers `cxnet results --json` prints.
//
// Access: whoever holds the API token asks for a one-time login link
// (Server.LoginLink, `cxnet ui`), valid once and for at most a minute; it
// sets an HttpOnly, SameSite=Strict session cookie. Without a session a
// page shows no data. The node refuses requests whose Host is not the
// API's before they reach this package (DNS rebinding).
//
// It imports the standard library and node/client (the API's JSON types)
// only; never node, whose wiring layer uses it.
package ui

import (
	"context"
	"crypto/rand"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/cxnet/cxnet/kpi"
	"github.com/cxnet/cxnet/node/client"
)

// Source is what the dashboard reads of a node: the local API's answers.
type Source interface {
	Status(ctx context.Context) (*client.Status, error)
	Members(ctx context.Context) (*client.Members, error)
	Contracts(ctx context.Context) (*client.Contracts, error)
	Contract(ctx context.Context, id string) (*client.ContractInfo, error)
	// Results is a contract's released result, round "" the latest; a
	// *client.Error with Status 403 when this organisation is not one of
	// the contract's readers, 404 when nothing is released.
	Results(ctx context.Context, id string, round kpi.RoundID) (*client.Results, error)
	Rounds(ctx context.Context, id string) (*client.Rounds, error)
	Audit(ctx context.Context) (*client.AuditLog, error)
	AuditVerify(ctx context.Context) (*client.AuditVerification, error)
	// EpsilonSpent is the differential-privacy budget a contract's rounds
	// have spent, as a decimal.
	EpsilonSpent(ctx context.Context, id string) (string, error)
	// Changes is a value that changes whenever the governance state the
	// pages show changes (a round opens, is released or fails, a contract
	// or a member changes state); open pages refresh when it does.
	Changes(ctx context.Context) (string, error)
}

// Config configures a Server.
type Config struct {
	Source Source
	// Addr is the API's listen address (host:port, after listening): login
	// links point at it, and the session cookie is named after its port
	// (browsers share cookies between the ports of one host).
	Addr string
	Log  *slog.Logger
	// Now and Rand are the clock and the random source (sessions, links);
	// time.Now and crypto/rand when nil.
	Now  func() time.Time
	Rand io.Reader
	// LinkTTL is how long a login link is valid: at most (and by default)
	// a minute.
	LinkTTL time.Duration
	// SessionTTL is how long a session lasts; default 12 hours.
	SessionTTL time.Duration
	// Poll is how often an open page's event stream checks for changes;
	// default 2 seconds.
	Poll time.Duration
}

// MaxLinkTTL is the longest a login link is valid.
const MaxLinkTTL = time.Minute

func (c *Config) validate() error {
	if c.Source == nil {
		return errors.New("ui: no Source")
	}
	if _, port, err := net.SplitHostPort(c.Addr); err != nil || port == "" || port == "0" {
		return fmt.Errorf("ui: API address %q: want the listen address host:port, after listening", c.Addr)
	}
	switch {
	case c.LinkTTL == 0:
		c.LinkTTL = MaxLinkTTL
	case c.LinkTTL < 0 || c.LinkTTL > MaxLinkTTL:
		return fmt.Errorf("ui: login link lifetime %s: want at most %s", c.LinkTTL, MaxLinkTTL)
	}
	if c.SessionTTL <= 0 {
		c.SessionTTL = 12 * time.Hour
	}
	if c.Poll <= 0 {
		c.Poll = 2 * time.Second
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Rand == nil {
		c.Rand = rand.Reader
	}
	return nil
}

//go:embed templates static
var files embed.FS

// Server serves the dashboard under /ui/.
type Server struct {
	cfg      Config
	src      Source
	log      *slog.Logger
	mux      *http.ServeMux
	pages    map[string]*template.Template
	sessions *sessions
}

// New prepares the dashboard; it does no I/O.
func New(cfg Config) (*Server, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	pages, err := parsePages()
	if err != nil {
		return nil, err
	}
	_, port, _ := net.SplitHostPort(cfg.Addr)
	s := &Server{cfg: cfg, src: cfg.Source, log: cfg.Log, pages: pages,
		sessions: newSessions("cxnet_ui_"+port, cfg.Now, cfg.Rand, cfg.LinkTTL, cfg.SessionTTL)}
	static, _ := fs.Sub(files, "static")
	s.mux = http.NewServeMux()
	s.mux.Handle("GET /ui/static/", http.StripPrefix("/ui/static/", staticFiles(static)))
	s.mux.HandleFunc("GET /ui/login", s.handleLogin)
	s.mux.HandleFunc("POST /ui/logout", s.handleLogout)
	s.mux.HandleFunc("GET /ui/{$}", s.withSession(s.handleOverview))
	s.mux.HandleFunc("GET /ui/contracts", s.withSession(s.handleContracts))
	s.mux.HandleFunc("GET /ui/contracts/{id}", s.withSession(s.handleResults))
	s.mux.HandleFunc("GET /ui/contracts/{id}/results.csv", s.withSession(s.handleDownload))
	s.mux.HandleFunc("GET /ui/contracts/{id}/results.json", s.withSession(s.handleDownload))
	s.mux.HandleFunc("GET /ui/rounds", s.withSession(s.handleRounds))
	s.mux.HandleFunc("GET /ui/audit", s.withSession(s.handleAudit))
	s.mux.HandleFunc("GET /ui/events", s.withSession(s.handleEvents))
	s.mux.HandleFunc("/ui/", func(w http.ResponseWriter, r *http.Request) {
		s.errorPage(w, r, http.StatusNotFound, "Not found", fmt.Sprintf("The dashboard has no page %s %s.", r.Method, r.URL.Path))
	})
	return s, nil
}

// CSP is the Content-Security-Policy of every answer: scripts, styles and
// connections from the dashboard itself only, no inline script or style,
// no frames, forms only to itself.
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; font-src 'self'; " +
	"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// ServeHTTP serves /ui/ with the dashboard's security headers.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", CSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	// A login link's code is in its URL: no page tells another site where
	// it came from.
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
	s.mux.ServeHTTP(w, r)
}

// staticFiles serves the embedded assets; they carry no data.
func staticFiles(static fs.FS) http.Handler {
	fileServer := http.FileServerFS(static)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "" || r.URL.Path[len(r.URL.Path)-1] == '/' {
			http.NotFound(w, r) // no directory listings
			return
		}
		w.Header().Set("Cache-Control", "no-cache")
		fileServer.ServeHTTP(w, r)
	})
}

package ui

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path"
	"strings"
	"sync"
	"time"
)

// Limits on what the dashboard keeps in memory: login links are made
// only for token holders, sessions only from links, so these bound a
// mistake (a script asking for links in a loop), not an attack.
const (
	maxLinks    = 64
	maxSessions = 256
)

// ErrPath says a login link's landing path is not a dashboard page.
var ErrPath = errors.New("not a dashboard path")

// sessions holds login links (valid once, for a short time) and the
// sessions they start, by the SHA-256 of their secret: the map's timing
// reveals nothing of a secret, and a memory dump no cookie.
type sessions struct {
	cookie     string
	now        func() time.Time
	rand       io.Reader
	linkTTL    time.Duration
	sessionTTL time.Duration

	mu       sync.Mutex
	links    map[[32]byte]link
	sessions map[[32]byte]time.Time // expiry
}

type link struct {
	path    string
	expires time.Time
}

func newSessions(cookie string, now func() time.Time, rand io.Reader, linkTTL, sessionTTL time.Duration) *sessions {
	return &sessions{cookie: cookie, now: now, rand: rand, linkTTL: linkTTL, sessionTTL: sessionTTL,
		links: map[[32]byte]link{}, sessions: map[[32]byte]time.Time{}}
}

// secret returns a fresh random secret, URL-safe.
func (s *sessions) secret() (string, error) {
	b := make([]byte, 32)
	if _, err := io.ReadFull(s.rand, b); err != nil {
		return "", fmt.Errorf("ui: random secret: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// LandingPath checks where a login link may land: a dashboard page,
// "/ui/" when p is empty. It refuses anything that could send the browser
// elsewhere (another host, a scheme, "//", "\").
func LandingPath(p string) (string, error) {
	if p == "" {
		return "/ui/", nil
	}
	u, err := url.Parse(p)
	bad := err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Fragment != "" ||
		strings.ContainsAny(p, "\\\x00\r\n\t ") || strings.HasPrefix(p, "//")
	if !bad {
		clean := path.Clean(u.Path)
		if strings.HasSuffix(u.Path, "/") && clean != "/" {
			clean += "/"
		}
		bad = clean != u.Path || (u.Path != "/ui/" && !strings.HasPrefix(u.Path, "/ui/"))
	}
	if bad {
		return "", fmt.Errorf("%w %q: give a page of the dashboard, such as /ui/ or /ui/contracts/ID", ErrPath, p)
	}
	return p, nil
}

// newLink records a login link's code landing on p; it is valid once,
// until the time returned.
func (s *sessions) newLink(p string) (code string, expires time.Time, err error) {
	code, err = s.secret()
	if err != nil {
		return "", time.Time{}, err
	}
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, l := range s.links {
		if !now.Before(l.expires) {
			delete(s.links, k)
		}
	}
	if len(s.links) >= maxLinks {
		return "", time.Time{}, fmt.Errorf("ui: %d login links are waiting to be used; use one, or wait a minute for them to expire", len(s.links))
	}
	expires = now.Add(s.linkTTL)
	s.links[sha256.Sum256([]byte(code))] = link{path: p, expires: expires}
	return code, expires, nil
}

// useLink consumes a login link's code: it works once, before it
// expires. It returns the session's cookie and where to land.
func (s *sessions) useLink(code string) (*http.Cookie, string, bool) {
	now := s.now()
	key := sha256.Sum256([]byte(code))
	s.mu.Lock()
	l, ok := s.links[key]
	delete(s.links, key)
	s.mu.Unlock()
	if !ok || !now.Before(l.expires) {
		return nil, "", false
	}
	id, err := s.secret()
	if err != nil {
		return nil, "", false
	}
	s.mu.Lock()
	for k, exp := range s.sessions {
		if !now.Before(exp) {
			delete(s.sessions, k)
		}
	}
	if len(s.sessions) >= maxSessions {
		s.mu.Unlock()
		return nil, "", false
	}
	s.sessions[sha256.Sum256([]byte(id))] = now.Add(s.sessionTTL)
	s.mu.Unlock()
	return &http.Cookie{Name: s.cookie, Value: id, Path: "/ui/", MaxAge: int(s.sessionTTL / time.Second),
		HttpOnly: true, SameSite: http.SameSiteStrictMode}, l.path, true
}

// valid reports whether r carries a live session's cookie.
func (s *sessions) valid(r *http.Request) bool {
	c, err := r.Cookie(s.cookie)
	if err != nil || c.Value == "" {
		return false
	}
	key := sha256.Sum256([]byte(c.Value))
	s.mu.Lock()
	defer s.mu.Unlock()
	exp, ok := s.sessions[key]
	if ok && !s.now().Before(exp) {
		delete(s.sessions, key)
		ok = false
	}
	return ok
}

// end ends r's session, if any, and returns the cookie that clears it.
func (s *sessions) end(r *http.Request) *http.Cookie {
	if c, err := r.Cookie(s.cookie); err == nil {
		key := sha256.Sum256([]byte(c.Value))
		s.mu.Lock()
		delete(s.sessions, key)
		s.mu.Unlock()
	}
	return &http.Cookie{Name: s.cookie, Value: "", Path: "/ui/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteStrictMode}
}

// LoginLink makes a one-time login link to the dashboard landing on p (a
// dashboard path, "/ui/" when empty): valid once, until the time returned
// (at most a minute). Only the API's token holders may ask for one.
func (s *Server) LoginLink(p string) (string, time.Time, error) {
	p, err := LandingPath(p)
	if err != nil {
		return "", time.Time{}, err
	}
	code, expires, err := s.sessions.newLink(p)
	if err != nil {
		return "", time.Time{}, err
	}
	return "http://" + s.cfg.Addr + "/ui/login?code=" + code, expires, nil
}

func (s *Server) handleLogin(w http.ResponseWriter, r *http.Request) {
	cookie, to, ok := s.sessions.useLink(r.URL.Query().Get("code"))
	if !ok {
		s.log.Info("dashboard: login link refused (used, expired or unknown)")
		s.errorPage(w, r, http.StatusUnauthorized, "Login link not valid",
			"This login link was already used, has expired or is unknown: a link works once, within a minute. "+
				"Run `cxnet ui` on the node's machine for a new one.")
		return
	}
	s.log.Info("dashboard: session started", "landing", to)
	http.SetCookie(w, cookie)
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, to, http.StatusSeeOther)
}

func (s *Server) handleLogout(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, s.sessions.end(r))
	s.errorPage(w, r, http.StatusOK, "Signed out", "The session has ended. Run `cxnet ui` for a new login link.")
}

// withSession serves h to requests with a live session; others get a
// page that says how to sign in, and no data.
func (s *Server) withSession(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !s.sessions.valid(r) {
			landing := r.URL.Path // a page; for a download or the event stream, its page
			switch {
			case strings.HasSuffix(landing, "/results.csv"), strings.HasSuffix(landing, "/results.json"):
				landing = path.Dir(landing)
			case landing == "/ui/events":
				landing = "/ui/"
			}
			s.errorPage(w, r, http.StatusUnauthorized, "Sign in",
				"No session: this dashboard shows its node's data only after you sign in. "+
					"On the node's machine, run `cxnet --home DIR ui "+landing+"` and open the link it prints (it works once, within a minute).")
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		if stamp, err := s.src.Changes(r.Context()); err == nil {
			r = r.WithContext(context.WithValue(r.Context(), stampKey{}, stamp))
		}
		h(w, r)
	}
}

package api

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
)

// hostCheck refuses requests whose Host header does not name the local
// API. The API listens on loopback only, but a web page in the operator's
// browser can still reach it: its attacker points the page's own name at
// 127.0.0.1 (DNS rebinding), and the browser then sends the page's
// requests to the API, with Host evil.example:PORT, and lets the page read
// the answers. Naming the API is what such a page cannot do.
type hostCheck struct {
	listen  string // the API's listen address, host:port
	port    string
	refused prometheus.Counter
	log     *slog.Logger
}

// newHostCheck checks against the API's actual listen address (after
// listening: the configured port may be 0). An empty listen address
// admits no Host at all.
func newHostCheck(listen string, refused prometheus.Counter, log *slog.Logger) *hostCheck {
	_, port, _ := net.SplitHostPort(listen)
	return &hostCheck{listen: listen, port: port, refused: refused, log: log}
}

// own reports whether host names this API: its listen address, or a
// loopback name with its port.
func (c *hostCheck) own(host string) bool {
	return c.port != "" && (strings.EqualFold(host, c.listen) || c.loopback(host))
}

// loopback reports whether host is localhost, 127.0.0.0/8 or [::1] with
// the API's port. A Host without a port means HTTP's port, 80.
func (c *hostCheck) loopback(host string) bool {
	name, port, err := net.SplitHostPort(host)
	if err != nil {
		name, port = host, "80"
		if strings.HasPrefix(name, "[") && strings.HasSuffix(name, "]") {
			name = name[1 : len(name)-1]
		}
	}
	if c.port == "" || port != c.port {
		return false
	}
	if strings.EqualFold(name, "localhost") {
		return true
	}
	ip := net.ParseIP(name)
	return ip != nil && ip.IsLoopback()
}

// guard serves only requests whose Host is this API's (own); with
// loopbackOnly, only those whose Host is a loopback name with the API's
// port, whatever address the API listens on.
func (c *hostCheck) guard(h http.Handler, loopbackOnly bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ok := c.own(r.Host)
		if loopbackOnly {
			ok = c.port != "" && c.loopback(r.Host)
		}
		if !ok {
			c.refuse(w, r)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// refuse answers 421 Misdirected Request. The answer names the address
// to use and nothing else: the page that sent the request can read it.
func (c *hostCheck) refuse(w http.ResponseWriter, r *http.Request) {
	c.refused.Inc()
	// The Host is the sender's text: logged quoted by slog, at debug, so
	// that a page in a loop cannot flood the log.
	c.log.Debug("local API refused a request for another Host (a web page rebinding its name to this machine?)",
		"host", r.Host, "method", r.Method, "path", r.URL.Path)
	writeError(w, http.StatusMisdirectedRequest, "wrong_host", fmt.Sprintf(
		"Host %q is not this node's API: it answers only requests addressed to %s, or to localhost, 127.0.0.1 or [::1] with port %s "+
			"(a web page that reaches this port under another name is refused); use `cxnet --home DIR`, or scrape http://%s/metrics",
		r.Host, c.listen, c.port, c.listen))
}

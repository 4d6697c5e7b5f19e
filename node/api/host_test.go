package api

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func TestHostCheck(t *testing.T) {
	served := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "served") })
	tests := []struct {
		name, listen, host string
		own, loopback      bool // served by the API's routes; by /metrics and /healthz
	}{
		{"listen address", "127.0.0.1:8001", "127.0.0.1:8001", true, true},
		{"localhost", "127.0.0.1:8001", "localhost:8001", true, true},
		{"localhost in capitals", "127.0.0.1:8001", "LOCALHOST:8001", true, true},
		{"ipv6 loopback", "127.0.0.1:8001", "[::1]:8001", true, true},
		{"another 127/8 address", "127.0.0.1:8001", "127.0.0.2:8001", true, true},
		{"ipv6 listen address", "[::1]:8001", "[::1]:8001", true, true},
		{"port 80 without a port", "127.0.0.1:80", "localhost", true, true},
		{"bracketed ipv6 without a port", "[::1]:80", "[::1]", true, true},
		{"rebinding page", "127.0.0.1:8001", "evil.example:8001", false, false},
		{"rebinding page without a port", "127.0.0.1:80", "evil.example", false, false},
		{"a name under localhost", "127.0.0.1:8001", "evil.localhost:8001", false, false},
		{"loopback, another port", "127.0.0.1:8001", "127.0.0.1:8002", false, false},
		{"no port means 80", "127.0.0.1:8001", "localhost", false, false},
		{"unbracketed ipv6", "[::1]:8001", "::1:8001", false, false},
		{"empty host", "127.0.0.1:8001", "", false, false},
		{"port only", "127.0.0.1:8001", ":8001", false, false},
		{"not listening yet", "", "localhost:8001", false, false},
		// Should the API ever listen elsewhere, /metrics stays loopback-only.
		{"non-loopback listen address", "10.0.0.5:8001", "10.0.0.5:8001", true, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			refused := prometheus.NewCounter(prometheus.CounterOpts{Name: "refused"})
			c := newHostCheck(tc.listen, refused, slog.New(slog.DiscardHandler))
			for _, route := range []struct {
				loopbackOnly, want bool
			}{{false, tc.own}, {true, tc.loopback}} {
				r := httptest.NewRequest("GET", "/metrics", nil)
				r.Host = tc.host
				w := httptest.NewRecorder()
				c.guard(served, route.loopbackOnly).ServeHTTP(w, r)
				if got := w.Body.String() == "served"; got != route.want {
					t.Errorf("loopbackOnly=%v: Host %q on %s served=%v, want %v (%d %s)", route.loopbackOnly, tc.host, tc.listen, got, route.want, w.Code, w.Body)
				}
				if !route.want && w.Code != http.StatusMisdirectedRequest {
					t.Errorf("loopbackOnly=%v: refused with %d, want 421", route.loopbackOnly, w.Code)
				}
			}
		})
	}
}

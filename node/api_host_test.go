package node_test

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cxnet/cxnet/node"
	"github.com/cxnet/cxnet/node/client"
	"github.com/cxnet/cxnet/node/nodetest"
)

// rawGet sends "GET path" to the API at addr with exactly the given Host
// header (none when host is ""; then over HTTP/1.0, which allows that) and
// the bearer token when token is not "".
func rawGet(t *testing.T, addr, path, host, token string) (code int, body string) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	req := "GET " + path + " HTTP/1.1\r\nHost: " + host + "\r\n"
	if host == "" {
		req = "GET " + path + " HTTP/1.0\r\n"
	}
	if token != "" {
		req += "Authorization: Bearer " + token + "\r\n"
	}
	req += "Connection: close\r\n\r\n"
	if _, err := io.WriteString(conn, req); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("GET %s with Host %q: %v", path, host, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// TestAttackDNSRebindingPage is a web page in the operator's browser
// whose name (evil.example) the attacker re-points at 127.0.0.1: the
// browser then sends the page's own requests to the node's API, with
// Host evil.example:PORT, and lets the page read the answers. Every
// route — /metrics and /healthz without a token, /v1 with one the page
// could have guessed or been given — must refuse it and carry nothing.
func TestAttackDNSRebindingPage(t *testing.T) {
	c := nodetest.NewCluster(t, 1, nodetest.Options{})
	m := c.Nodes[0]
	a, err := os.ReadFile(filepath.Join(m.Home, client.APIAddrFile))
	if err != nil {
		t.Fatal(err)
	}
	addr := strings.TrimSpace(string(a))
	_, port, _ := net.SplitHostPort(addr)
	home, err := node.LoadHome(m.Home)
	if err != nil {
		t.Fatal(err)
	}

	paths := []string{"/metrics", "/healthz", "/v1/status", "/v1/data/stats", "/v1/audit", "/no/such/route"}
	foreign := []string{
		"evil.example:8001",
		"evil.example:" + port, // the rebinding page's own origin
		"evil.example",
		"127.0.0.1.evil.example:" + port,
		"localhost.evil.example:" + port,
		"127.0.0.1:" + otherPort(port), // a loopback name, but another port: a proxy or a forwarder
		"192.168.1.10:" + port,         // the machine's LAN address
		"",                             // no Host at all
	}
	for _, host := range foreign {
		for _, path := range paths {
			code, body := rawGet(t, addr, path, host, home.Token)
			if code != http.StatusMisdirectedRequest {
				t.Errorf("GET %s with Host %q: %d, want 421; body:\n%.300s", path, host, code, body)
				continue
			}
			var e client.Error
			if err := json.Unmarshal([]byte(body), &e); err != nil || e.Kind != "wrong_host" || !strings.Contains(e.Msg, "127.0.0.1:"+port) {
				t.Errorf("GET %s with Host %q: refusal %q does not say which address to use", path, host, body)
			}
			for _, leak := range []string{"cxnet_", "go_goroutines", m.Org, "ok\n", "records"} {
				if strings.Contains(body, leak) {
					t.Errorf("GET %s with Host %q: refusal carries %q:\n%s", path, host, leak, body)
				}
			}
		}
	}

	// The API's own names still work: the CLI, curl and local scrapers.
	for _, host := range []string{addr, "127.0.0.1:" + port, "localhost:" + port, "LocalHost:" + port, "[::1]:" + port} {
		if code, body := rawGet(t, addr, "/metrics", host, ""); code != http.StatusOK || !strings.Contains(body, "cxnet_api_requests_total") {
			t.Errorf("GET /metrics with Host %q: %d\n%.300s", host, code, body)
		}
		if code, body := rawGet(t, addr, "/healthz", host, ""); code != http.StatusOK || body != "ok\n" {
			t.Errorf("GET /healthz with Host %q: %d %q", host, code, body)
		}
		if code, body := rawGet(t, addr, "/v1/status", host, home.Token); code != http.StatusOK || !strings.Contains(body, m.Org) {
			t.Errorf("GET /v1/status with Host %q: %d\n%.300s", host, code, body)
		}
		if code, _ := rawGet(t, addr, "/v1/status", host, ""); code != http.StatusUnauthorized {
			t.Errorf("GET /v1/status with Host %q and no token: %d, want 401", host, code)
		}
	}
	if _, err := m.Client.Status(t.Context()); err != nil {
		t.Errorf("the CLI's client is refused: %v", err)
	}
	// The operator can see the attempts, counted, never quoted.
	_, metrics := rawGet(t, addr, "/metrics", addr, "")
	want := "cxnet_api_wrong_host_total " + strconv.Itoa(len(foreign)*len(paths))
	if !strings.Contains(metrics, want) {
		t.Errorf("/metrics lacks %q", want)
	}
	if strings.Contains(metrics, "evil.example") {
		t.Error("/metrics quotes a refused Host")
	}
}

func otherPort(port string) string {
	if port == "8001" {
		return "8002"
	}
	return "8001"
}

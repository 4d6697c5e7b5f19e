package node_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cxnet/cxnet/node/client"
	"github.com/cxnet/cxnet/node/nodetest"
)

// uiGet sends GET url with the given Host header and cookie, without
// following redirects.
func uiGet(t *testing.T, url, host string, cookie *http.Cookie) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host
	if cookie != nil {
		req.AddCookie(cookie)
	}
	cl := &http.Client{Transport: &http.Transport{Proxy: nil}, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := cl.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// TestUILoginLink: POST /v1/ui/login needs the token and gives a link to
// the API's own address, valid for at most a minute, landing only on a
// dashboard page. The dashboard sits behind the API's Host check: under
// another Host name the link is refused (and not used up), and so is a
// page even with a valid session cookie.
func TestUILoginLink(t *testing.T) {
	ctx := context.Background()
	c := nodetest.NewCluster(t, 1, nodetest.Options{})
	m := c.Nodes[0]
	addr := c.Status(m).API
	_, port, _ := strings.Cut(addr, ":")

	before := time.Now()
	link, err := m.Client.UILogin(ctx, "/ui/audit")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(link.URL, "http://"+addr+"/ui/login?code=") || link.Expires.Before(before) || link.Expires.After(time.Now().Add(time.Minute)) {
		t.Fatalf("link %s, expires %s", link.URL, link.Expires)
	}
	for _, p := range []string{"https://evil.example/", "//evil.example/ui/", "/v1/status", "/ui/../v1/status", "/ui"} {
		var ae *client.Error
		if _, err := m.Client.UILogin(ctx, p); !errors.As(err, &ae) || ae.Status != http.StatusUnprocessableEntity || ae.Kind != "input" {
			t.Errorf("a link landing on %q: %v; want 422 input", p, err)
		}
	}
	resp, err := http.Post("http://"+addr+"/v1/ui/login", "application/json", strings.NewReader(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("POST /v1/ui/login without the token: %d, want 401", resp.StatusCode)
	}

	loginPath := strings.TrimPrefix(link.URL, "http://"+addr)
	if r := uiGet(t, "http://"+addr+loginPath, "evil.example:"+port, nil); r.StatusCode != http.StatusMisdirectedRequest || len(r.Cookies()) != 0 {
		t.Fatalf("login link under a foreign Host: %d, cookies %v; want 421 and none", r.StatusCode, r.Cookies())
	}
	r := uiGet(t, "http://"+addr+loginPath, addr, nil)
	if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/ui/audit" || len(r.Cookies()) != 1 {
		t.Fatalf("login link: %d to %q, cookies %v", r.StatusCode, r.Header.Get("Location"), r.Cookies())
	}
	session := r.Cookies()[0]
	if r := uiGet(t, "http://"+addr+"/ui/audit", "localhost:"+port, session); r.StatusCode != http.StatusOK {
		t.Fatalf("/ui/audit with the session: %d", r.StatusCode)
	}
	for _, host := range []string{"evil.example:" + port, "127.0.0.1.evil.example:" + port, "127.0.0.1:" + otherPort(port)} {
		if r := uiGet(t, "http://"+addr+"/ui/audit", host, session); r.StatusCode != http.StatusMisdirectedRequest {
			t.Errorf("/ui/audit with a session under Host %q: %d, want 421", host, r.StatusCode)
		}
	}
}

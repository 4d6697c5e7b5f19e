package cli

import (
	"bytes"
	"context"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// fakeNode is a node's local API that answers canned JSON, so that command
// output can be compared with golden files.
type fakeNode struct {
	t        *testing.T
	home     string
	srv      *httptest.Server
	answers  map[string]string // "GET /v1/status" -> JSON
	status   map[string]int    // optional non-200 codes
	requests []string          // "METHOD path body"
}

func newFakeNode(t *testing.T, answers map[string]string) *fakeNode {
	t.Helper()
	f := &fakeNode{t: t, answers: answers, status: map[string]int{}, home: t.TempDir()}
	if err := os.WriteFile(filepath.Join(f.home, "api.token"), []byte("secret-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer secret-token" {
			w.WriteHeader(http.StatusUnauthorized)
			io.WriteString(w, `{"error":"bad token"}`)
			return
		}
		body, _ := io.ReadAll(r.Body)
		key := r.Method + " " + r.URL.Path
		f.requests = append(f.requests, key+" "+string(body))
		ans, ok := f.answers[key]
		if !ok {
			w.WriteHeader(http.StatusNotFound)
			io.WriteString(w, `{"error":"no such route in the fake"}`)
			return
		}
		if code := f.status[key]; code != 0 {
			w.WriteHeader(code)
		}
		io.WriteString(w, ans)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

// run runs the cxnet command line against the fake node.
func (f *fakeNode) run(args ...string) (stdout, stderr string, code int) {
	return runCLI(f.home, append([]string{"--api-addr", strings.TrimPrefix(f.srv.URL, "http://")}, args...)...)
}

// runCLI runs the cxnet command line on home, as main does.
func runCLI(home string, args ...string) (stdout, stderr string, code int) {
	var out, errb bytes.Buffer
	app := NewApp(&out, &errb)
	err := Run(context.Background(), app, append([]string{"cxnet", "--home", home}, args...))
	if err != nil {
		errb.WriteString("cxnet: " + err.Error() + "\n")
	}
	return out.String(), errb.String(), ExitCode(err)
}

// golden compares got with testdata/name.golden (rewritten with -update).
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run `go test ./cli -update` to create it)", err)
	}
	if got != string(want) {
		t.Errorf("output differs from %s:\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

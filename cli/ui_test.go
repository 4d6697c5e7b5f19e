package cli

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/cxnet/cxnet/node/client"
)

const uiLoginJSON = `{"url":"http://127.0.0.1:8001/ui/login?code=Zm9vYmFyYmF6","expires":"2026-11-22T09:25:56Z"}`

func TestUI(t *testing.T) {
	var opened []string
	old := openBrowser
	openBrowser = func(url string) error { opened = append(opened, url); return nil }
	t.Cleanup(func() { openBrowser = old })

	f := newFakeNode(t, map[string]string{"POST /v1/ui/login": uiLoginJSON})
	cases := []struct {
		name   string
		args   []string
		golden string
		path   string // the landing path the node is asked for
		opens  bool
	}{
		{"overview", []string{"ui"}, "ui", ``, false},
		{"a contract, short path", []string{"ui", "contracts/nps-care"}, "ui", `/ui/contracts/nps-care`, false},
		{"a contract, full path, opened", []string{"ui", "--open", "/ui/contracts/nps-care"}, "ui", `/ui/contracts/nps-care`, true},
		{"json", []string{"ui", "--json"}, "ui.json", ``, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f.requests, opened = nil, nil
			out, errOut, code := f.run(tc.args...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			golden(t, tc.golden, out)
			var req client.UILoginRequest
			if len(f.requests) != 1 || json.Unmarshal([]byte(strings.TrimPrefix(f.requests[0], "POST /v1/ui/login ")), &req) != nil || req.Path != tc.path {
				t.Fatalf("requests %q; want one asking for path %q", f.requests, tc.path)
			}
			if tc.golden == "ui" && (!strings.Contains(errOut, "valid once, until 09:25:56 UTC") || !strings.Contains(errOut, "ssh -L 8001:127.0.0.1:8001")) {
				t.Errorf("stderr %q: want when the link expires and how to tunnel the port", errOut)
			}
			if got := len(opened) == 1 && opened[0] == "http://127.0.0.1:8001/ui/login?code=Zm9vYmFyYmF6"; got != tc.opens {
				t.Errorf("browser opened %q; want opened: %v", opened, tc.opens)
			}
		})
	}
}

// TestUIRefusesAPathOffTheDashboard: a landing path that is not the
// dashboard's is a usage error, and the node is not asked (the node
// checks the rest: node.TestUILoginLink).
func TestUIRefusesAPathOffTheDashboard(t *testing.T) {
	f := newFakeNode(t, map[string]string{"POST /v1/ui/login": uiLoginJSON})
	for _, p := range []string{"https://evil.example/", "//evil.example/ui/", "/metrics", "/ui", "/ui/https://evil.example/"} {
		if _, errOut, code := f.run("ui", p); code != 2 || !strings.Contains(errOut, "dashboard") {
			t.Errorf("ui %q: exit %d, stderr %q; want 2 and a message", p, code, errOut)
		}
	}
	if _, _, code := f.run("ui", "/ui/", "/ui/audit"); code != 2 {
		t.Errorf("two paths: exit %d, want 2", code)
	}
	if len(f.requests) != 0 {
		t.Fatalf("the node was asked: %q", f.requests)
	}
}

// TestDashboardDownloadsAreTheCLIs: the dashboard's CSV and JSON downloads
// (node/ui) are byte for byte what `cxnet results --csv` and `--json`
// print, for the same result.
func TestDashboardDownloadsAreTheCLIs(t *testing.T) {
	histogram := `{"contract":"h","version":2,"round":"h/3","aggregate":"histogram","participants":["a","b","c"],"decryptors":["a","b"],
 "cells":[{"group":{"period":"2026-Q1","care_setting":"inpatient"},"count":40,"value":[10,20.123456,10],"suppressed":false,"local":{"count":5,"value":[1,2,2]}},
  {"group":{"period":"2026-Q2","care_setting":"inpatient"},"value":null,"suppressed":true,"reason":"differencing"}],
 "privacy":{"min_cohort":11,"epsilon":0,"suppressed":1}}`
	for name, body := range map[string]string{"nps": resultsJSON, "histogram": histogram} {
		t.Run(name, func(t *testing.T) {
			f := newFakeNode(t, map[string]string{"GET /v1/results/x": body})
			var res client.Results
			if err := json.Unmarshal([]byte(body), &res); err != nil {
				t.Fatal(err)
			}
			for _, format := range []string{"--csv", "--json"} {
				out, errOut, code := f.run("results", "x", format)
				if code != 0 {
					t.Fatalf("exit %d: %s", code, errOut)
				}
				var buf bytes.Buffer
				write := client.WriteResultsCSV
				if format == "--json" {
					write = client.WriteResultsJSON
				}
				if err := write(&buf, &res); err != nil {
					t.Fatal(err)
				}
				if buf.String() != out {
					t.Errorf("results %s:\n%s\ndashboard download:\n%s", format, out, buf.String())
				}
			}
		})
	}
}

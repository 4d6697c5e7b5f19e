package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cxnet/cxnet/simulations/cms"
)

func TestRun(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "part1.csv")
	tests := []struct {
		name       string
		args       []string
		code       int
		wantStderr string
	}{
		{"one share", []string{"-split", "4", "-part", "1", "-o", out}, 0, "part 1 of 4: 262 facilities"},
		{"part out of range", []string{"-split", "2", "-part", "2"}, 2, "need split >= 1"},
		{"bad flag", []string{"-parts", "2"}, 2, "flag provided but not defined"},
		{"missing input", []string{"-in", filepath.Join(dir, "nope.csv")}, 1, "no such file"},
		{"input not CMS", []string{"-in", out, "-q"}, 1, "no column"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := run(tt.args, &stdout, &stderr); code != tt.code {
				t.Fatalf("exit %d, want %d; stderr: %s", code, tt.code, stderr.String())
			}
			if !strings.Contains(stderr.String(), tt.wantStderr) {
				t.Errorf("stderr %q, want it to contain %q", stderr.String(), tt.wantStderr)
			}
		})
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(b), cms.Header+"\n") {
		t.Errorf("output starts %q, want the header", b[:min(len(b), 80)])
	}
}

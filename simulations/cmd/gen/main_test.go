package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cxnet/cxnet/simulations/synth"
)

func TestRun(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name       string
		args       []string
		code       int
		wantHeader string // of the output file, when -o is given
		wantLines  int
	}{
		{"survey", []string{"-rows", "50", "-seed", "2", "-o", filepath.Join(dir, "s.csv")}, 0, synth.SurveyHeader, 51},
		{"dispenses", []string{"-dispenses", "40", "-o", filepath.Join(dir, "d.csv")}, 0, synth.DispenseHeader, 41},
		{"bad flag", []string{"-rowz", "5"}, 2, "", 0},
		{"stray argument", []string{"file.csv"}, 2, "", 0},
		{"bad config", []string{"-rows", "-3"}, 1, "", 0},
		{"unwritable output", []string{"-o", filepath.Join(dir, "missing", "x.csv")}, 1, "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := run(tt.args, &stdout, &stderr); code != tt.code {
				t.Fatalf("exit %d, want %d; stderr: %s", code, tt.code, stderr.String())
			}
			if tt.wantHeader == "" {
				return
			}
			b, err := os.ReadFile(tt.args[len(tt.args)-1])
			if err != nil {
				t.Fatal(err)
			}
			lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
			if lines[0] != tt.wantHeader || len(lines) != tt.wantLines {
				t.Errorf("header %q and %d lines, want %q and %d", lines[0], len(lines), tt.wantHeader, tt.wantLines)
			}
		})
	}
}

func TestRunStdout(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run([]string{"-rows", "3"}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	if n := strings.Count(stdout.String(), "\n"); n != 4 {
		t.Errorf("%d lines on stdout, want 4", n)
	}
}

package cli

import (
	"io"
	"reflect"
	"strings"
	"testing"
)

func TestNormalizeArgs(t *testing.T) {
	app := NewApp(io.Discard, io.Discard)
	tests := []struct{ in, want string }{
		{"cxnet status --home H --json", "cxnet --home H status --json"},
		{"cxnet --home H status --json", "cxnet --home H status --json"},
		{"cxnet contract preview FILE --json --home=H", "cxnet --home=H contract preview --json FILE"},
		{"cxnet data import --home H --format fhir --map M a.json b.json --dry-run", "cxnet --home H data import --format fhir --map M --dry-run a.json b.json"},
		{"cxnet init --home H --org a --listen /ip4/1 --listen /ip4/2", "cxnet --home H init --org a --listen /ip4/1 --listen /ip4/2"},
		{"cxnet data import -- --odd-name.csv", "cxnet data import -- --odd-name.csv"},
		{"cxnet status --wait 30s --home H", "cxnet --home H status --wait 30s"},
	}
	for _, tt := range tests {
		got := normalizeArgs(app, strings.Fields(tt.in))
		if !reflect.DeepEqual(got, strings.Fields(tt.want)) {
			t.Errorf("normalizeArgs(%q) = %q, want %q", tt.in, strings.Join(got, " "), tt.want)
		}
	}
}

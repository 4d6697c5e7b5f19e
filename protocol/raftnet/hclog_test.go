package raftnet

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"
)

func TestHCLog(t *testing.T) {
	reset := errors.New("stream reset")
	tests := []struct {
		name string
		log  func(hclog.Logger)
		want string // "" means nothing logged
	}{
		{"info", func(l hclog.Logger) { l.Info("entering follower state", "leader", "x") }, "level=INFO msg=\"entering follower state\" leader=x"},
		{"error value", func(l hclog.Logger) { l.Error("failed to appendEntries to", "error", errors.New("refused")) }, "level=ERROR msg=\"failed to appendEntries to\" error=refused"},
		{"decode reset is debug", func(l hclog.Logger) { l.Error("failed to decode incoming command", "error", reset) }, "level=DEBUG"},
		{"pipeline reset is debug", func(l hclog.Logger) { l.Error("failed to pipeline appendEntries", "error", reset) }, "level=DEBUG"},
		{"other decode error stays", func(l hclog.Logger) { l.Error("failed to decode incoming command", "error", errors.New("bad msgpack")) }, "level=ERROR"},
		{"trace below debug", func(l hclog.Logger) { l.Trace("noise") }, ""},
		{"odd args", func(l hclog.Logger) { l.Warn("odd", "k") }, "EXTRA_VALUE_AT_END=k"},
		{"hclog.Fmt", func(l hclog.Logger) { l.Info("progress", "percent", hclog.Fmt("%0.2f%%", 50.0)) }, "percent=50.00%"},
		{"with and named", func(l hclog.Logger) { l.Named("raft").With("id", "a").Warn("w") }, "msg=w logger=raft id=a"},
		{"set level off", func(l hclog.Logger) { l.SetLevel(hclog.Off); l.Error("e") }, ""},
		{"standard logger", func(l hclog.Logger) { l.StandardLogger(nil).Print("from log") }, "msg=\"from log\""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			l := HCLog(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})))
			tc.log(l)
			got := buf.String()
			if tc.want == "" {
				if got != "" {
					t.Fatalf("logged %q, want nothing", got)
				}
				return
			}
			if !strings.Contains(got, tc.want) {
				t.Fatalf("logged %q, want it to contain %q", got, tc.want)
			}
		})
	}
	l := HCLog(slog.New(slog.NewTextHandler(&bytes.Buffer{}, &slog.HandlerOptions{Level: slog.LevelInfo})))
	if l.IsDebug() || !l.IsInfo() || l.GetLevel() != hclog.Info {
		t.Errorf("levels: IsDebug %v IsInfo %v GetLevel %v", l.IsDebug(), l.IsInfo(), l.GetLevel())
	}
	if n := l.Named("a").Named("b").Name(); n != "a.b" {
		t.Errorf("Name() = %q", n)
	}
}

package raftnet

import (
	"context"
	"fmt"
	"io"
	"log"
	"log/slog"
	"strings"
	"sync/atomic"

	"github.com/hashicorp/go-hclog"
)

// HCLog adapts a slog logger to the hclog.Logger that raft and its
// transport take (raft.Config.Logger), so raft's lines land in the node's
// structured log. Raft's errors about a stream that broke mid-RPC ("failed
// to decode incoming command", "failed to pipeline appendEntries" with a
// stream reset or EOF) are logged at debug: they appear whenever a peer
// shuts down; if the peer stays away raft goes on to log failed dials.
func HCLog(l *slog.Logger) hclog.Logger {
	if l == nil {
		l = slog.New(slog.DiscardHandler)
	}
	return &hcLogger{l: l, level: new(atomic.Int32)}
}

type hcLogger struct {
	l       *slog.Logger
	name    string
	implied []any
	level   *atomic.Int32 // hclog.Level below which nothing is logged; 0 = all
}

var _ hclog.Logger = (*hcLogger)(nil)

// slogLevel maps hclog levels onto slog's (trace is below debug).
func slogLevel(l hclog.Level) slog.Level {
	switch l {
	case hclog.Trace:
		return slog.LevelDebug - 4
	case hclog.Debug:
		return slog.LevelDebug
	case hclog.Warn:
		return slog.LevelWarn
	case hclog.Error:
		return slog.LevelError
	default:
		return slog.LevelInfo
	}
}

// harmless reports whether an error line from raft is routine noise when
// peers come and go.
func harmless(msg string, args []any) bool {
	if !strings.Contains(msg, "failed to decode incoming command") && !strings.Contains(msg, "failed to pipeline appendEntries") {
		return false
	}
	for _, a := range args {
		if err, ok := a.(error); ok {
			s := err.Error()
			if strings.Contains(s, "stream reset") || strings.Contains(s, "EOF") || strings.Contains(s, "closed") {
				return true
			}
		}
	}
	return false
}

func (h *hcLogger) Log(level hclog.Level, msg string, args ...any) {
	if level == hclog.Off || (h.level.Load() != 0 && level < hclog.Level(h.level.Load())) {
		return
	}
	if level >= hclog.Warn && harmless(msg, args) {
		level = hclog.Debug
	}
	lvl := slogLevel(level)
	if !h.l.Enabled(context.Background(), lvl) {
		return
	}
	h.l.Log(context.Background(), lvl, msg, normalize(args)...)
}

// normalize turns hclog's key/value list into slog's: odd lists get a
// final "EXTRA_VALUE_AT_END" key as in hclog, error values become strings.
func normalize(args []any) []any {
	out := make([]any, 0, len(args)+1)
	for i := 0; i < len(args); i += 2 {
		key, ok := args[i].(string)
		if !ok {
			key = fmt.Sprint(args[i])
		}
		if i+1 >= len(args) {
			out = append(out, "EXTRA_VALUE_AT_END", args[i])
			break
		}
		v := args[i+1]
		switch x := v.(type) {
		case error:
			if x != nil {
				v = x.Error()
			}
		case hclog.Format: // hclog.Fmt("%d%%", n): a format and its arguments
			if len(x) > 0 {
				if f, ok := x[0].(string); ok {
					v = fmt.Sprintf(f, x[1:]...)
				}
			}
		}
		out = append(out, key, v)
	}
	return out
}

func (h *hcLogger) Trace(msg string, args ...any) { h.Log(hclog.Trace, msg, args...) }
func (h *hcLogger) Debug(msg string, args ...any) { h.Log(hclog.Debug, msg, args...) }
func (h *hcLogger) Info(msg string, args ...any)  { h.Log(hclog.Info, msg, args...) }
func (h *hcLogger) Warn(msg string, args ...any)  { h.Log(hclog.Warn, msg, args...) }
func (h *hcLogger) Error(msg string, args ...any) { h.Log(hclog.Error, msg, args...) }

func (h *hcLogger) enabled(l hclog.Level) bool {
	if h.level.Load() != 0 && l < hclog.Level(h.level.Load()) {
		return false
	}
	return h.l.Enabled(context.Background(), slogLevel(l))
}

func (h *hcLogger) IsTrace() bool { return h.enabled(hclog.Trace) }
func (h *hcLogger) IsDebug() bool { return h.enabled(hclog.Debug) }
func (h *hcLogger) IsInfo() bool  { return h.enabled(hclog.Info) }
func (h *hcLogger) IsWarn() bool  { return h.enabled(hclog.Warn) }
func (h *hcLogger) IsError() bool { return h.enabled(hclog.Error) }

func (h *hcLogger) ImpliedArgs() []any { return h.implied }

func (h *hcLogger) With(args ...any) hclog.Logger {
	args = normalize(args)
	return &hcLogger{
		l:       h.l.With(args...),
		name:    h.name,
		implied: append(append([]any(nil), h.implied...), args...),
		level:   h.level,
	}
}

func (h *hcLogger) Name() string { return h.name }

func (h *hcLogger) Named(name string) hclog.Logger {
	if h.name != "" {
		name = h.name + "." + name
	}
	return h.ResetNamed(name)
}

func (h *hcLogger) ResetNamed(name string) hclog.Logger {
	return &hcLogger{l: h.l.With("logger", name), name: name, implied: h.implied, level: h.level}
}

func (h *hcLogger) SetLevel(level hclog.Level) { h.level.Store(int32(level)) }

func (h *hcLogger) GetLevel() hclog.Level {
	if l := hclog.Level(h.level.Load()); l != hclog.NoLevel {
		return l
	}
	for _, l := range []hclog.Level{hclog.Trace, hclog.Debug, hclog.Info, hclog.Warn, hclog.Error} {
		if h.l.Enabled(context.Background(), slogLevel(l)) {
			return l
		}
	}
	return hclog.Off
}

func (h *hcLogger) StandardLogger(opts *hclog.StandardLoggerOptions) *log.Logger {
	level := slog.LevelInfo
	if opts != nil && opts.ForceLevel != hclog.NoLevel {
		level = slogLevel(opts.ForceLevel)
	}
	return slog.NewLogLogger(h.l.Handler(), level)
}

func (h *hcLogger) StandardWriter(opts *hclog.StandardLoggerOptions) io.Writer {
	return h.StandardLogger(opts).Writer()
}

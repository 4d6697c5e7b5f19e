package rounds

import (
	"fmt"
	"strings"
	"time"

	"github.com/cxnet/cxnet/node/client"
)

// Trace times the steps of a round this node aggregates.
type Trace struct {
	start time.Time
	steps []traceStep
}

type traceStep struct {
	Name     string
	Duration time.Duration
	at       time.Time
}

func newTrace() *Trace { return &Trace{start: time.Now()} }

// step ends the current step and starts the next.
func (t *Trace) step(name string) {
	if t == nil {
		return
	}
	t.done()
	t.steps = append(t.steps, traceStep{Name: name, at: time.Now()})
}

// done ends the current step.
func (t *Trace) done() {
	if t == nil || len(t.steps) == 0 {
		return
	}
	if last := &t.steps[len(t.steps)-1]; last.Duration == 0 {
		last.Duration = time.Since(last.at)
	}
}

// current names the step under way (or the last).
func (t *Trace) current() string {
	if t == nil || len(t.steps) == 0 {
		return ""
	}
	return t.steps[len(t.steps)-1].Name
}

// Steps is the trace as the API gives it: never nil, for a round this
// node ran.
func (t *Trace) Steps() []client.TraceStep {
	out := []client.TraceStep{}
	if t == nil {
		return out
	}
	for _, s := range t.steps {
		out = append(out, client.TraceStep{Step: s.Name, Seconds: s.Duration.Seconds()})
	}
	return append(out, client.TraceStep{Step: "total", Seconds: time.Since(t.start).Seconds()})
}

func (t *Trace) String() string {
	var b strings.Builder
	for _, s := range t.steps {
		fmt.Fprintf(&b, "%s=%v ", s.Name, s.Duration.Round(100*time.Microsecond))
	}
	fmt.Fprintf(&b, "total=%v", time.Since(t.start).Round(100*time.Microsecond))
	return b.String()
}

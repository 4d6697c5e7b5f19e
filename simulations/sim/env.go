package sim

import (
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"sync"

	"github.com/cxnet/cxnet/node/nodetest"
)

// Env runs a simulation outside `go test` (simulations/cmd/sim): it is
// the nodetest.TB that the shared harness needs. Fatal ends the
// simulation's goroutine with the error, as t.Fatal ends a test; Run
// waits for it and then runs the cleanups, newest first.
type Env struct {
	log io.Writer
	dir string

	mu       sync.Mutex
	err      error
	cleanups []func()
	temps    int
}

var _ nodetest.TB = (*Env)(nil)

// NewEnv is an environment whose temporary directories go under dir
// (os.MkdirTemp's default when "") and whose log lines go to log (nil:
// discarded).
func NewEnv(dir string, log io.Writer) (*Env, error) {
	if log == nil {
		log = io.Discard
	}
	d, err := os.MkdirTemp(dir, "cxnet-sim-")
	if err != nil {
		return nil, fmt.Errorf("sim: temporary directory: %w", err)
	}
	return &Env{log: log, dir: d}, nil
}

// Run runs f in its own goroutine, waits for it to return or fail, runs
// the cleanups and removes the temporary directories. It returns the
// failure, if any.
func (e *Env) Run(f func(e *Env)) error {
	done := make(chan struct{})
	go func() {
		defer close(done)
		f(e)
	}()
	<-done
	e.mu.Lock()
	cleanups := e.cleanups
	e.cleanups = nil
	e.mu.Unlock()
	var errs []error
	if e.err != nil {
		errs = append(errs, e.err)
	}
	for i := len(cleanups) - 1; i >= 0; i-- {
		if err := cleanup(cleanups[i]); err != nil {
			errs = append(errs, err)
		}
	}
	if err := os.RemoveAll(e.dir); err != nil {
		errs = append(errs, fmt.Errorf("sim: remove %s: %w", e.dir, err))
	}
	return errors.Join(errs...)
}

// cleanup runs f, turning a panic (nodetest's "node did not stop") into
// an error, so that the other cleanups still run.
func cleanup(f func()) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("cleanup: %v", r)
		}
	}()
	f()
	return nil
}

// Helper does nothing: there is no test to attribute lines to.
func (e *Env) Helper() {}

// Log writes a log line.
func (e *Env) Log(args ...any) {
	e.mu.Lock()
	defer e.mu.Unlock()
	fmt.Fprintln(e.log, args...)
}

// Fatal records the failure and ends the calling goroutine.
func (e *Env) Fatal(args ...any) { e.fail(fmt.Sprint(args...)) }

// Fatalf records the failure and ends the calling goroutine.
func (e *Env) Fatalf(format string, args ...any) { e.fail(fmt.Sprintf(format, args...)) }

func (e *Env) fail(msg string) {
	e.mu.Lock()
	if e.err == nil {
		e.err = fmt.Errorf("%s", msg)
	}
	fmt.Fprintln(e.log, "FAIL:", msg)
	e.mu.Unlock()
	runtime.Goexit()
}

// TempDir returns a new directory under the environment's own.
func (e *Env) TempDir() string {
	e.mu.Lock()
	e.temps++
	n := e.temps
	e.mu.Unlock()
	d := fmt.Sprintf("%s/%03d", e.dir, n)
	if err := os.Mkdir(d, 0o700); err != nil {
		e.Fatalf("sim: temporary directory: %v", err)
	}
	return d
}

// Cleanup registers f to run when Run ends.
func (e *Env) Cleanup(f func()) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.cleanups = append(e.cleanups, f)
}

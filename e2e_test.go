package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The end-to-end tests build the cxnet binary once and drive real cxnet
// processes through the command line, as a partner's IT team would.

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

func cxnetBin(t testing.TB) string {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end test: skipped with -short")
	}
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "cxnet-e2e-bin")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "cxnet")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// result is what one cxnet command did.
type result struct {
	stdout, stderr string
	code           int
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
}

// cx runs one cxnet command against home and waits for it.
func cx(t testing.TB, home string, args ...string) result {
	t.Helper()
	cmd := exec.Command(cxnetBin(t), append([]string{"--home", home}, args...)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("cxnet %v: %v", args, err)
	}
	return result{out.String(), errb.String(), code}
}

func cxOK(t testing.TB, home string, args ...string) string {
	t.Helper()
	r := cx(t, home, args...)
	if r.code != 0 {
		t.Fatalf("cxnet %s: %v", strings.Join(args, " "), r)
	}
	return r.stdout
}

func cxJSON(t testing.TB, home string, v any, args ...string) {
	t.Helper()
	out := cxOK(t, home, append(args, "--json")...)
	if err := json.Unmarshal([]byte(out), v); err != nil {
		t.Fatalf("cxnet %v --json: %v\n%s", args, err, out)
	}
}

// daemon is a running `cxnet run`.
type daemon struct {
	home string
	cmd  *exec.Cmd
	logs *syncBuffer
	done chan error
}

// syncBuffer is a bytes.Buffer safe for the process's writes and the
// test's reads.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// initNode creates a node home with ports chosen by the OS.
func initNode(t testing.TB, org string) string {
	t.Helper()
	home := filepath.Join(t.TempDir(), org)
	cxOK(t, home, "init", "--org", org, "--name", "Test "+org, "--kind", "hospital",
		"--api", "127.0.0.1:0", "--listen", fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", freePort(t)))
	return home
}

// freePort asks the OS for a free TCP port on loopback, so that a node
// keeps its address across restarts, as a real one does.
func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func startDaemon(t testing.TB, home string) *daemon {
	t.Helper()
	return startDaemonArgs(t, home)
}

// startDaemonArgs starts `cxnet run` with extra flags and waits until it
// is ready.
func startDaemonArgs(t testing.TB, home string, args ...string) *daemon {
	t.Helper()
	d := &daemon{home: home, logs: &syncBuffer{}, done: make(chan error, 1)}
	d.cmd = exec.Command(cxnetBin(t), append([]string{"--home", home, "run", "--log-level", "debug"}, args...)...)
	d.cmd.Stdout, d.cmd.Stderr = d.logs, d.logs
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { d.done <- d.cmd.Wait() }()
	t.Cleanup(func() {
		d.stop(t, syscall.SIGKILL)
		// Privacy: no raw subject (every test subject is "patient-…") and
		// no refused value (the bad-input tests use "canary-nine") appears in a
		// daemon's log, even at debug level.
		for _, secret := range []string{"patient-", "canary-nine"} {
			if strings.Contains(d.logs.String(), secret) {
				t.Errorf("daemon log holds %q", secret)
			}
		}
		if t.Failed() {
			t.Logf("daemon %s log:\n%s", home, d.logs)
		}
	})
	if r := cx(t, home, "status", "--wait", "30s"); r.code != 0 {
		t.Fatalf("daemon did not become ready: %v\nlog:\n%s", r, d.logs)
	}
	return d
}

// stop signals the daemon and waits for it to exit.
func (d *daemon) stop(t testing.TB, sig syscall.Signal) error {
	if d.cmd.ProcessState != nil {
		return nil
	}
	d.cmd.Process.Signal(sig)
	select {
	case err := <-d.done:
		return err
	case <-time.After(30 * time.Second):
		d.cmd.Process.Kill()
		t.Errorf("daemon did not stop within 30s of %v", sig)
		return <-d.done
	}
}

func TestE2EInitRefusesExistingHomeAndKeepsSecretsPrivate(t *testing.T) {
	home := initNode(t, "hosp-a")
	r := cx(t, home, "init", "--org", "hosp-b")
	if r.code != 1 || !strings.Contains(r.stderr, "already a cxnet home") {
		t.Fatalf("second init: %v", r)
	}
	err := filepath.WalkDir(home, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		fi, _ := d.Info()
		if strings.HasPrefix(d.Name(), "config") {
			return nil
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600", path, fi.Mode().Perm())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestE2EDaemonNotRunning(t *testing.T) {
	home := initNode(t, "hosp-a")
	r := cx(t, home, "data", "stats")
	if r.code != 1 || !strings.Contains(r.stderr, "not running") || !strings.Contains(r.stderr, "cxnet run --home") {
		t.Fatalf("data stats without daemon: %v", r)
	}
	r = cx(t, filepath.Join(t.TempDir(), "nowhere"), "status")
	if r.code != 1 || !strings.Contains(r.stderr, "cxnet init") {
		t.Fatalf("status without home: %v", r)
	}
}

func TestE2EUsageErrors(t *testing.T) {
	home := initNode(t, "hosp-a")
	for _, args := range [][]string{
		{"no-such-command"},
		{"data", "import"},
		{"status", "--no-such-flag"},
		{"contract", "preview"},
	} {
		if r := cx(t, home, args...); r.code != 2 {
			t.Errorf("cxnet %v: exit %d, want 2 (usage)\n%v", args, r.code, r)
		}
	}
}

func TestE2EGracefulShutdown(t *testing.T) {
	home := initNode(t, "hosp-a")
	d := startDaemon(t, home)
	var st map[string]any
	cxJSON(t, home, &st, "status")
	if st["org"] != "hosp-a" || st["ready"] != true || st["peer_id"] == "" {
		t.Fatalf("status = %v", st)
	}
	if err := d.stop(t, syscall.SIGTERM); err != nil {
		t.Fatalf("daemon exit after SIGTERM: %v\n%s", err, d.logs)
	}
	if _, err := os.Stat(filepath.Join(home, "api.addr")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("api.addr left behind after a clean shutdown")
	}
	if !strings.Contains(d.logs.String(), "stopped") {
		t.Errorf("no clean-stop log line:\n%s", d.logs)
	}
	// And it starts again on the same home.
	startDaemon(t, home)
}

// scrapeMetrics returns the node's Prometheus exposition (/metrics needs no
// token).
func scrapeMetrics(t testing.TB, home string) []byte {
	t.Helper()
	addr, err := os.ReadFile(filepath.Join(home, "api.addr"))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get("http://" + strings.TrimSpace(string(addr)) + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Command demo runs cxnet on real public data, end to end through the
// cxnet command line, and prints the results beside the figures CMS
// published for the same data: a hospital node is initialised and started,
// imports one record per completed CMS outpatient survey (664,137 of them,
// rebuilt from the July 2024 Care Compare release), and previews three KPI
// contracts over its own data.
//
// Until the consortium plane lands this is a single node; nothing here is
// simulated but the respondents, whose split follows CMS's published
// percentages.
//
//	go run ./simulations/cmd/demo -cxnet bin/cxnet
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/cxnet/cxnet/simulations/cms"
)

func main() {
	bin := flag.String("cxnet", "bin/cxnet", "the cxnet binary")
	keep := flag.Bool("keep", false, "keep the node's home directory")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *bin, *keep, os.Stdout); err != nil {
		fmt.Fprintf(os.Stderr, "demo: %v\n", err)
		os.Exit(1)
	}
}

type demo struct {
	bin, home string
	out       io.Writer
}

func (d *demo) cx(args ...string) (string, error) {
	cmd := exec.Command(d.bin, append([]string{"--home", d.home}, args...)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("cxnet %s: %v\n%s", strings.Join(args, " "), err, errb.String())
	}
	return out.String(), nil
}

func (d *demo) step(format string, a ...any) {
	fmt.Fprintf(d.out, "\n== "+format+"\n", a...)
}

func run(ctx context.Context, bin string, keep bool, out io.Writer) error {
	bin, err := filepath.Abs(bin)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "cxnet-demo")
	if err != nil {
		return err
	}
	if keep {
		defer fmt.Fprintf(out, "\nkept %s\n", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	d := &demo{bin: bin, home: filepath.Join(dir, "hosp-a"), out: out}

	d.step("1. a hospital node: cxnet init, cxnet run")
	if _, err := d.cx("init", "--org", "hosp-a", "--name", "Outpatient departments (CMS OAS CAHPS)", "--kind", "hospital",
		"--api", "127.0.0.1:0", "--listen", "/ip4/127.0.0.1/tcp/0"); err != nil {
		return err
	}
	daemon := exec.CommandContext(ctx, bin, "--home", d.home, "run")
	logf, err := os.Create(filepath.Join(dir, "node.log"))
	if err != nil {
		return err
	}
	defer logf.Close()
	daemon.Stdout, daemon.Stderr = logf, logf
	daemon.Cancel = func() error { return daemon.Process.Signal(syscall.SIGTERM) }
	if err := daemon.Start(); err != nil {
		return err
	}
	defer func() {
		daemon.Process.Signal(syscall.SIGTERM)
		daemon.Wait()
	}()
	st, err := d.cx("status", "--wait", "60s")
	if err != nil {
		return err
	}
	fmt.Fprint(out, st)

	d.step("2. import one record per completed survey (CMS Care Compare, July 2024)")
	csvPath := filepath.Join(dir, "cms.csv")
	if err := writeCMS(csvPath); err != nil {
		return err
	}
	start := time.Now()
	imp, err := d.cx("data", "import", csvPath)
	if err != nil {
		return err
	}
	fmt.Fprint(out, imp)
	fmt.Fprintf(out, "(%.1f s wall, through the local API)\n", time.Since(start).Seconds())
	stats, err := d.cx("data", "stats")
	if err != nil {
		return err
	}
	fmt.Fprint(out, stats)

	pub, err := cms.Published()
	if err != nil {
		return err
	}
	states := make([]string, 0, len(pub))
	for s := range pub {
		states = append(states, s)
	}
	sort.Strings(states)

	d.step("3. contract: completed surveys per state (count) — must equal CMS exactly")
	counts, err := d.preview(dir, "surveys-by-state", "rating", "count", "", states)
	if err != nil {
		return err
	}
	exact := 0
	var total int64
	for _, s := range states {
		if counts[s].count == int64(pub[s].Completed) {
			exact++
		}
		total += counts[s].count
	}
	nat, err := cms.National()
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "%d of %d states equal CMS's published count of completed surveys; total %d (CMS national: %d)\n",
		exact, len(states), total, nat.Completed)

	d.step("4. contract: share of 9-10 ratings (proportion >= 9), per state")
	shares, err := d.preview(dir, "topbox-by-state", "rating", "proportion", "threshold: 9\nvalue_range: [0, 10]", states)
	if err != nil {
		return err
	}
	d.step("5. contract: mean of facilities' published %% of 9-10 (mean), per state")
	means, err := d.preview(dir, "facility-topbox-by-state", "rating_9_10_pct", "mean", "value_range: [0, 100]\nprecision: 0", states)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "\n%-5s %9s %11s %13s %9s\n", "state", "surveys", "9-10 share", "facility mean", "CMS %")
	within := 0
	for _, s := range states {
		diff := math.Abs(means[s].value - float64(pub[s].Rating9to10))
		if diff <= 1 {
			within++
		}
		fmt.Fprintf(out, "%-5s %9d %10.1f%% %12.1f%% %8d%%\n", s, counts[s].count, 100*shares[s].value, means[s].value, pub[s].Rating9to10)
	}
	fmt.Fprintf(out, "\nthe facility mean is within 1 point of CMS's state figure in %d of %d states\n", within, len(states))
	fmt.Fprintln(out, "(CMS's state figure is close to the plain mean of its facilities' percents; the pooled 9-10 share weighs each patient equally)")
	return nil
}

type cellValue struct {
	count int64
	value float64
}

// preview writes a contract grouped by state and returns its cells.
func (d *demo) preview(dir, id, measure, aggregate, extra string, states []string) (map[string]cellValue, error) {
	path := filepath.Join(dir, id+".yaml")
	body := fmt.Sprintf("id: %s\nmeasure: %s\naggregate: %s\n%s\ngroup_by:\n  state: [%s]\nwindow: {from: 2022-10-01, to: 2023-09-30}\nparticipants: [hosp-a]\nprivacy: {min_cohort: 11}\n",
		id, measure, aggregate, extra, strings.Join(states, ", "))
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		return nil, err
	}
	js, err := d.cx("contract", "preview", path, "--json")
	if err != nil {
		return nil, err
	}
	var p struct {
		Scanned int64   `json:"scanned"`
		Seconds float64 `json:"seconds"`
		Cells   []struct {
			Group map[string]string `json:"group"`
			Count int64             `json:"count"`
			Value *float64          `json:"value"`
		} `json:"cells"`
	}
	if err := json.Unmarshal([]byte(js), &p); err != nil {
		return nil, err
	}
	fmt.Fprintf(d.out, "cxnet contract preview %s.yaml: %s over %d records, %d cells, %.2f s\n", id, aggregate, p.Scanned, len(p.Cells), p.Seconds)
	out := map[string]cellValue{}
	for _, c := range p.Cells {
		v := cellValue{count: c.Count}
		if c.Value != nil {
			v.value = *c.Value
		}
		out[c.Group["state"]] = v
	}
	return out, nil
}

func writeCMS(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	facilities, err := cms.Facilities()
	if err != nil {
		return err
	}
	if _, err := cms.WriteRecords(f, facilities, cms.Options{FacilityMeans: true}); err != nil {
		return err
	}
	return f.Close()
}

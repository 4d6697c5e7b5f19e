// Command demo runs cxnet on real public data, end to end through the
// cxnet command line, and prints the results:
//
//  1. one hospital node imports one record per completed CMS outpatient
//     survey (664,137 of them, rebuilt from the July 2024 Care Compare
//     release) and previews KPI contracts over its own data, beside the
//     figures CMS published for the same data;
//  2. three hospital nodes, each holding a third of the facilities, form a
//     consortium over libp2p (admission by majority), set up their
//     collective homomorphic key, agree a KPI contract through raft with
//     signed approvals, preview it over their own records, and run an
//     encrypted round: the network's count per state equals CMS's, and its
//     9-10 share equals part 1's single node holding all the data, while
//     no hospital's records or values ever left its node.
//
// Nothing here is simulated but the respondents, whose split follows CMS's
// published percentages.
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
	keep := flag.Bool("keep", false, "keep the nodes' home directories")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *bin, *keep, os.Stdout); err != nil {
		fmt.Fprintf(os.Stderr, "demo: %v\n", err)
		os.Exit(1)
	}
}

type demo struct {
	ctx     context.Context
	bin     string
	dir     string
	out     io.Writer
	daemons []*exec.Cmd
	states  []string // sorted state codes CMS publishes figures for
	pub     map[string]cms.Figures
	pooled  map[string]cellValue // part 1's 9-10 share per state, all data on one node
}

// cx runs one cxnet command against home.
func (d *demo) cx(home string, args ...string) (string, error) {
	cmd := exec.CommandContext(d.ctx, d.bin, append([]string{"--home", home}, args...)...)
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

// startNode runs `cxnet init` and `cxnet run` for an organisation and
// waits until its daemon is ready. The daemon's log goes to DIR/ORG.log.
func (d *demo) startNode(org, name string) (string, error) {
	home := filepath.Join(d.dir, org)
	if _, err := d.cx(home, "init", "--org", org, "--name", name, "--kind", "hospital",
		"--api", "127.0.0.1:0", "--listen", "/ip4/127.0.0.1/tcp/0"); err != nil {
		return "", err
	}
	logf, err := os.Create(filepath.Join(d.dir, org+".log"))
	if err != nil {
		return "", err
	}
	cmd := exec.Command(d.bin, "--home", home, "run", "--raft-heartbeat", "500ms")
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return "", err
	}
	d.daemons = append(d.daemons, cmd)
	if _, err := d.cx(home, "status", "--wait", "60s"); err != nil {
		return "", err
	}
	return home, nil
}

func (d *demo) stopAll() {
	for _, cmd := range d.daemons {
		cmd.Process.Signal(syscall.SIGTERM)
	}
	for _, cmd := range d.daemons {
		cmd.Wait()
	}
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
	d := &demo{ctx: ctx, bin: bin, dir: dir, out: out}
	defer d.stopAll()
	if d.pub, err = cms.Published(); err != nil {
		return err
	}
	for s := range d.pub {
		d.states = append(d.states, s)
	}
	sort.Strings(d.states)
	if err := d.singleNode(); err != nil {
		return err
	}
	return d.consortium()
}

// singleNode is part 1: every facility on one node, checked against CMS.
func (d *demo) singleNode() error {
	out := d.out
	d.step("1. a hospital node: cxnet init, cxnet run")
	home, err := d.startNode("cms-all", "Outpatient departments (CMS OAS CAHPS)")
	if err != nil {
		return err
	}
	st, err := d.cx(home, "status")
	if err != nil {
		return err
	}
	fmt.Fprint(out, st)

	d.step("2. import one record per completed survey (CMS Care Compare, July 2024)")
	csvPath := filepath.Join(d.dir, "cms.csv")
	if err := writeCMS(csvPath, cms.Options{FacilityMeans: true}); err != nil {
		return err
	}
	start := time.Now()
	imp, err := d.cx(home, "data", "import", csvPath)
	if err != nil {
		return err
	}
	fmt.Fprint(out, imp)
	fmt.Fprintf(out, "(%.1f s wall, through the local API)\n", time.Since(start).Seconds())
	stats, err := d.cx(home, "data", "stats")
	if err != nil {
		return err
	}
	fmt.Fprint(out, stats)

	d.step("3. contract: completed surveys per state (count) — must equal CMS exactly")
	counts, err := d.preview(home, d.contract("surveys-by-state", "rating", "count", "", "cms-all"))
	if err != nil {
		return err
	}
	exact := 0
	var total int64
	for _, s := range d.states {
		if counts[s].count == int64(d.pub[s].Completed) {
			exact++
		}
		total += counts[s].count
	}
	nat, err := cms.National()
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "%d of %d states equal CMS's published count of completed surveys; total %d (CMS national: %d)\n",
		exact, len(d.states), total, nat.Completed)

	d.step("4. contract: share of 9-10 ratings (proportion >= 9), per state")
	shares, err := d.preview(home, d.contract("topbox-by-state", "rating", "proportion", "threshold: 9\nvalue_range: [0, 10]", "cms-all"))
	if err != nil {
		return err
	}
	d.pooled = shares
	d.step("5. contract: mean of facilities' published %% of 9-10 (mean), per state")
	means, err := d.preview(home, d.contract("facility-topbox-by-state", "rating_9_10_pct", "mean", "value_range: [0, 100]", "cms-all"))
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "\n%-5s %9s %11s %13s %9s\n", "state", "surveys", "9-10 share", "facility mean", "CMS %")
	within := 0
	for _, s := range d.states {
		if math.Abs(means[s].value-float64(d.pub[s].Rating9to10)) <= 1 {
			within++
		}
		fmt.Fprintf(out, "%-5s %9d %10.1f%% %12.1f%% %8d%%\n", s, counts[s].count, 100*shares[s].value, means[s].value, d.pub[s].Rating9to10)
	}
	fmt.Fprintf(out, "\nthe facility mean is within 1 point of CMS's state figure in %d of %d states\n", within, len(d.states))
	fmt.Fprintln(out, "(CMS's state figure is close to the plain mean of its facilities' percents; the pooled 9-10 share weighs each patient equally)")
	return nil
}

// consortium is part 2: three hospitals govern two contracts together.
func (d *demo) consortium() error {
	out := d.out
	orgs := []string{"hosp-east", "hosp-west", "hosp-south"}
	homes := map[string]string{}
	d.step("6. three hospitals, each with a third of the facilities, start their nodes")
	for i, org := range orgs {
		home, err := d.startNode(org, fmt.Sprintf("Hospital group %d", i+1))
		if err != nil {
			return err
		}
		homes[org] = home
		path := filepath.Join(d.dir, org+".csv")
		if err := writeCMS(path, cms.Options{Split: len(orgs), Part: i}); err != nil {
			return err
		}
		imp, err := d.cx(home, "data", "import", path)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "%s: %s", org, firstLine(imp))
	}

	d.step("7. %s founds the consortium; the others are admitted by majority and join over libp2p", orgs[0])
	first := homes[orgs[0]]
	if err := d.show(first, "consortium", "create", "--name", "Outpatient experience", "--min-cohort", "11"); err != nil {
		return err
	}
	ident, err := d.cx(first, "identity", "--json")
	if err != nil {
		return err
	}
	var id struct {
		Addrs []string `json:"addrs"`
	}
	if err := json.Unmarshal([]byte(ident), &id); err != nil {
		return err
	}
	for i, org := range orgs[1:] {
		desc, err := d.cx(homes[org], "identity", "--json")
		if err != nil {
			return err
		}
		path := filepath.Join(d.dir, org+".json")
		if err := os.WriteFile(path, []byte(desc), 0o644); err != nil {
			return err
		}
		if err := d.show(first, "consortium", "admit", path); err != nil {
			return err
		}
		if i == 1 { // two members: both must approve
			if err := d.show(homes[orgs[1]], "consortium", "approve", org); err != nil {
				return err
			}
		}
		if err := d.show(homes[org], "consortium", "join", "--via", id.Addrs[0]); err != nil {
			return err
		}
	}
	if err := d.show(homes[orgs[2]], "members"); err != nil {
		return err
	}
	d.step("7b. the nodes set up the consortium's homomorphic key themselves (multiparty BGV, any 2 of 3 decrypt)")
	for _, org := range orgs {
		st, err := d.cx(homes[org], "status", "--wait-keys", "60s", "--json")
		if err != nil {
			return err
		}
		var s struct {
			Keys struct {
				Epoch     uint64   `json:"epoch"`
				Members   []string `json:"members"`
				Threshold int      `json:"threshold"`
				PublicKey string   `json:"public_key"`
			} `json:"keys"`
		}
		if err := json.Unmarshal([]byte(st), &s); err != nil {
			return err
		}
		fmt.Fprintf(out, "%-10s key epoch %d over %s, %d to decrypt, public key %s\n", org, s.Keys.Epoch,
			strings.Join(s.Keys.Members, ", "), s.Keys.Threshold, s.Keys.PublicKey)
	}

	d.step("8. a contract is proposed by one hospital and approved by the others' boards (signed, through raft)")
	path := filepath.Join(d.dir, "topbox.yaml")
	if err := os.WriteFile(path, []byte(d.contract("topbox-by-state", "rating", "proportion", "threshold: 9\nvalue_range: [0, 10]", orgs...)), 0o644); err != nil {
		return err
	}
	if err := d.show(homes[orgs[1]], "contract", "propose", path); err != nil {
		return err
	}
	for _, org := range []string{orgs[0], orgs[2]} {
		if err := d.show(homes[org], "contract", "approve", "topbox-by-state"); err != nil {
			return err
		}
	}
	for _, org := range orgs {
		js, err := d.cx(homes[org], "contract", "show", "topbox-by-state", "--json")
		if err != nil {
			return err
		}
		var c struct {
			State, Hash string
		}
		json.Unmarshal([]byte(js), &c)
		fmt.Fprintf(out, "%-10s sees topbox-by-state %s, %s\n", org, c.State, c.Hash)
	}

	d.step("9. each hospital previews the agreed contract over its own records (nothing is sent)")
	fmt.Fprintf(out, "%-5s", "state")
	for _, org := range orgs {
		fmt.Fprintf(out, " %22s", org)
	}
	fmt.Fprintln(out)
	local := map[string]map[string]cellValue{}
	for _, org := range orgs {
		if local[org], err = d.previewID(homes[org], "topbox-by-state"); err != nil {
			return err
		}
	}
	for _, s := range []string{"CA", "NY", "OH", "TX", "FL"} {
		fmt.Fprintf(out, "%-5s", s)
		for _, org := range orgs {
			c := local[org][s]
			fmt.Fprintf(out, " %9d surveys %5.1f%%", c.count, 100*c.value)
		}
		fmt.Fprintln(out)
	}
	fmt.Fprintln(out, "\nthese per-hospital values stay on their nodes.")

	d.step("10. %s runs an encrypted round: each hospital sends only ciphertexts; any two of three decrypt the sum", orgs[0])
	start := time.Now()
	js, err := d.cx(homes[orgs[0]], "round", "run", "topbox-by-state", "--json")
	if err != nil {
		return err
	}
	var res struct {
		Round        string   `json:"round"`
		Participants []string `json:"participants"`
		Decryptors   []string `json:"decryptors"`
		Cells        []struct {
			Group      map[string]string `json:"group"`
			Count      *int64            `json:"count"`
			Value      *float64          `json:"value"`
			Suppressed bool              `json:"suppressed"`
			Local      struct {
				Count int64    `json:"count"`
				Value *float64 `json:"value"`
			} `json:"local"`
		} `json:"cells"`
		Privacy struct {
			Suppressed int `json:"suppressed"`
		} `json:"privacy"`
	}
	if err := json.Unmarshal([]byte(js), &res); err != nil {
		return err
	}
	fmt.Fprintf(out, "round %s released in %.2f s: inputs from %s, decrypted by %s, %d cells suppressed\n",
		res.Round, time.Since(start).Seconds(), strings.Join(res.Participants, ", "), strings.Join(res.Decryptors, ", "), res.Privacy.Suppressed)
	exactCount, samePooled := 0, 0
	network := map[string]cellValue{}
	for _, c := range res.Cells {
		st := c.Group["state"]
		if c.Suppressed || c.Count == nil || c.Value == nil {
			continue
		}
		network[st] = cellValue{count: *c.Count, value: *c.Value}
		if *c.Count == int64(d.pub[st].Completed) {
			exactCount++
		}
		if *c.Value == d.pooled[st].value {
			samePooled++
		}
	}
	fmt.Fprintf(out, "\n%-5s %22s %24s\n", "state", "network (released)", orgs[0]+" (its own)")
	for _, st := range []string{"CA", "NY", "OH", "TX", "FL"} {
		fmt.Fprintf(out, "%-5s %9d surveys %5.1f%% %11d surveys %5.1f%%\n", st, network[st].count, 100*network[st].value,
			local[orgs[0]][st].count, 100*local[orgs[0]][st].value)
	}
	fmt.Fprintf(out, "\nthe network's count equals CMS's completed surveys in %d of %d states, and its 9-10 share equals\n", exactCount, len(d.states))
	fmt.Fprintf(out, "the single node holding all the data (part 1) in %d of %d states — no hospital showed its records.\n", samePooled, len(d.states))
	if results, err := d.cx(homes[orgs[2]], "results", "topbox-by-state", "--csv"); err == nil {
		fmt.Fprintf(out, "%s reads the same release: `cxnet results topbox-by-state --csv` | head -3\n", orgs[2])
		lines := strings.SplitN(results, "\n", 4)
		fmt.Fprintln(out, strings.Join(lines[:min(3, len(lines))], "\n"))
	}
	audit, err := d.cx(homes[orgs[2]], "audit", "verify")
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "%s: %s", orgs[2], audit)
	return nil
}

// show runs a command and prints what it printed.
func (d *demo) show(home string, args ...string) error {
	out, err := d.cx(home, args...)
	if err != nil {
		return err
	}
	shown := make([]string, len(args))
	for i, a := range args {
		shown[i] = a
		if strings.ContainsRune(a, ' ') {
			shown[i] = fmt.Sprintf("%q", a)
		}
	}
	fmt.Fprintf(d.out, "$ cxnet %s\n%s", strings.Join(shown, " "), out)
	return nil
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i+1]
	}
	return s
}

// contract returns a contract grouped by state over the survey period.
func (d *demo) contract(id, measure, aggregate, extra string, participants ...string) string {
	return fmt.Sprintf("id: %s\nmeasure: %s\naggregate: %s\n%s\nprecision: 2\ngroup_by:\n  state: [%s]\nwindow: {from: 2022-10-01, to: 2023-09-30}\nparticipants: [%s]\nprivacy: {min_cohort: 11}\n",
		id, measure, aggregate, extra, strings.Join(d.states, ", "), strings.Join(participants, ", "))
}

type cellValue struct {
	count int64
	value float64
}

type previewJSON struct {
	Scanned int64   `json:"scanned"`
	Seconds float64 `json:"seconds"`
	Cells   []struct {
		Group map[string]string `json:"group"`
		Count int64             `json:"count"`
		Value *float64          `json:"value"`
	} `json:"cells"`
}

// preview writes a contract file and previews it on home.
func (d *demo) preview(home, contract string) (map[string]cellValue, error) {
	id := strings.TrimPrefix(strings.SplitN(contract, "\n", 2)[0], "id: ")
	path := filepath.Join(d.dir, id+".yaml")
	if err := os.WriteFile(path, []byte(contract), 0o644); err != nil {
		return nil, err
	}
	return d.previewID(home, path)
}

// previewID previews a contract file or a consortium contract id.
func (d *demo) previewID(home, arg string) (map[string]cellValue, error) {
	js, err := d.cx(home, "contract", "preview", arg, "--json")
	if err != nil {
		return nil, err
	}
	var p previewJSON
	if err := json.Unmarshal([]byte(js), &p); err != nil {
		return nil, err
	}
	if strings.HasSuffix(arg, ".yaml") {
		fmt.Fprintf(d.out, "cxnet contract preview %s: %d records, %d cells, %.2f s\n", filepath.Base(arg), p.Scanned, len(p.Cells), p.Seconds)
	}
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

func writeCMS(path string, opt cms.Options) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	facilities, err := cms.Facilities()
	if err != nil {
		return err
	}
	if _, err := cms.WriteRecords(f, facilities, opt); err != nil {
		return err
	}
	return f.Close()
}

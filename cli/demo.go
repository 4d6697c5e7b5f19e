package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"time"

	ucli "github.com/urfave/cli/v2"

	"github.com/cxnet/cxnet/node"
	"github.com/cxnet/cxnet/node/client"
)

// demoOrgs are the organisations `cxnet demo` plays, in order.
var demoOrgs = []struct{ id, name, kind string }{
	{"hosp-north", "North General Hospital", "hospital"},
	{"hosp-south", "South Valley Hospital", "hospital"},
	{"pharm-east", "East Pharmacy Group", "pharmacy"},
	{"payer-west", "West Health Plan", "payer"},
	{"clinic-central", "Central Clinics", "hospital"},
	{"pharma-ridge", "Ridge Therapeutics", "pharma"},
	{"hosp-lake", "Lakeside Hospital", "hospital"},
	{"pharm-bay", "Bay Pharmacies", "pharmacy"},
	{"payer-coast", "Coast Mutual", "payer"},
}

// demoSettings are the care settings of the synthetic survey answers;
// telehealth gets one answer per organisation, so the network's cell
// (at most 9) stays under the cohort floor of 11 and is suppressed.
var demoSettings = []string{"emergency", "inpatient", "outpatient", "telehealth"}

const demoContract = "nps-by-setting"

func demoCommand() *ucli.Command {
	return &ucli.Command{
		Name:  "demo",
		Usage: "run a whole local consortium on synthetic survey data: real nodes, raft, keys and an encrypted round, results printed",
		Description: `Starts one node per organisation in this process (real Badger on disk, libp2p
on loopback, raft, lattigo keys at 128-bit parameters), gives each its own
synthetic NPS answers, forms the consortium, sets up the shared key, agrees
an NPS contract and runs an encrypted round. The released NPS per care
setting is checked against the same computation over all answers pooled,
which only the demo can see. With --serve the consortium keeps running
for other cxnet commands until Ctrl-C.`,
		Flags: []ucli.Flag{
			&ucli.IntFlag{Name: "orgs", Value: 5, Usage: fmt.Sprintf("organisations, 3 to %d", len(demoOrgs))},
			&ucli.IntFlag{Name: "records", Value: 2000, Usage: "survey answers per organisation, 100 to 1000000"},
			&ucli.StringFlag{Name: "dir", Usage: "where the nodes' homes go (default: a temporary directory, removed at the end unless --serve)"},
			&ucli.BoolFlag{Name: "serve", Usage: "keep the consortium running after the round, until Ctrl-C"},
			&ucli.Uint64Flag{Name: "seed", Value: 1, Usage: "seed of the synthetic answers"},
		},
		Action: func(c *ucli.Context) error {
			orgs, records := c.Int("orgs"), c.Int("records")
			if orgs < 3 || orgs > len(demoOrgs) {
				return usagef("--orgs must be 3 to %d (got %d)", len(demoOrgs), orgs)
			}
			if records < 100 || records > 1000000 {
				return usagef("--records must be 100 to 1000000 (got %d)", records)
			}
			dir, keep := c.String("dir"), c.Bool("serve")
			if dir == "" {
				var err error
				if dir, err = os.MkdirTemp("", "cxnet-demo-"); err != nil {
					return err
				}
				if !keep {
					defer os.RemoveAll(dir)
				}
			} else if entries, err := os.ReadDir(dir); err == nil && len(entries) > 0 {
				return fmt.Errorf("--dir %s is not empty: give a new or empty directory", dir)
			}
			d := &demo{w: c.App.Writer, dir: dir, seed: c.Uint64("seed")}
			defer d.stop()
			if err := d.run(c.Context, orgs, records); err != nil {
				return err
			}
			if !keep {
				return nil
			}
			d.printf("\nthe consortium keeps running; from another terminal, for example:\n")
			for _, m := range d.members {
				d.printf("  cxnet --home %s results %s\n", m.home, demoContract)
			}
			d.printf("Ctrl-C stops every node (their homes stay in %s).\n", dir)
			<-c.Context.Done()
			return nil
		},
	}
}

// demo is a local consortium run by `cxnet demo`.
type demo struct {
	w       io.Writer
	dir     string
	seed    uint64
	members []*demoMember
}

type demoMember struct {
	org, name, home string
	cl              *client.Client
	cancel          context.CancelFunc
	done            chan error
	truth           map[string]*npsTally // this organisation's own answers
}

// npsTally counts NPS answers: all, promoters (9–10), detractors (0–6).
type npsTally struct{ n, promoters, detractors int64 }

func (t *npsTally) add(v int) {
	t.n++
	switch {
	case v >= 9:
		t.promoters++
	case v <= 6:
		t.detractors++
	}
}

func (t *npsTally) merge(o npsTally) {
	t.n, t.promoters, t.detractors = t.n+o.n, t.promoters+o.promoters, t.detractors+o.detractors
}

func (t npsTally) nps() float64 {
	return float64(t.promoters-t.detractors) / float64(t.n) * 100
}

func (d *demo) printf(format string, a ...any) { fmt.Fprintf(d.w, format, a...) }

func (d *demo) step(format string, a ...any) {
	d.printf("\n== "+format+"\n", a...)
}

func (d *demo) run(ctx context.Context, orgs, records int) error {
	start := time.Now()
	d.step("1. %d organisations each start a node (homes in %s)", orgs, d.dir)
	for _, o := range demoOrgs[:orgs] {
		m, err := d.start(ctx, o.id, o.name, o.kind)
		if err != nil {
			return err
		}
		d.printf("%-15s %-24s %s\n", o.id, o.name, m.home)
	}

	d.step("2. each imports its own survey answers (%d each; they never leave the node)", records)
	for i, m := range d.members {
		sum, err := d.importAnswers(ctx, m, i, records)
		if err != nil {
			return fmt.Errorf("%s: import: %w", m.org, err)
		}
		d.printf("%-15s %d answers stored, encrypted at rest\n", m.org, sum.Records)
	}

	first := d.members[0]
	d.step("3. %s founds the consortium; the others are admitted by a majority and join", first.org)
	if _, err := first.cl.CreateConsortium(ctx, client.CreateRequest{Name: "cxnet demo", MinCohort: 11}); err != nil {
		return fmt.Errorf("create the consortium: %w", err)
	}
	st, err := first.cl.Status(ctx)
	if err != nil {
		return err
	}
	for i, m := range d.members[1:] {
		desc, err := m.cl.Identity(ctx)
		if err != nil {
			return err
		}
		if _, err := first.cl.Admit(ctx, desc); err != nil {
			return fmt.Errorf("admit %s: %w", m.org, err)
		}
		// A strict majority of the i+1 admitted members approves; the
		// proposer's counts.
		var approvers []string
		for _, a := range d.members[1 : (i+1)/2+1] {
			if _, err := a.cl.Approve(ctx, m.org); err != nil {
				return fmt.Errorf("%s approves %s: %w", a.org, m.org, err)
			}
			approvers = append(approvers, a.org)
		}
		if _, err := m.cl.Join(ctx, client.JoinRequest{Via: st.Listen[0]}); err != nil {
			return fmt.Errorf("%s joins: %w", m.org, err)
		}
		d.printf("%-15s admitted (proposed by %s%s) and joined\n", m.org, first.org, andList(approvers))
	}

	d.step("4. the nodes set up the consortium's BGV key: one public key, the secret shared so that a majority must cooperate to decrypt")
	var keys *client.Keys
	for _, m := range d.members {
		s, err := waitKeys(ctx, m.cl, 2*time.Minute)
		if err != nil {
			return fmt.Errorf("%s: %w", m.org, err)
		}
		keys = s.Keys
	}
	d.printf("key epoch %d over %d members, %d needed to decrypt, public key %s\n", keys.Epoch, len(keys.Members), keys.Threshold, shortDigest(keys.PublicKey))

	d.step("5. %s proposes an NPS contract; every participant's board approves it", first.org)
	var ids []string
	for _, m := range d.members {
		ids = append(ids, m.org)
	}
	contract := fmt.Sprintf("id: %s\ntitle: Net Promoter Score by care setting\nmeasure: nps\naggregate: nps\n"+
		"group_by: {care_setting: [%s]}\nparticipants: [%s]\napprovals: all\nprivacy: {min_cohort: 11}\n",
		demoContract, strings.Join(demoSettings, ", "), strings.Join(ids, ", "))
	info, err := first.cl.Propose(ctx, demoContract+".yaml", contract)
	if err != nil {
		return fmt.Errorf("propose: %w", err)
	}
	for _, m := range d.members[1:] {
		if info, err = m.cl.ContractAction(ctx, "approve", client.ContractAction{ID: demoContract}); err != nil {
			return fmt.Errorf("%s approves: %w", m.org, err)
		}
	}
	d.printf("%s v%d: %s on every node, %s\n", info.ID, info.Version, info.State, shortDigest(info.Hash))
	if info.State != "active" {
		return fmt.Errorf("%s is %s after every approval, want active", demoContract, info.State)
	}

	agg := d.members[1]
	d.step("6. %s runs an encrypted round: each node sends only ciphertexts; %d of them decrypt the sum", agg.org, keys.Threshold)
	t0 := time.Now()
	res, err := agg.cl.RunRound(ctx, demoContract)
	if err != nil {
		return fmt.Errorf("round: %w", err)
	}
	d.printf("round %s released in %.2f s: inputs from %d organisations, decrypted by %s\n",
		res.Round, time.Since(t0).Seconds(), len(res.Participants), strings.Join(res.Decryptors, ", "))
	return d.report(ctx, res, time.Since(start))
}

// report prints the released cells beside the pooled truth and one
// member's own value, and fails when a released value is not the truth.
func (d *demo) report(ctx context.Context, res *client.Results, took time.Duration) error {
	reader := d.members[len(d.members)-1]
	mine, err := reader.cl.Results(ctx, demoContract, res.Round)
	if err != nil {
		return err
	}
	d.step("7. the released NPS, read on %s beside its own value", reader.org)
	d.printf("%-12s %22s %22s %22s\n", "care setting", "network (released)", "pooled (demo only)", reader.org+" (own)")
	matched := 0
	for _, cell := range mine.Cells {
		setting := cell.Group["care_setting"]
		var pooled npsTally
		for _, m := range d.members {
			pooled.merge(*m.truth[setting])
		}
		own := "-"
		if cell.Local != nil && cell.Local.Count > 0 {
			if v, ok := cell.Local.Value.(float64); ok {
				own = fmt.Sprintf("%5d  %6.1f", cell.Local.Count, v)
			}
		}
		network := "suppressed"
		if !cell.Suppressed {
			v, ok := cell.Value.(float64)
			if !ok || cell.Count == nil || *cell.Count != pooled.n || math.Abs(v-pooled.nps()) > 1e-3 {
				return fmt.Errorf("released %s cell %v (count %v) is not the pooled NPS %.4f over %d answers", setting, cell.Value, cell.Count, pooled.nps(), pooled.n)
			}
			network = fmt.Sprintf("%6d  %6.1f", *cell.Count, v)
			matched++
		}
		d.printf("%-12s %22s %22s %22s\n", setting, network, fmt.Sprintf("%6d  %6.1f", pooled.n, pooled.nps()), own)
	}
	d.printf("\n%d released cells equal the pooled computation; %d cell(s) under the cohort floor of %d were suppressed.\n",
		matched, mine.Privacy.Suppressed, mine.Privacy.MinCohort)
	d.printf("No organisation's answers or own totals left its node. Whole demo: %.1f s.\n", took.Seconds())
	return nil
}

// start initialises and runs one organisation's node in this process,
// its log in its home.
func (d *demo) start(ctx context.Context, org, name, kind string) (*demoMember, error) {
	home := filepath.Join(d.dir, org)
	cfg := node.Config{Org: org, Name: name, Kind: kind, API: "127.0.0.1:0", Listen: []string{"/ip4/127.0.0.1/tcp/0"},
		Raft: node.RaftConfig{Heartbeat: 500 * time.Millisecond}, Log: node.LogConfig{Level: "info"}}
	if _, err := node.Init(home, cfg); err != nil {
		return nil, err
	}
	h, err := node.LoadHome(home)
	if err != nil {
		return nil, err
	}
	logf, err := os.OpenFile(filepath.Join(home, "node.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	n, err := node.New(h, cfg, slog.New(slog.NewTextHandler(logf, nil)))
	if err != nil {
		logf.Close()
		return nil, err
	}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	m := &demoMember{org: org, name: name, home: home, cancel: cancel, done: make(chan error, 1), truth: map[string]*npsTally{}}
	go func() {
		err := n.Run(runCtx)
		logf.Close()
		m.done <- err
	}()
	d.members = append(d.members, m)
	if m.cl, err = client.Open(home, ""); err != nil {
		return nil, err
	}
	wctx, wcancel := context.WithTimeout(ctx, 30*time.Second)
	defer wcancel()
	if _, err := m.cl.WaitReady(wctx); err != nil {
		return nil, fmt.Errorf("%s did not start: %w (see %s)", org, err, filepath.Join(home, "node.log"))
	}
	return m, nil
}

// importAnswers gives member i its synthetic NPS answers: each
// organisation leans its own way, and telehealth gets one answer.
func (d *demo) importAnswers(ctx context.Context, m *demoMember, i, records int) (*client.ImportSummary, error) {
	rng := rand.New(rand.NewPCG(d.seed, uint64(i)))
	// Promoters (9–10) are 40–64% of an organisation's answers, fewer in
	// emergency care; passives (7–8) 25%; the rest detractors (0–6).
	lean := 0.40 + 0.06*float64(i%5)
	for _, s := range demoSettings {
		m.truth[s] = &npsTally{}
	}
	pr, pw := io.Pipe()
	go func() {
		w := bufio.NewWriter(pw) // keeps the first write error for Flush
		fmt.Fprintln(w, "record_id,subject,measure,value,time,care_setting")
		for r := range records {
			setting := demoSettings[r%3]
			if r == 0 {
				setting = "telehealth"
			}
			p := lean
			if setting == "emergency" {
				p -= 0.15
			}
			var v int
			switch u := rng.Float64(); {
			case u < p:
				v = 9 + rng.IntN(2)
			case u < p+0.25:
				v = 7 + rng.IntN(2)
			default:
				v = rng.IntN(7)
			}
			m.truth[setting].add(v)
			fmt.Fprintf(w, "%s-%07d,patient-%d,nps,%d,2026-%02d-%02d,%s\n", m.org, r, r%(records/2+1), v, 1+r%12, 1+r%28, setting)
		}
		pw.CloseWithError(w.Flush())
	}()
	return m.cl.Import(ctx, client.ImportRequest{Format: "csv"}, nil, []client.ImportFile{{Name: m.org + "-answers.csv", Body: pr}})
}

// stop shuts every node down and waits for them.
func (d *demo) stop() {
	for _, m := range d.members {
		m.cancel()
	}
	for _, m := range d.members {
		select {
		case err := <-m.done:
			if err != nil && !errors.Is(err, context.Canceled) {
				d.printf("%s stopped: %v\n", m.org, err)
			}
		case <-time.After(30 * time.Second):
			d.printf("%s did not stop within 30 s\n", m.org)
		}
	}
}

func andList(orgs []string) string {
	if len(orgs) == 0 {
		return ""
	}
	return ", approved by " + strings.Join(orgs, ", ")
}

// shortDigest abbreviates a "sha256:…" digest for display.
func shortDigest(digest string) string {
	if len(digest) > 19 {
		return digest[:19] + "…"
	}
	return digest
}

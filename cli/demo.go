package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	ucli "github.com/urfave/cli/v2"

	"github.com/cxnet/cxnet/kpi"
	"github.com/cxnet/cxnet/node/client"
	"github.com/cxnet/cxnet/simulations/journey"
)

func demoCommand() *ucli.Command {
	return &ucli.Command{
		Name:  "demo",
		Usage: "the patient journey: hospitals, a pharma programme and pharmacies agree four KPIs and compute them without pooling their data",
		Description: `Starts one node per organisation in this process — two hospitals, a pharma
company's patient-support programme, two pharmacies (and with --orgs 6 a
payer that only reads) — each with its own encrypted store, libp2p on
loopback, raft and keys at the production parameters. Each organisation
imports the data it really has, in the format it exports: PREM answers as
FHIR QuestionnaireResponse NDJSON through a mapping file and its share of
the real CMS outpatient facility file (hospitals), MedicationDispense
NDJSON (pharmacies), a survey CSV (the programme). The organisations form
a consortium, set up their shared key and agree four KPIs: NPS by care
setting and quarter, top-box communication by age band, adherence (PDC)
by drug class released to the programme only, and mean waiting time by
region. Each is released by an encrypted round and printed beside one
organisation's own value. Every released cell is checked against the same
computation over all the data pooled, which only the demo can see; the
command exits 1 if one differs. With --serve the consortium keeps running
for other cxnet commands until Ctrl-C.`,
		Flags: []ucli.Flag{
			&ucli.IntFlag{Name: "orgs", Value: 5, Usage: "organisations: 5, or 6 with a payer that reads the adherence KPI"},
			&ucli.IntFlag{Name: "records", Value: 2000, Usage: "PREM responses per hospital, 100 to 1000000 (the programme has half as many respondents, each pharmacy a quarter as many patients)"},
			&ucli.BoolFlag{Name: "cms", Value: true, Usage: "the hospitals also import their share of the CMS outpatient facility file (664,137 surveys; --cms=false for a quicker run)"},
			&ucli.StringFlag{Name: "dir", Usage: "where the nodes' homes go (default: a temporary directory, removed at the end unless --serve)"},
			&ucli.BoolFlag{Name: "serve", Usage: "keep the consortium running after the rounds, until Ctrl-C"},
			&ucli.Uint64Flag{Name: "seed", Value: 1, Usage: "seed of the generated data"},
		},
		Action: func(c *ucli.Context) error {
			orgs, records := c.Int("orgs"), c.Int("records")
			if orgs != 5 && orgs != 6 {
				return usagef("--orgs must be 5 (two hospitals, a pharma programme, two pharmacies) or 6 (and a payer); got %d", orgs)
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
			d := &demo{w: c.App.Writer, dir: dir, start: time.Now()}
			defer d.stop()
			data, err := journey.Generate(journey.Config{Responses: records, Seed: c.Uint64("seed"), CMS: c.Bool("cms"), Payer: orgs == 6})
			if err != nil {
				return err
			}
			d.data = data
			if err := d.run(c.Context); err != nil {
				return err
			}
			if !keep {
				return nil
			}
			d.serve()
			<-c.Context.Done()
			return nil
		},
	}
}

// demo is the local consortium `cxnet demo` runs.
type demo struct {
	w       io.Writer
	dir     string
	start   time.Time
	data    *journey.Dataset
	members []*demoMember
	byOrg   map[string]*demoMember

	released  []releasedKPI // in the order the rounds ran
	records   int64         // stored by every node together
	decrypt   int           // members needed to decrypt
	mismatch  []string
	cmsStates int // states where the hospitals' CMS records equal CMS's count
}

// releasedKPI is a contract's round as the demo saw it.
type releasedKPI struct {
	c       journey.Contract
	run     *client.Results // the aggregator's reply
	read    *client.Results // the release, read on c.ReadOn
	beside  map[string]kpi.Cell
	seconds float64
}

func (d *demo) printf(format string, a ...any) { fmt.Fprintf(d.w, format, a...) }

// step starts a part of the story, with the time since the demo began.
func (d *demo) step(format string, a ...any) {
	d.printf("\n== [%5.1fs] "+format+"\n", append([]any{time.Since(d.start).Seconds()}, a...)...)
}

func (d *demo) member(org string) *demoMember { return d.byOrg[org] }

func (d *demo) run(ctx context.Context) error {
	d.printf("cxnet demo — one patient journey, measured by the organisations it crosses, without pooling their data.\n")
	d.printf("The data is generated from a seed (the CMS facility file is CMS's own); each organisation sees only its own.\n")

	d.step("1. %d organisations, each a real node: its own encrypted store, raft, libp2p on loopback (homes in %s)", len(d.data.Orgs), d.dir)
	d.byOrg = map[string]*demoMember{}
	for _, o := range d.data.Orgs {
		m, err := d.startNode(ctx, o)
		if err != nil {
			return err
		}
		d.byOrg[o.ID] = m
		d.printf("  %-13s %-9s %s\n", o.ID, o.Kind, o.Name)
	}

	d.step("2. each exports its own data in the format it has and imports it into its own node (`cxnet data import`)")
	if err := d.importAll(ctx); err != nil {
		return err
	}

	if err := d.govern(ctx); err != nil {
		return err
	}
	if err := d.agree(ctx); err != nil {
		return err
	}
	if err := d.rounds(ctx); err != nil {
		return err
	}
	d.report(ctx)
	if d.data.CMS {
		if err := d.checkCMS(ctx); err != nil {
			return err
		}
	}
	d.summary()
	if len(d.mismatch) > 0 {
		return fmt.Errorf("%d released or own value(s) differ from the pooled computation:\n  %s", len(d.mismatch), strings.Join(d.mismatch, "\n  "))
	}
	return nil
}

// serve prints how to use the running consortium.
func (d *demo) serve() {
	d.printf("\nThe consortium keeps running. From another terminal, for example:\n")
	for _, h := range d.serveHints() {
		d.printf("  %-72s # %s\n", h[0], h[1])
	}
	d.printf("Ctrl-C stops every node (their homes stay in %s).\n", d.dir)
}

// serveHints are the commands printed for a running consortium: what to
// type, and what it shows — the dashboard's login link first.
func (d *demo) serveHints() [][2]string {
	home := func(org string) string { return "cxnet --home " + filepath.Join(d.dir, org) }
	cs := d.data.Contracts()
	// The dashboard of an organisation that may read every released KPI
	// (the readers' contract's reader, when it reads the others too).
	dash := cs[0].ReadOn
	for _, c := range cs {
		if len(c.Readers) > 0 {
			dash = c.ReadOn
		}
	}
	out := [][2]string{
		{home(dash) + " ui --open", "the analyst's dashboard: every released KPI beside " + dash + "'s own values"},
		{home(cs[0].RunBy) + " round list " + cs[0].ID, "every round: released or failed, and why"},
	}
	for _, c := range cs {
		if len(c.Readers) == 0 {
			out = append(out, [2]string{home(c.ReadOn) + " results " + c.ID, "the release beside " + c.ReadOn + "'s own value"})
			continue
		}
		out = append(out,
			[2]string{home(c.ReadOn) + " results " + c.ID, "only a reader's node opens it"},
			[2]string{home(c.Participants[0]) + " results " + c.ID, "refused: released to " + strings.Join(c.Readers, ", ") + " only"})
	}
	return append(out,
		[2]string{home(cs[0].RunBy) + " round run " + cs[0].ID, "another encrypted round over the same data"},
		[2]string{home(cs[0].RunBy) + " contract list", "the agreed contracts"},
		[2]string{home(cs[0].RunBy) + " members", "the consortium's members"},
		[2]string{home(cs[0].RunBy) + " audit verify", "the hash-chained audit log"},
	)
}

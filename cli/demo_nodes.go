package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/cxnet/cxnet/node"
	"github.com/cxnet/cxnet/node/client"
	"github.com/cxnet/cxnet/simulations/journey"
)

// demoMember is one organisation's node in the demo.
type demoMember struct {
	journey.Org
	home   string
	cl     *client.Client
	cancel context.CancelFunc
	done   chan error
}

// startNode initialises and runs one organisation's node in this process,
// its log in its home.
func (d *demo) startNode(ctx context.Context, o journey.Org) (*demoMember, error) {
	home := filepath.Join(d.dir, o.ID)
	cfg := node.Config{Org: o.ID, Name: o.Name, Kind: o.Kind, API: "127.0.0.1:0", Listen: []string{"/ip4/127.0.0.1/tcp/0"},
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
	m := &demoMember{Org: o, home: home, cancel: cancel, done: make(chan error, 1)}
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
		return nil, fmt.Errorf("%s did not start: %w (see %s)", o.ID, err, filepath.Join(home, "node.log"))
	}
	return m, nil
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
				d.printf("%s stopped: %v\n", m.ID, err)
			}
		case <-time.After(30 * time.Second):
			d.printf("%s did not stop within 30 s\n", m.ID)
		}
	}
}

// govern forms the consortium: the first organisation founds it, each
// other one is admitted by a majority of the members so far and joins,
// and the members set up the consortium's key.
func (d *demo) govern(ctx context.Context) error {
	first := d.members[0]
	d.step("3. %s founds the consortium; each other organisation is admitted by a majority of the members so far, then joins", first.ID)
	if _, err := first.cl.CreateConsortium(ctx, client.CreateRequest{Name: "Patient journey", MinCohort: journey.MinCohort}); err != nil {
		return fmt.Errorf("create the consortium: %w", err)
	}
	st, err := first.cl.Status(ctx)
	if err != nil {
		return err
	}
	d.printf("  consortium %q, cohort floor %d records per released cell\n", st.Consortium, journey.MinCohort)
	for i, m := range d.members[1:] {
		desc, err := m.cl.Identity(ctx)
		if err != nil {
			return err
		}
		if _, err := first.cl.Admit(ctx, desc); err != nil {
			return fmt.Errorf("admit %s: %w", m.ID, err)
		}
		// A strict majority of the i+1 admitted members approves; the
		// proposer's counts.
		var approvers []string
		for _, a := range d.members[1 : (i+1)/2+1] {
			if _, err := a.cl.Approve(ctx, m.ID); err != nil {
				return fmt.Errorf("%s approves %s: %w", a.ID, m.ID, err)
			}
			approvers = append(approvers, a.ID)
		}
		if _, err := m.cl.Join(ctx, client.JoinRequest{Via: st.Listen[0]}); err != nil {
			return fmt.Errorf("%s joins: %w", m.ID, err)
		}
		d.printf("  %-13s admitted (proposed by %s%s) and joined\n", m.ID, first.ID, andList(approvers))
	}

	d.step("4. the members set up the consortium's key: one BGV public key (128-bit parameters); each share committed before it is revealed")
	var keys *client.Keys
	for _, m := range d.members {
		s, err := waitKeys(ctx, m.cl, 2*time.Minute)
		if err != nil {
			return fmt.Errorf("%s: %w", m.ID, err)
		}
		keys = s.Keys
	}
	d.decrypt = keys.Threshold
	d.printf("  key epoch %d over %d members, public key %s; any %d of them must cooperate to decrypt, fewer learn nothing\n",
		keys.Epoch, len(keys.Members), shortDigest(keys.PublicKey), keys.Threshold)
	return nil
}

// agree has each contract proposed by one participant and approved by
// the boards of the others.
func (d *demo) agree(ctx context.Context) error {
	cs := d.data.Contracts()
	d.step("5. %d KPIs, each proposed by one organisation and approved by the board of every participant (signed, replicated by raft)", len(cs))
	for _, c := range cs {
		path := filepath.Join(d.dir, "contracts", c.ID+".yaml")
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(path, []byte(c.YAML()), 0o644); err != nil {
			return err
		}
		info, err := d.member(c.ProposedBy).cl.Propose(ctx, filepath.Base(path), c.YAML())
		if err != nil {
			return fmt.Errorf("%s proposes %s: %w", c.ProposedBy, c.ID, err)
		}
		var approvers []string
		for _, org := range c.Participants {
			if org == c.ProposedBy {
				continue
			}
			if info, err = d.member(org).cl.ContractAction(ctx, "approve", client.ContractAction{ID: c.ID}); err != nil {
				return fmt.Errorf("%s approves %s: %w", org, c.ID, err)
			}
			approvers = append(approvers, org)
		}
		if info.State != "active" {
			return fmt.Errorf("%s is %s after every participant approved it, want active", c.ID, info.State)
		}
		d.printf("  %-21s %s\n", c.ID, c.Title)
		d.printf("  %-21s proposed by %s, approved by %s: %s on every node\n", "", c.ProposedBy, strings.Join(approvers, ", "), info.State)
		readers := "every member"
		if len(c.Readers) > 0 {
			readers = strings.Join(c.Readers, ", ") + " only"
		}
		d.printf("  %-21s participants %s; released to %s\n", "", strings.Join(c.Participants, ", "), readers)
		d.printf("%s", wrap("("+c.Why+")", 24, 112))
	}
	d.printf("  the contract files are in %s\n", filepath.Join(d.dir, "contracts"))
	return nil
}

func andList(orgs []string) string {
	if len(orgs) == 0 {
		return ""
	}
	return ", approved by " + strings.Join(orgs, ", ")
}

// wrap breaks text into lines of at most width columns, each indented by
// indent spaces.
func wrap(text string, indent, width int) string {
	var b strings.Builder
	line := 0
	for _, word := range strings.Fields(text) {
		if line > indent && line+1+len(word) > width {
			b.WriteString("\n")
			line = 0
		}
		if line == 0 {
			b.WriteString(strings.Repeat(" ", indent))
			line = indent
		} else {
			b.WriteString(" ")
			line++
		}
		b.WriteString(word)
		line += len(word)
	}
	b.WriteString("\n")
	return b.String()
}

// thousands writes n with thin separators: 690,936.
func thousands(n int64) string {
	s := fmt.Sprint(n)
	if n < 0 {
		return "-" + thousands(-n)
	}
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// shortDigest abbreviates a "sha256:…" digest for display.
func shortDigest(digest string) string {
	if len(digest) > 19 {
		return digest[:19] + "…"
	}
	return digest
}

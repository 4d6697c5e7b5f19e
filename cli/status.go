package cli

import (
	"context"
	"fmt"

	ucli "github.com/urfave/cli/v2"
)

func statusCommand() *ucli.Command {
	return &ucli.Command{
		Name:  "status",
		Usage: "show the node's status; exit 0 once the daemon is ready",
		Flags: []ucli.Flag{
			jsonFlag,
			&ucli.DurationFlag{Name: "wait", Usage: "wait up to this long for the daemon to be ready (e.g. 30s)"},
		},
		Action: func(c *ucli.Context) error {
			cl, err := apiClient(c)
			if err != nil {
				return err
			}
			ctx := c.Context
			if d := c.Duration("wait"); d > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, d)
				defer cancel()
				if _, err := cl.WaitReady(ctx); err != nil {
					return apiErr(err)
				}
			}
			s, err := cl.Status(ctx)
			if err != nil {
				return apiErr(err)
			}
			if c.Bool("json") {
				if err := printJSON(c.App.Writer, s); err != nil {
					return err
				}
			} else {
				t := newTable(c.App.Writer)
				t.row("org", fmt.Sprintf("%s (%s, %s)", s.Org, s.Name, s.Kind))
				t.row("peer id", s.PeerID)
				t.row("ready", s.Ready)
				t.row("consortium", orDash(s.Consortium))
				t.row("raft", s.Raft.State)
				t.row("members", s.Members)
				t.row("api", s.API)
				t.row("version", s.Version)
				t.row("started", s.Started.Format("2006-01-02 15:04:05Z07:00"))
				if err := t.flush(); err != nil {
					return err
				}
			}
			if !s.Ready {
				return fmt.Errorf("node %s is not ready", s.Org)
			}
			return nil
		},
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

package cli

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/cxnet/cxnet/node/client"

	ucli "github.com/urfave/cli/v2"
)

func statusCommand() *ucli.Command {
	return &ucli.Command{
		Name:  "status",
		Usage: "show the node's status; exit 0 once the daemon is ready",
		Flags: []ucli.Flag{
			jsonFlag,
			&ucli.DurationFlag{Name: "wait", Usage: "wait up to this long for the daemon to be ready (e.g. 30s)"},
			&ucli.DurationFlag{Name: "wait-keys", Usage: "wait up to this long until this node holds the consortium's key over every admitted member (e.g. 60s)"},
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
			if d := c.Duration("wait-keys"); d > 0 {
				if s, err = waitKeys(ctx, cl, d); err != nil {
					return err
				}
			}
			err = output(c, s, func(w io.Writer) error {
				t := newTable(w)
				t.row("org", fmt.Sprintf("%s (%s, %s)", s.Org, s.Name, s.Kind))
				t.row("peer id", s.PeerID)
				t.row("ready", s.Ready)
				t.row("consortium", orDash(s.Consortium))
				t.row("raft", s.Raft.State)
				if rt := s.Raft.Timings; rt != nil {
					t.row("raft timings", fmt.Sprintf("heartbeat %s, election %s, leader lease %s, dead voter after %s",
						rt.Heartbeat, rt.Election, rt.LeaderLease, rt.DeadVoterAfter))
				}
				t.row("members", s.Members)
				t.row("keys", keysLine(s.Keys))
				t.row("api", s.API)
				t.row("version", s.Version)
				t.row("started", s.Started.Format("2006-01-02 15:04:05Z07:00"))
				return t.flush()
			})
			if err != nil {
				return err
			}
			if !s.Ready {
				return fmt.Errorf("node %s is not ready", s.Org)
			}
			return nil
		},
	}
}

// keysReady reports whether the node holds the consortium's key over
// every admitted member, with nothing pending.
func keysReady(s *client.Status) bool {
	k := s.Keys
	return k != nil && k.Epoch > 0 && len(k.Members) == s.Members && k.PublicKey != "" && k.ThresholdKey && k.Pending == nil
}

// waitKeys polls the status until keysReady or d has passed.
func waitKeys(ctx context.Context, cl *client.Client, d time.Duration) (*client.Status, error) {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	for {
		s, err := cl.Status(ctx)
		if err == nil && keysReady(s) {
			return s, nil
		}
		select {
		case <-ctx.Done():
			if err != nil {
				return nil, apiErr(err)
			}
			return nil, fmt.Errorf("the consortium's key does not cover the %d members after %s (%s); check that every member's node runs and can reach the others", s.Members, d, keysLine(s.Keys))
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// keysLine describes the consortium's key in one line.
func keysLine(k *client.Keys) string {
	if k == nil {
		return "-"
	}
	var out string
	if k.Epoch > 0 {
		state := "ready"
		switch {
		case k.PublicKey == "":
			state = "building the public key"
		case !k.ThresholdKey:
			state = "waiting for threshold shares"
		}
		out = fmt.Sprintf("epoch %d, %d members, %d to decrypt, %s", k.Epoch, len(k.Members), k.Threshold, state)
	}
	if p := k.Pending; p != nil {
		if out != "" {
			out += "; "
		}
		out += fmt.Sprintf("epoch %d collecting shares (missing: %s)", p.Epoch, strings.Join(p.Missing, ", "))
	}
	return out
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"os"

	ucli "github.com/urfave/cli/v2"

	"github.com/cxnet/cxnet/node/client"
)

func consortiumCommand() *ucli.Command {
	return &ucli.Command{
		Name:  "consortium",
		Usage: "found, grow and join the consortium",
		Subcommands: []*ucli.Command{
			{
				Name:  "create",
				Usage: "found a consortium on this node (it becomes the first member and raft voter)",
				Flags: []ucli.Flag{
					&ucli.StringFlag{Name: "name", Usage: "the consortium's name", Required: true},
					&ucli.IntFlag{Name: "min-cohort", Usage: "floor for every contract's privacy.min_cohort", Value: 11},
					&ucli.BoolFlag{Name: "psk", Usage: "also generate a private-network key every member must use (printed once)"},
					jsonFlag,
				},
				Action: func(c *ucli.Context) error {
					cl, err := apiClient(c)
					if err != nil {
						return err
					}
					out, err := cl.CreateConsortium(c.Context, client.CreateRequest{Name: c.String("name"), MinCohort: c.Int("min-cohort"), PSK: c.Bool("psk")})
					if err != nil {
						return apiErr(err)
					}
					if c.Bool("json") {
						return printJSON(c.App.Writer, out)
					}
					fmt.Fprintf(c.App.Writer, "created consortium %q (id %s), min cohort %d; %s is its first member\n", out.Name, short(out.ID), out.MinCohort, out.Founder)
					if out.PSK != "" {
						fmt.Fprintf(c.App.Writer, "private-network key (give it to every member over a secure channel; they pass it to `consortium join --psk`):\n%s\n", out.PSK)
					}
					return nil
				},
			},
			{
				Name:      "admit",
				Usage:     "propose admitting an organisation (counts as your approval; a majority of members must approve)",
				ArgsUsage: "DESCRIPTOR.json",
				Flags:     []ucli.Flag{jsonFlag},
				Action: func(c *ucli.Context) error {
					if c.NArg() != 1 {
						return usagef("consortium admit: name the DESCRIPTOR.json the organisation made with `cxnet identity --json` (- for stdin)")
					}
					var b []byte
					var err error
					if c.Args().First() == "-" {
						b, err = io.ReadAll(os.Stdin)
					} else {
						b, err = os.ReadFile(c.Args().First())
					}
					if err != nil {
						return fmt.Errorf("cannot read the descriptor: %w", err)
					}
					if !json.Valid(b) {
						return fmt.Errorf("%s is not JSON: make it with `cxnet identity --json > descriptor.json` on the new member's node", c.Args().First())
					}
					cl, err := apiClient(c)
					if err != nil {
						return err
					}
					res, err := cl.Admit(c.Context, b)
					if err != nil {
						return apiErr(err)
					}
					return printResult(c, res)
				},
			},
			{
				Name:      "approve",
				Usage:     "approve an organisation's pending admission",
				ArgsUsage: "ORG_ID",
				Flags:     []ucli.Flag{jsonFlag},
				Action: func(c *ucli.Context) error {
					if c.NArg() != 1 {
						return usagef("consortium approve: name the ORG_ID (see `cxnet members`)")
					}
					cl, err := apiClient(c)
					if err != nil {
						return err
					}
					res, err := cl.Approve(c.Context, c.Args().First())
					if err != nil {
						return apiErr(err)
					}
					return printResult(c, res)
				},
			},
			{
				Name:  "join",
				Usage: "once admitted, connect this node to the consortium through a member and catch up",
				Flags: []ucli.Flag{
					&ucli.StringFlag{Name: "via", Usage: "a member's address, ending in /p2p/<peer id> (from its `cxnet identity`)", Required: true},
					&ucli.StringFlag{Name: "psk", Usage: "the consortium's private-network key, when it uses one", EnvVars: []string{"CXNET_PSK"}},
					jsonFlag,
				},
				Action: func(c *ucli.Context) error {
					cl, err := apiClient(c)
					if err != nil {
						return err
					}
					out, err := cl.Join(c.Context, client.JoinRequest{Via: c.String("via"), PSK: c.String("psk")})
					if err != nil {
						return apiErr(err)
					}
					if c.Bool("json") {
						return printJSON(c.App.Writer, out)
					}
					fmt.Fprintf(c.App.Writer, "joined consortium %q (id %s) and caught up\n", out.Name, short(out.ID))
					return nil
				},
			},
		},
	}
}

func printResult(c *ucli.Context, res *client.GovernanceResult) error {
	if c.Bool("json") {
		return printJSON(c.App.Writer, res)
	}
	fmt.Fprintf(c.App.Writer, "%s %s (log index %d)\n", res.Event, res.Object, res.Index)
	return nil
}

func short(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

func membersCommand() *ucli.Command {
	return &ucli.Command{
		Name:  "members",
		Usage: "the consortium's members and pending admissions",
		Flags: []ucli.Flag{jsonFlag},
		Action: func(c *ucli.Context) error {
			cl, err := apiClient(c)
			if err != nil {
				return err
			}
			ms, err := cl.Members(c.Context)
			if err != nil {
				return apiErr(err)
			}
			if c.Bool("json") {
				return printJSON(c.App.Writer, ms)
			}
			t := newTable(c.App.Writer, "ORG", "KIND", "STATE", "RAFT", "APPROVALS", "PEER ID")
			for _, m := range ms.Members {
				t.row(m.Org, m.Kind, m.State, m.Raft, len(m.Approvals), m.PeerID)
			}
			return t.flush()
		},
	}
}

package cli

import (
	"errors"
	"fmt"
	"os"
	"strings"

	ucli "github.com/urfave/cli/v2"

	"github.com/cxnet/cxnet/node"
	"github.com/cxnet/cxnet/node/client"
)

func contractCommand() *ucli.Command {
	return &ucli.Command{
		Name:  "contract",
		Usage: "KPI contracts: propose, approve, reject, retire, list, show, preview",
		Subcommands: []*ucli.Command{
			contractProposeCommand(),
			contractApproveCommand(),
			contractRejectCommand(),
			contractRetireCommand(),
			contractListCommand(),
			contractShowCommand(),
			contractPreviewCommand(),
		},
	}
}

func contractProposeCommand() *ucli.Command {
	return &ucli.Command{
		Name:      "propose",
		Usage:     "propose a contract to the consortium (counts as your approval); prints its id",
		ArgsUsage: "FILE.yaml",
		Flags:     []ucli.Flag{jsonFlag},
		Action: func(c *ucli.Context) error {
			if c.NArg() != 1 {
				return usagef("contract propose: name one contract FILE.yaml")
			}
			b, err := os.ReadFile(c.Args().First())
			if err != nil {
				return fmt.Errorf("cannot read %s: %w", c.Args().First(), err)
			}
			cl, err := apiClient(c)
			if err != nil {
				return err
			}
			info, err := cl.Propose(c.Context, c.Args().First(), string(b))
			if err != nil {
				return apiErr(err)
			}
			if c.Bool("json") {
				return printJSON(c.App.Writer, info)
			}
			fmt.Fprintln(c.App.Writer, info.ID)
			fmt.Fprintf(c.App.ErrWriter, "version %d, %s, approvals %d of %d needed (%s)\n", info.Version, info.State, len(info.Approvals), info.Needed, info.Hash)
			printWarnings(c, info.Warnings)
			return nil
		},
	}
}

func contractActionCommand(name, usage string, flags []ucli.Flag, build func(c *ucli.Context, cl *client.Client, id string) (client.ContractAction, error)) *ucli.Command {
	return &ucli.Command{
		Name:      name,
		Usage:     usage,
		ArgsUsage: "ID",
		Flags:     append(flags, jsonFlag),
		Action: func(c *ucli.Context) error {
			if c.NArg() != 1 {
				return usagef("contract %s: name one contract ID (see `cxnet contract list`)", name)
			}
			cl, err := apiClient(c)
			if err != nil {
				return err
			}
			req, err := build(c, cl, c.Args().First())
			if err != nil {
				return err
			}
			info, err := cl.ContractAction(c.Context, name, req)
			if err != nil {
				return apiErr(err)
			}
			if c.Bool("json") {
				return printJSON(c.App.Writer, info)
			}
			fmt.Fprintf(c.App.Writer, "%s v%d: %s (approvals %s; %d needed)\n", info.ID, info.Version, info.State, orDash(strings.Join(info.Approvals, ", ")), info.Needed)
			printWarnings(c, info.Warnings)
			return nil
		},
	}
}

// printWarnings shows the board the node's warnings about a contract it
// proposed or approved, on the error stream, one a line.
func printWarnings(c *ucli.Context, warnings []string) {
	for _, w := range warnings {
		fmt.Fprintln(c.App.ErrWriter, "warning: "+w)
	}
}

func contractApproveCommand() *ucli.Command {
	return contractActionCommand("approve", "approve the current version of a contract",
		[]ucli.Flag{&ucli.StringFlag{Name: "key", Usage: "sign with this governance key file (PKCS#8 PEM) instead of the node's; it never leaves this machine"}},
		func(c *ucli.Context, cl *client.Client, id string) (client.ContractAction, error) {
			keyFile := c.String("key")
			if keyFile == "" {
				return client.ContractAction{ID: id}, nil
			}
			key, err := os.ReadFile(keyFile)
			if err != nil {
				return client.ContractAction{}, fmt.Errorf("--key: %w", err)
			}
			st, err := cl.Status(c.Context)
			if err != nil {
				return client.ContractAction{}, apiErr(err)
			}
			info, err := cl.Contract(c.Context, id)
			if err != nil {
				return client.ContractAction{}, apiErr(err)
			}
			entry, err := node.SignContractApproval(key, st.Org, st.ConsortiumID, id, info.Version, info.Hash)
			if err != nil {
				return client.ContractAction{}, err
			}
			return client.ContractAction{ID: id, Entry: entry}, nil
		})
}

func contractRejectCommand() *ucli.Command {
	return contractActionCommand("reject", "reject the current version of a contract, saying why",
		[]ucli.Flag{&ucli.StringFlag{Name: "reason", Usage: "why (the other members read it)", Required: true}},
		func(c *ucli.Context, _ *client.Client, id string) (client.ContractAction, error) {
			return client.ContractAction{ID: id, Reason: c.String("reason")}, nil
		})
}

func contractRetireCommand() *ucli.Command {
	return contractActionCommand("retire", "retire a contract: no more rounds", nil,
		func(_ *ucli.Context, _ *client.Client, id string) (client.ContractAction, error) {
			return client.ContractAction{ID: id}, nil
		})
}

func contractListCommand() *ucli.Command {
	return &ucli.Command{
		Name:  "list",
		Usage: "the consortium's contracts",
		Flags: []ucli.Flag{jsonFlag},
		Action: func(c *ucli.Context) error {
			cl, err := apiClient(c)
			if err != nil {
				return err
			}
			cs, err := cl.Contracts(c.Context)
			if err != nil {
				return apiErr(err)
			}
			if c.Bool("json") {
				return printJSON(c.App.Writer, cs)
			}
			t := newTable(c.App.Writer, "ID", "VERSION", "STATE", "AGGREGATE", "MEASURE", "APPROVALS", "HASH")
			for _, ci := range cs.Contracts {
				t.row(ci.ID, ci.Version, ci.State, ci.Aggregate, ci.Measure, fmt.Sprintf("%d/%d", len(ci.Approvals), ci.Needed), short(strings.TrimPrefix(ci.Hash, "sha256:")))
			}
			return t.flush()
		},
	}
}

func contractShowCommand() *ucli.Command {
	return &ucli.Command{
		Name:      "show",
		Usage:     "one contract: state, approvals, hash, the agreed text",
		ArgsUsage: "ID",
		Flags:     []ucli.Flag{jsonFlag},
		Action: func(c *ucli.Context) error {
			if c.NArg() != 1 {
				return usagef("contract show: name one contract ID")
			}
			cl, err := apiClient(c)
			if err != nil {
				return err
			}
			ci, err := cl.Contract(c.Context, c.Args().First())
			if err != nil {
				return apiErr(err)
			}
			if c.Bool("json") {
				return printJSON(c.App.Writer, ci)
			}
			t := newTable(c.App.Writer)
			t.row("id", fmt.Sprintf("%s v%d", ci.ID, ci.Version))
			t.row("title", orDash(ci.Title))
			t.row("state", ci.State)
			t.row("aggregate", ci.Aggregate+" of "+ci.Measure)
			t.row("participants", strings.Join(ci.Participants, ", "))
			t.row("approvals", fmt.Sprintf("%s (%d needed)", orDash(strings.Join(ci.Approvals, ", ")), ci.Needed))
			for _, org := range sortedKeys(ci.Rejections) {
				t.row("rejected by "+org, ci.Rejections[org])
			}
			t.row("proposed by", ci.ProposedBy)
			if ci.Schedule != "" {
				t.row("schedule", "every "+ci.Schedule)
			}
			if nr := ci.NextRound; nr != nil {
				t.row("next round", nr.Due+" ("+nr.By+"'s turn)")
			}
			t.row("hash", ci.Hash)
			return t.flush()
		},
	}
}

func contractPreviewCommand() *ucli.Command {
	return &ucli.Command{
		Name:      "preview",
		Usage:     "compute a contract's cells over this node's own data; nothing is sent",
		ArgsUsage: "FILE.yaml|ID",
		Flags:     []ucli.Flag{jsonFlag},
		Action: func(c *ucli.Context) error {
			if c.NArg() != 1 {
				return usagef("contract preview: name one contract FILE or ID")
			}
			arg := c.Args().First()
			req := client.PreviewRequest{ID: arg}
			if b, err := os.ReadFile(arg); err == nil {
				req = client.PreviewRequest{File: arg, YAML: string(b)}
			} else if !errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("cannot read %s: %w", arg, err)
			}
			cl, err := apiClient(c)
			if err != nil {
				return err
			}
			p, err := cl.Preview(c.Context, req)
			if err != nil {
				return apiErr(err)
			}
			if c.Bool("json") {
				return printJSON(c.App.Writer, p)
			}
			fmt.Fprintf(c.App.Writer, "%s v%d  %s of %s  (this node's own data, %d records scanned)\n", p.Contract, p.Version, p.Aggregate, p.Measure, p.Scanned)
			t := newTable(c.App.Writer, "GROUP", "COUNT", "VALUE")
			for _, cell := range p.Cells {
				t.row(groupString(cell.Group), *cell.Count, client.FormatValue(cell.Value))
			}
			return t.flush()
		},
	}
}

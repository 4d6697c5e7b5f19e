package cli

import (
	"fmt"
	"io"
	"strings"

	ucli "github.com/urfave/cli/v2"

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

// contractActionCommand is a board's decision on a contract's current
// version (approve, reject, retire): build makes the request from the
// command line.
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
			return output(c, info, func(w io.Writer) error {
				fmt.Fprintf(w, "%s v%d: %s (approvals %s; %d needed)\n", info.ID, info.Version, info.State, orDash(strings.Join(info.Approvals, ", ")), info.Needed)
				printWarnings(c, info.Warnings)
				return nil
			})
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

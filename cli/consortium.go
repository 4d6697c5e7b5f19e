package cli

import (
	"fmt"
	"io"

	ucli "github.com/urfave/cli/v2"

	"github.com/cxnet/cxnet/node/client"
)

func consortiumCommand() *ucli.Command {
	return &ucli.Command{
		Name:  "consortium",
		Usage: "found, grow and join the consortium",
		Subcommands: []*ucli.Command{
			consortiumCreateCommand(),
			consortiumAdmitCommand(),
			consortiumApproveCommand(),
			consortiumJoinCommand(),
		},
	}
}

// printGovernance prints what a governance command did.
func printGovernance(c *ucli.Context, res *client.GovernanceResult) error {
	return output(c, res, func(w io.Writer) error {
		_, err := fmt.Fprintf(w, "%s %s (log index %d)\n", res.Event, res.Object, res.Index)
		return err
	})
}

func short(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

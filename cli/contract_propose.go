package cli

import (
	"fmt"
	"io"
	"os"

	ucli "github.com/urfave/cli/v2"
)

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
			return output(c, info, func(w io.Writer) error {
				fmt.Fprintln(w, info.ID)
				fmt.Fprintf(c.App.ErrWriter, "version %d, %s, approvals %d of %d needed (%s)\n", info.Version, info.State, len(info.Approvals), info.Needed, info.Hash)
				printWarnings(c, info.Warnings)
				return nil
			})
		},
	}
}

package cli

import (
	"fmt"
	"io"

	ucli "github.com/urfave/cli/v2"

	"github.com/cxnet/cxnet/node/client"
)

func consortiumCreateCommand() *ucli.Command {
	return &ucli.Command{
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
			return output(c, out, func(w io.Writer) error {
				fmt.Fprintf(w, "created consortium %q (id %s), min cohort %d; %s is its first member\n", out.Name, short(out.ID), out.MinCohort, out.Founder)
				if out.PSK != "" {
					fmt.Fprintf(w, "private-network key (give it to every member over a secure channel; they pass it to `consortium join --psk`):\n%s\n", out.PSK)
				}
				return nil
			})
		},
	}
}

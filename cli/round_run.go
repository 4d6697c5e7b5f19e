package cli

import (
	"fmt"
	"io"
	"strconv"

	ucli "github.com/urfave/cli/v2"

	"github.com/cxnet/cxnet/node/client"
)

func roundRunCommand() *ucli.Command {
	return &ucli.Command{
		Name:      "run",
		Usage:     "run a round of an active contract now, with this node aggregating; wait for the release and print it",
		ArgsUsage: "CONTRACT_ID",
		Flags: []ucli.Flag{jsonFlag,
			&ucli.BoolFlag{Name: "trace", Usage: "also print how long each step of the round took"}},
		Action: func(c *ucli.Context) error {
			if c.NArg() != 1 {
				return usagef("round run: name one contract id")
			}
			cl, err := apiClient(c)
			if err != nil {
				return err
			}
			res, err := cl.RunRoundWith(c.Context, client.RoundRequest{Contract: c.Args().First(), Trace: c.Bool("trace")})
			if err != nil {
				return apiErr(err)
			}
			return output(c, res, func(w io.Writer) error {
				if err := printResults(w, res); err != nil || len(res.Trace) == 0 {
					return err
				}
				fmt.Fprintln(w)
				t := newTable(w, "STEP", "SECONDS")
				for _, s := range res.Trace {
					t.row(s.Step, strconv.FormatFloat(s.Seconds, 'f', 4, 64))
				}
				return t.flush()
			})
		},
	}
}

package cli

import (
	"io"
	"strings"

	ucli "github.com/urfave/cli/v2"
)

func roundListCommand() *ucli.Command {
	return &ucli.Command{
		Name:      "list",
		Usage:     "every round of a contract: released or failed (with the reason), or open",
		ArgsUsage: "CONTRACT_ID",
		Flags:     []ucli.Flag{jsonFlag},
		Action: func(c *ucli.Context) error {
			if c.NArg() != 1 {
				return usagef("round list: name one contract id")
			}
			cl, err := apiClient(c)
			if err != nil {
				return err
			}
			res, err := cl.Rounds(c.Context, c.Args().First())
			if err != nil {
				return apiErr(err)
			}
			return output(c, res, func(w io.Writer) error {
				t := newTable(w, "ROUND", "STATE", "AGGREGATOR", "INPUTS", "DECRYPTORS", "OPENED", "ENDED", "REASON")
				for _, r := range res.Rounds {
					reason := r.Reason
					if len(r.Blame) > 0 {
						reason += " (blames " + strings.Join(r.Blame, ", ") + ", reported by " + r.ReportedBy + ")"
					}
					t.row(r.Round, r.State, r.Aggregator, strings.Join(r.Inputs, ","), strings.Join(r.Decryptors, ","), r.OpenedAt, r.EndedAt, reason)
				}
				return t.flush()
			})
		},
	}
}

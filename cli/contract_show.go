package cli

import (
	"fmt"
	"io"
	"strings"

	ucli "github.com/urfave/cli/v2"
)

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
			return output(c, ci, func(w io.Writer) error {
				t := newTable(w)
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
			})
		},
	}
}

package cli

import (
	"fmt"
	"io"
	"strings"

	ucli "github.com/urfave/cli/v2"
)

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
			return output(c, cs, func(w io.Writer) error {
				t := newTable(w, "ID", "VERSION", "STATE", "AGGREGATE", "MEASURE", "APPROVALS", "HASH")
				for _, ci := range cs.Contracts {
					t.row(ci.ID, ci.Version, ci.State, ci.Aggregate, ci.Measure, fmt.Sprintf("%d/%d", len(ci.Approvals), ci.Needed), short(strings.TrimPrefix(ci.Hash, "sha256:")))
				}
				return t.flush()
			})
		},
	}
}

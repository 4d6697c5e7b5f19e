package cli

import (
	"io"
	"strings"

	ucli "github.com/urfave/cli/v2"
)

func auditCommand() *ucli.Command {
	return &ucli.Command{
		Name:        "audit",
		Usage:       "the node's hash-chained audit log of governance events",
		Flags:       []ucli.Flag{jsonFlag},
		Subcommands: []*ucli.Command{auditVerifyCommand()},
		Action: func(c *ucli.Context) error {
			if c.NArg() > 0 {
				return usagef("audit: unexpected argument %q (did you mean `cxnet audit verify`?)", c.Args().First())
			}
			cl, err := apiClient(c)
			if err != nil {
				return err
			}
			a, err := cl.Audit(c.Context)
			if err != nil {
				return apiErr(err)
			}
			return output(c, a, func(w io.Writer) error {
				t := newTable(w, "SEQ", "TIME", "EVENT", "ACTOR", "OBJECT", "DETAIL")
				for _, e := range a.Entries {
					var detail []string
					for _, k := range sortedKeys(e.Detail) {
						detail = append(detail, k+"="+e.Detail[k])
					}
					t.row(e.Seq, e.Time.Format("2006-01-02 15:04:05Z07:00"), e.Kind, orDash(e.Actor), orDash(e.Object), orDash(strings.Join(detail, " ")))
				}
				return t.flush()
			})
		},
	}
}

package cli

import (
	"fmt"
	"strings"

	ucli "github.com/urfave/cli/v2"
)

func auditCommand() *ucli.Command {
	return &ucli.Command{
		Name:  "audit",
		Usage: "the node's hash-chained audit log of governance events",
		Flags: []ucli.Flag{jsonFlag},
		Subcommands: []*ucli.Command{{
			Name:  "verify",
			Usage: "check the audit chain: exit 1 when an entry was altered, removed or added",
			Flags: []ucli.Flag{jsonFlag},
			Action: func(c *ucli.Context) error {
				cl, err := apiClient(c)
				if err != nil {
					return err
				}
				v, err := cl.AuditVerify(c.Context)
				if err != nil {
					return apiErr(err)
				}
				if c.Bool("json") {
					if err := printJSON(c.App.Writer, v); err != nil {
						return err
					}
				} else if v.OK {
					fmt.Fprintf(c.App.Writer, "audit log intact: %d entries, head %s\n", v.Entries, v.Head)
				}
				if !v.OK {
					return fmt.Errorf("audit log broken: %s", v.Problem)
				}
				return nil
			},
		}},
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
			if c.Bool("json") {
				return printJSON(c.App.Writer, a)
			}
			t := newTable(c.App.Writer, "SEQ", "TIME", "EVENT", "ACTOR", "OBJECT", "DETAIL")
			for _, e := range a.Entries {
				var detail []string
				for _, k := range sortedKeys(e.Detail) {
					detail = append(detail, k+"="+e.Detail[k])
				}
				t.row(e.Seq, e.Time.Format("2006-01-02 15:04:05Z07:00"), e.Kind, orDash(e.Actor), orDash(e.Object), orDash(strings.Join(detail, " ")))
			}
			return t.flush()
		},
	}
}

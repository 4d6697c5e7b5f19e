package cli

import (
	"fmt"
	"io"

	ucli "github.com/urfave/cli/v2"
)

func auditVerifyCommand() *ucli.Command {
	return &ucli.Command{
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
			err = output(c, v, func(w io.Writer) error {
				if v.OK {
					fmt.Fprintf(w, "audit log intact: %d entries, head %s\n", v.Entries, v.Head)
				}
				return nil
			})
			if err != nil {
				return err
			}
			if !v.OK {
				return fmt.Errorf("audit log broken: %s", v.Problem)
			}
			return nil
		},
	}
}

package cli

import (
	"fmt"
	"io"
	"strings"

	ucli "github.com/urfave/cli/v2"
)

func identityCommand() *ucli.Command {
	return &ucli.Command{
		Name:  "identity",
		Usage: "this node's member descriptor (signed): hand it to a member, who runs `cxnet consortium admit`",
		Flags: []ucli.Flag{jsonFlag},
		Action: func(c *ucli.Context) error {
			cl, err := apiClient(c)
			if err != nil {
				return err
			}
			m, err := cl.Identity(c.Context)
			if err != nil {
				return apiErr(err)
			}
			return output(c, m, func(w io.Writer) error {
				t := newTable(w)
				t.row("org", fmt.Sprintf("%s (%s, %s)", m.Org, m.Name, m.Kind))
				t.row("peer id", m.PeerID)
				t.row("addresses", strings.Join(m.Addrs, " "))
				t.row("governance key", m.GovernanceKey)
				if err := t.flush(); err != nil {
					return err
				}
				_, err := fmt.Fprintln(w, "\nsave it with `cxnet identity --json > descriptor.json` and send it to a member")
				return err
			})
		},
	}
}

package cli

import (
	"io"

	ucli "github.com/urfave/cli/v2"
)

func membersCommand() *ucli.Command {
	return &ucli.Command{
		Name:  "members",
		Usage: "the consortium's members and pending admissions",
		Flags: []ucli.Flag{jsonFlag},
		Action: func(c *ucli.Context) error {
			cl, err := apiClient(c)
			if err != nil {
				return err
			}
			ms, err := cl.Members(c.Context)
			if err != nil {
				return apiErr(err)
			}
			return output(c, ms, func(w io.Writer) error {
				t := newTable(w, "ORG", "KIND", "STATE", "RAFT", "APPROVALS", "PEER ID")
				for _, m := range ms.Members {
					t.row(m.Org, m.Kind, m.State, m.Raft, len(m.Approvals), m.PeerID)
				}
				return t.flush()
			})
		},
	}
}

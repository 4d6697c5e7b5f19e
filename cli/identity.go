package cli

import (
	"encoding/json"
	"fmt"
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
			raw, err := cl.Identity(c.Context)
			if err != nil {
				return apiErr(err)
			}
			if c.Bool("json") {
				var v any
				json.Unmarshal(raw, &v)
				return printJSON(c.App.Writer, v)
			}
			var m struct {
				Org, Name, Kind string
				PeerID          string   `json:"peer_id"`
				Addrs           []string `json:"addrs"`
				GovernanceKey   string   `json:"governance_key"`
			}
			if err := json.Unmarshal(raw, &m); err != nil {
				return err
			}
			t := newTable(c.App.Writer)
			t.row("org", fmt.Sprintf("%s (%s, %s)", m.Org, m.Name, m.Kind))
			t.row("peer id", m.PeerID)
			t.row("addresses", strings.Join(m.Addrs, " "))
			t.row("governance key", m.GovernanceKey)
			if err := t.flush(); err != nil {
				return err
			}
			fmt.Fprintln(c.App.Writer, "\nsave it with `cxnet identity --json > descriptor.json` and send it to a member")
			return nil
		},
	}
}

package cli

import (
	"fmt"
	"io"

	ucli "github.com/urfave/cli/v2"

	"github.com/cxnet/cxnet/node/client"
)

func consortiumJoinCommand() *ucli.Command {
	return &ucli.Command{
		Name:  "join",
		Usage: "once admitted, connect this node to the consortium through a member and catch up",
		Flags: []ucli.Flag{
			&ucli.StringFlag{Name: "via", Usage: "a member's address, ending in /p2p/<peer id> (from its `cxnet identity`)", Required: true},
			&ucli.StringFlag{Name: "psk", Usage: "the consortium's private-network key, when it uses one", EnvVars: []string{"CXNET_PSK"}},
			jsonFlag,
		},
		Action: func(c *ucli.Context) error {
			cl, err := apiClient(c)
			if err != nil {
				return err
			}
			out, err := cl.Join(c.Context, client.JoinRequest{Via: c.String("via"), PSK: c.String("psk")})
			if err != nil {
				return apiErr(err)
			}
			return output(c, out, func(w io.Writer) error {
				_, err := fmt.Fprintf(w, "joined consortium %q (id %s) and caught up\n", out.Name, short(out.ID))
				return err
			})
		},
	}
}

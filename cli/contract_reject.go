package cli

import (
	ucli "github.com/urfave/cli/v2"

	"github.com/cxnet/cxnet/node/client"
)

func contractRejectCommand() *ucli.Command {
	return contractActionCommand("reject", "reject the current version of a contract, saying why",
		[]ucli.Flag{&ucli.StringFlag{Name: "reason", Usage: "why (the other members read it)", Required: true}},
		func(c *ucli.Context, _ *client.Client, id string) (client.ContractAction, error) {
			return client.ContractAction{ID: id, Reason: c.String("reason")}, nil
		})
}

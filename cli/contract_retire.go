package cli

import (
	ucli "github.com/urfave/cli/v2"

	"github.com/cxnet/cxnet/node/client"
)

func contractRetireCommand() *ucli.Command {
	return contractActionCommand("retire", "retire a contract: no more rounds", nil,
		func(_ *ucli.Context, _ *client.Client, id string) (client.ContractAction, error) {
			return client.ContractAction{ID: id}, nil
		})
}

package cli

import (
	"fmt"
	"os"

	ucli "github.com/urfave/cli/v2"

	"github.com/cxnet/cxnet/contracts"
	"github.com/cxnet/cxnet/kpi"
	"github.com/cxnet/cxnet/node/client"
)

func contractApproveCommand() *ucli.Command {
	return contractActionCommand("approve", "approve the current version of a contract",
		[]ucli.Flag{&ucli.StringFlag{Name: "key", Usage: "sign with this governance key file (PKCS#8 PEM) instead of the node's; it never leaves this machine"}},
		func(c *ucli.Context, cl *client.Client, id string) (client.ContractAction, error) {
			keyFile := c.String("key")
			if keyFile == "" {
				return client.ContractAction{ID: id}, nil
			}
			key, err := os.ReadFile(keyFile)
			if err != nil {
				return client.ContractAction{}, fmt.Errorf("--key: %w", err)
			}
			st, err := cl.Status(c.Context)
			if err != nil {
				return client.ContractAction{}, apiErr(err)
			}
			info, err := cl.Contract(c.Context, id)
			if err != nil {
				return client.ContractAction{}, apiErr(err)
			}
			entry, err := contracts.SignContractApproval(key, kpi.OrgID(st.Org), st.ConsortiumID,
				contracts.ContractApprove{ID: kpi.ContractID(id), Version: info.Version, Hash: info.Hash})
			if err != nil {
				return client.ContractAction{}, fmt.Errorf("--key %s: %w", keyFile, err)
			}
			return client.ContractAction{ID: id, Entry: entry}, nil
		})
}

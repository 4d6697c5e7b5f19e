package cli

import (
	ucli "github.com/urfave/cli/v2"
)

func consortiumApproveCommand() *ucli.Command {
	return &ucli.Command{
		Name:      "approve",
		Usage:     "approve an organisation's pending admission",
		ArgsUsage: "ORG_ID",
		Flags:     []ucli.Flag{jsonFlag},
		Action: func(c *ucli.Context) error {
			if c.NArg() != 1 {
				return usagef("consortium approve: name the ORG_ID (see `cxnet members`)")
			}
			cl, err := apiClient(c)
			if err != nil {
				return err
			}
			res, err := cl.Approve(c.Context, c.Args().First())
			if err != nil {
				return apiErr(err)
			}
			return printGovernance(c, res)
		},
	}
}

package cli

import (
	ucli "github.com/urfave/cli/v2"
)

func roundCommand() *ucli.Command {
	return &ucli.Command{
		Name:        "round",
		Usage:       "KPI rounds over the participants' encrypted data",
		Subcommands: []*ucli.Command{roundRunCommand(), roundListCommand()},
	}
}

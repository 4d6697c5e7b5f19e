package cli

import (
	ucli "github.com/urfave/cli/v2"
)

func dataCommand() *ucli.Command {
	return &ucli.Command{
		Name:        "data",
		Usage:       "import and inspect this organisation's own records",
		Subcommands: []*ucli.Command{dataImportCommand(), dataStatsCommand()},
	}
}

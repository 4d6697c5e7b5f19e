package cli

import (
	"errors"
	"fmt"
	"os"

	ucli "github.com/urfave/cli/v2"

	"github.com/cxnet/cxnet/node/client"
)

func contractCommand() *ucli.Command {
	return &ucli.Command{
		Name:        "contract",
		Usage:       "KPI contracts: preview (more with the consortium)",
		Subcommands: []*ucli.Command{contractPreviewCommand()},
	}
}

func contractPreviewCommand() *ucli.Command {
	return &ucli.Command{
		Name:      "preview",
		Usage:     "compute a contract's cells over this node's own data; nothing is sent",
		ArgsUsage: "FILE.yaml|ID",
		Flags:     []ucli.Flag{jsonFlag},
		Action: func(c *ucli.Context) error {
			if c.NArg() != 1 {
				return usagef("contract preview: name one contract FILE or ID")
			}
			arg := c.Args().First()
			req := client.PreviewRequest{ID: arg}
			if b, err := os.ReadFile(arg); err == nil {
				req = client.PreviewRequest{File: arg, YAML: string(b)}
			} else if !errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("cannot read %s: %w", arg, err)
			}
			cl, err := apiClient(c)
			if err != nil {
				return err
			}
			p, err := cl.Preview(c.Context, req)
			if err != nil {
				return apiErr(err)
			}
			if c.Bool("json") {
				return printJSON(c.App.Writer, p)
			}
			fmt.Fprintf(c.App.Writer, "%s v%d  %s of %s  (this node's own data, %d records scanned)\n", p.Contract, p.Version, p.Aggregate, p.Measure, p.Scanned)
			t := newTable(c.App.Writer, "GROUP", "COUNT", "VALUE")
			for _, cell := range p.Cells {
				t.row(groupString(cell.Group), *cell.Count, valueString(cell.Value))
			}
			return t.flush()
		},
	}
}

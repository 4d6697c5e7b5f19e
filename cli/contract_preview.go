package cli

import (
	"errors"
	"fmt"
	"io"
	"os"

	ucli "github.com/urfave/cli/v2"

	"github.com/cxnet/cxnet/node/client"
)

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
			return output(c, p, func(w io.Writer) error {
				fmt.Fprintf(w, "%s v%d  %s of %s  (this node's own data, %d records scanned)\n", p.Contract, p.Version, p.Aggregate, p.Measure, p.Scanned)
				t := newTable(w, "GROUP", "COUNT", "VALUE")
				for _, cell := range p.Cells {
					t.row(groupString(cell.Group), countString(cell.Count), client.FormatValue(cell.Value))
				}
				return t.flush()
			})
		},
	}
}

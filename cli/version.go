package cli

import (
	"fmt"
	"io"
	"runtime"

	ucli "github.com/urfave/cli/v2"

	"github.com/cxnet/cxnet/node"
)

func versionCommand() *ucli.Command {
	return &ucli.Command{
		Name:  "version",
		Usage: "print cxnet's version",
		Flags: []ucli.Flag{jsonFlag},
		Action: func(c *ucli.Context) error {
			v := map[string]string{"version": node.Version, "go": runtime.Version(), "platform": runtime.GOOS + "/" + runtime.GOARCH}
			return output(c, v, func(w io.Writer) error {
				_, err := fmt.Fprintf(w, "cxnet %s (%s, %s)\n", v["version"], v["go"], v["platform"])
				return err
			})
		},
	}
}

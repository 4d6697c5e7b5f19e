package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"

	ucli "github.com/urfave/cli/v2"

	"github.com/cxnet/cxnet/kpi"
)

func consortiumAdmitCommand() *ucli.Command {
	return &ucli.Command{
		Name:      "admit",
		Usage:     "propose admitting an organisation (counts as your approval; a majority of members must approve)",
		ArgsUsage: "DESCRIPTOR.json",
		Flags:     []ucli.Flag{jsonFlag},
		Action: func(c *ucli.Context) error {
			if c.NArg() != 1 {
				return usagef("consortium admit: name the DESCRIPTOR.json the organisation made with `cxnet identity --json` (- for stdin)")
			}
			name := c.Args().First()
			var b []byte
			var err error
			if name == "-" {
				b, err = io.ReadAll(os.Stdin)
			} else {
				b, err = os.ReadFile(name)
			}
			if err != nil {
				return fmt.Errorf("cannot read the descriptor: %w", err)
			}
			desc, err := readDescriptor(b)
			if err != nil {
				return fmt.Errorf("%s: %v: make it with `cxnet identity --json > descriptor.json` on the new member's node", name, err)
			}
			cl, err := apiClient(c)
			if err != nil {
				return err
			}
			res, err := cl.Admit(c.Context, desc)
			if err != nil {
				return apiErr(err)
			}
			return printGovernance(c, res)
		},
	}
}

// readDescriptor decodes a member descriptor as `cxnet identity --json`
// writes it, refusing anything else; the node checks its signature.
func readDescriptor(b []byte) (kpi.Member, error) {
	var m kpi.Member
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return kpi.Member{}, fmt.Errorf("not a member descriptor (%v)", err)
	}
	if dec.More() {
		return kpi.Member{}, fmt.Errorf("not a member descriptor (more after the JSON object)")
	}
	return m, nil
}

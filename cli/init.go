package cli

import (
	"fmt"
	"io"

	ucli "github.com/urfave/cli/v2"

	"github.com/cxnet/cxnet/node"
)

func initCommand() *ucli.Command {
	return &ucli.Command{
		Name:  "init",
		Usage: "create a node's home: config, identity and governance keys, store key, API token",
		Description: `Creates --home with config.yaml and keys/ (secrets are 0600). It refuses to
touch an existing home. Then start the node with ` + "`cxnet run --home DIR`" + `.`,
		Flags: []ucli.Flag{
			&ucli.StringFlag{Name: "org", Usage: "organisation id, e.g. hosp-a (2-64 of a-z 0-9 -)", Required: true},
			&ucli.StringFlag{Name: "name", Usage: "organisation's display name"},
			&ucli.StringFlag{Name: "kind", Usage: "hospital | pharma | pharmacy | payer | other", Value: "other"},
			&ucli.StringSliceFlag{Name: "listen", Usage: "libp2p listen multiaddr (repeatable)", Value: ucli.NewStringSlice("/ip4/127.0.0.1/tcp/7001")},
			&ucli.StringSliceFlag{Name: "announce", Usage: "address other members dial, when not --listen (repeatable)"},
			&ucli.StringFlag{Name: "api", Usage: "local API address (loopback)", Value: "127.0.0.1:8001"},
			jsonFlag,
		},
		Action: func(c *ucli.Context) error {
			if c.NArg() > 0 {
				return usagef("init takes no arguments (got %q)", c.Args().First())
			}
			cfg := node.Config{
				Org: c.String("org"), Name: c.String("name"), Kind: c.String("kind"),
				Listen: c.StringSlice("listen"), Announce: c.StringSlice("announce"), API: c.String("api"),
			}
			home := c.String("home")
			h, err := node.Init(home, cfg)
			if err != nil {
				return err
			}
			created := map[string]string{"home": home, "org": cfg.Org, "peer_id": h.PeerID.String()}
			return output(c, created, func(w io.Writer) error {
				_, err := fmt.Fprintf(w, "created node %s in %s\npeer id: %s\nstart it with: cxnet run --home %s\n", cfg.Org, home, h.PeerID, home)
				return err
			})
		},
	}
}

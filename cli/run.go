package cli

import (
	"log/slog"

	ucli "github.com/urfave/cli/v2"

	"github.com/cxnet/cxnet/node"
)

func runCommand() *ucli.Command {
	return &ucli.Command{
		Name:  "run",
		Usage: "run the node's daemon in the foreground (SIGINT/SIGTERM stop it cleanly)",
		Description: `Reads config.yaml from --home; flags and CXNET_* environment variables
override it. Logs go to stderr (slog; --log-format json for collectors).`,
		Flags: []ucli.Flag{
			&ucli.StringFlag{Name: "api", Usage: "local API address (loopback)", EnvVars: []string{"CXNET_API"}},
			&ucli.StringSliceFlag{Name: "listen", Usage: "libp2p listen multiaddr (repeatable)", EnvVars: []string{"CXNET_LISTEN"}},
			&ucli.StringFlag{Name: "log-level", Usage: "debug | info | warn | error", EnvVars: []string{"CXNET_LOG_LEVEL"}},
			&ucli.StringFlag{Name: "log-format", Usage: "text | json", EnvVars: []string{"CXNET_LOG_FORMAT"}},
			&ucli.StringFlag{Name: "store-profile", Usage: "small | large", EnvVars: []string{"CXNET_STORE_PROFILE"}},
			&ucli.DurationFlag{Name: "raft-heartbeat", Usage: "raft heartbeat timeout; elections after twice that (default 2s, WAN-safe)", EnvVars: []string{"CXNET_RAFT_HEARTBEAT"}},
			&ucli.DurationFlag{Name: "round-timeout", Usage: "bound on every KPI round: past it the round is recorded failed (default 60s)", EnvVars: []string{"CXNET_ROUND_TIMEOUT"}},
		},
		Action: func(c *ucli.Context) error {
			home := c.String("home")
			cfg, err := node.LoadConfig(home)
			if err != nil {
				return err
			}
			if c.IsSet("api") {
				cfg.API = c.String("api")
			}
			if c.IsSet("listen") {
				cfg.Listen = c.StringSlice("listen")
			}
			if c.IsSet("log-level") {
				cfg.Log.Level = c.String("log-level")
			}
			if c.IsSet("log-format") {
				cfg.Log.Format = c.String("log-format")
			}
			if c.IsSet("raft-heartbeat") { // only its own field: the rest of raft's section stays
				cfg.Raft.Heartbeat = c.Duration("raft-heartbeat")
			}
			if c.IsSet("round-timeout") {
				cfg.Round.Timeout = c.Duration("round-timeout")
			}
			if c.IsSet("store-profile") {
				cfg.Store.Profile = c.String("store-profile")
			}
			if err := cfg.Validate(); err != nil {
				return err
			}
			h, err := node.LoadHome(home)
			if err != nil {
				return err
			}
			log := newLogger(c, cfg.Log)
			n, err := node.New(h, *cfg, log)
			if err != nil {
				return err
			}
			return n.Run(c.Context)
		},
	}
}

func newLogger(c *ucli.Context, lc node.LogConfig) *slog.Logger {
	var level slog.Level
	level.UnmarshalText([]byte(lc.Level))
	opts := &slog.HandlerOptions{Level: level}
	if lc.Format == "json" {
		return slog.New(slog.NewJSONHandler(c.App.ErrWriter, opts))
	}
	return slog.New(slog.NewTextHandler(c.App.ErrWriter, opts))
}

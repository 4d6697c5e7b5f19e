// Package cli is cxnet's command line (urfave/cli/v2), laid out like
// nomad's command/: one file per leaf command (consortium_admit.go,
// contract_show.go, …; a group's file holds only its list of
// subcommands), and one output helper (output, format.go) through which
// every command with --json prints, JSON or its table. Commands other than
// init, run, demo and version talk to a running node only through its API
// client; contracts is imported only to sign an approval with a board
// member's own key (contract approve --key).
package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	ucli "github.com/urfave/cli/v2"

	"github.com/cxnet/cxnet/node"
)

// Exit codes.
const (
	ExitOK    = 0
	ExitError = 1 // the user's data or request was wrong, or the node failed
	ExitUsage = 2 // the command line was wrong
)

// NewApp builds the cxnet command line writing to stdout and stderr.
func NewApp(stdout, stderr io.Writer) *ucli.App {
	app := &ucli.App{
		Name:                 "cxnet",
		Usage:                "measure patient experience across organisations without pooling patient data",
		Version:              node.Version,
		Writer:               stdout,
		ErrWriter:            stderr,
		EnableBashCompletion: true,
		HideVersion:          true,
		Flags: []ucli.Flag{
			&ucli.StringFlag{
				Name: "home", Usage: "the node's home directory", EnvVars: []string{"CXNET_HOME"},
				Value: defaultHome(),
			},
			&ucli.StringFlag{
				Name: "api-addr", Usage: "address of the node's local API (default: what the running daemon wrote in its home)",
				EnvVars: []string{"CXNET_API_ADDR"},
			},
		},
		Commands: []*ucli.Command{
			initCommand(),
			runCommand(),
			statusCommand(),
			versionCommand(),
			dataCommand(),
			identityCommand(),
			consortiumCommand(),
			membersCommand(),
			contractCommand(),
			roundCommand(),
			resultsCommand(),
			auditCommand(),
			uiCommand(),
			demoCommand(),
		},
		OnUsageError: func(c *ucli.Context, err error, _ bool) error {
			return usageError{err}
		},
		// Errors go back to the caller (main prints them and exits), never
		// straight to os.Exit from inside the library.
		ExitErrHandler: func(*ucli.Context, error) {},
	}
	for _, cmd := range app.Commands {
		setUsageErrors(cmd)
	}
	return app
}

func setUsageErrors(cmd *ucli.Command) {
	cmd.OnUsageError = func(c *ucli.Context, err error, _ bool) error { return usageError{err} }
	for _, sub := range cmd.Subcommands {
		setUsageErrors(sub)
	}
}

// usageError is a wrong command line: exit status 2.
type usageError struct{ error }

func (e usageError) ExitCode() int { return ExitUsage }

// usagef reports a wrong command line from inside an action.
func usagef(format string, a ...any) error { return usageError{fmt.Errorf(format, a...)} }

// ExitCode maps an error returned by the app to the process exit status.
func ExitCode(err error) int {
	if err == nil {
		return ExitOK
	}
	var ec ucli.ExitCoder
	if errors.As(err, &ec) {
		return ec.ExitCode()
	}
	return ExitError
}

func defaultHome() string {
	h, err := os.UserHomeDir()
	if err != nil {
		return ".cxnet"
	}
	return filepath.Join(h, ".cxnet")
}

package cli

import (
	"fmt"
	"io"
	"net"
	"net/url"
	"os/exec"
	"runtime"
	"strings"
	"time"

	ucli "github.com/urfave/cli/v2"
)

// openBrowser starts the desktop's browser on url without waiting for it;
// tests replace it.
var openBrowser = func(url string) error {
	var cmd *exec.Cmd
	switch runtime.GOOS {
	case "darwin":
		cmd = exec.Command("open", url)
	case "windows":
		cmd = exec.Command("rundll32", "url.dll,FileProtocolHandler", url)
	default:
		cmd = exec.Command("xdg-open", url)
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	go cmd.Wait()
	return nil
}

func uiCommand() *ucli.Command {
	return &ucli.Command{
		Name:      "ui",
		Usage:     "a one-time login link to the node's dashboard: released KPIs as charts beside this organisation's own values",
		ArgsUsage: "[PATH]",
		Description: `Asks the running daemon for a login link to its dashboard, served under /ui/
on the node's local API address, and prints it. The link works once, within a
minute, and starts a browser session (an HttpOnly cookie); the API token never
reaches the browser. PATH is the page to land on: /ui/ (the overview) by
default, or for example /ui/contracts/nps-care (a contract's results).

From another machine, forward the API's port under the same number first
(ssh -L 8001:127.0.0.1:8001 NODE-HOST): the node answers only requests
addressed to its own API address. See docs/operations.md.`,
		Flags: []ucli.Flag{
			&ucli.BoolFlag{Name: "open", Usage: "open the link in this machine's browser"},
			jsonFlag,
		},
		Action: func(c *ucli.Context) error {
			if c.NArg() > 1 {
				return usagef("ui: give at most one PATH (got %d arguments)", c.NArg())
			}
			path := c.Args().First()
			if path != "" && !strings.HasPrefix(path, "/") {
				path = "/ui/" + path // "contracts/nps-care" is /ui/contracts/nps-care
			}
			// The node checks the rest (ui.LandingPath): a page of its dashboard.
			if path != "" && (!strings.HasPrefix(path, "/ui/") || strings.Contains(path, "://")) {
				return usagef("ui: %q is not a page of the dashboard: give one such as /ui/ or /ui/contracts/ID", path)
			}
			cl, err := apiClient(c)
			if err != nil {
				return err
			}
			link, err := cl.UILogin(c.Context, path)
			if err != nil {
				return apiErr(err)
			}
			err = output(c, link, func(w io.Writer) error {
				fmt.Fprintln(w, link.URL)
				port := "PORT"
				if u, err := url.Parse(link.URL); err == nil {
					_, port, _ = net.SplitHostPort(u.Host)
				}
				fmt.Fprintf(c.App.ErrWriter, "valid once, until %s. From another machine, forward the port first: ssh -L %s:127.0.0.1:%s NODE-HOST\n",
					link.Expires.UTC().Format(time.TimeOnly+" UTC"), port, port)
				return nil
			})
			if err != nil {
				return err
			}
			if c.Bool("open") {
				if err := openBrowser(link.URL); err != nil {
					return fmt.Errorf("open the browser: %w (open the link above by hand)", err)
				}
			}
			return nil
		},
	}
}

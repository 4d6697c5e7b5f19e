package cli

import (
	"errors"
	"fmt"

	ucli "github.com/urfave/cli/v2"

	"github.com/cxnet/cxnet/node/client"
)

// apiClient opens the API client of the node selected by --home.
func apiClient(c *ucli.Context) (*client.Client, error) {
	return client.Open(c.String("home"), c.String("api-addr"))
}

// apiErr turns an API error into the message the user reads.
func apiErr(err error) error {
	var ae *client.Error
	if errors.As(err, &ae) {
		return errors.New(ae.Msg)
	}
	if errors.Is(err, client.ErrNotRunning) {
		return err
	}
	return fmt.Errorf("talking to the node: %w", err)
}

// Command cxnet is the node a consortium member runs to compute shared
// patient-experience KPIs without pooling patient data.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/cxnet/cxnet/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := cli.Run(ctx, cli.NewApp(os.Stdout, os.Stderr), os.Args)
	stop()
	if err != nil {
		fmt.Fprintf(os.Stderr, "cxnet: %v\n", err)
	}
	os.Exit(cli.ExitCode(err))
}

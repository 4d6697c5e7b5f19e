package cli

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	ucli "github.com/urfave/cli/v2"

	"github.com/cxnet/cxnet/kpi"
	"github.com/cxnet/cxnet/node/client"
)

func resultsCommand() *ucli.Command {
	return &ucli.Command{
		Name:      "results",
		Usage:     "a contract's released result (the latest round by default), beside this organisation's own value",
		ArgsUsage: "CONTRACT_ID",
		Flags: []ucli.Flag{
			jsonFlag,
			&ucli.BoolFlag{Name: "csv", Usage: "print CSV: one row per cell"},
			&ucli.StringFlag{Name: "round", Usage: "a released round's id (see the audit log or --json's round)"},
		},
		Action: func(c *ucli.Context) error {
			if c.NArg() != 1 {
				return usagef("results: name one contract id")
			}
			cl, err := apiClient(c)
			if err != nil {
				return err
			}
			res, err := cl.Results(c.Context, c.Args().First(), kpi.RoundID(c.String("round")))
			if err != nil {
				return apiErr(err)
			}
			if c.Bool("csv") {
				return client.WriteResultsCSV(c.App.Writer, res)
			}
			return output(c, res, func(w io.Writer) error { return printResults(w, res) })
		},
	}
}

// printResults renders a released result as a table, each cell beside
// this node's own value.
func printResults(w io.Writer, res *client.Results) error {
	fmt.Fprintf(w, "%s v%d  %s  round %s, released %s\n", res.Contract, res.Version, res.Aggregate, res.Round, res.ReleasedAt)
	if len(res.SealedTo) > 0 {
		fmt.Fprintf(w, "inputs from %s; decrypted by %s; released to its readers only (%s): read it on their nodes\n",
			strings.Join(res.Participants, ", "), strings.Join(res.Decryptors, ", "), strings.Join(res.SealedTo, ", "))
		return nil
	}
	fmt.Fprintf(w, "inputs from %s; decrypted by %s; cells under %d records suppressed: %d\n",
		strings.Join(res.Participants, ", "), strings.Join(res.Decryptors, ", "), res.Privacy.MinCohort, res.Privacy.Suppressed)
	t := newTable(w, "GROUP", "COUNT", "VALUE", "OWN COUNT", "OWN VALUE")
	for _, cell := range res.Cells {
		count, value := "-", "suppressed"
		if !cell.Suppressed {
			count, value = countString(cell.Count), client.FormatValue(cell.Value)
		}
		ownCount, ownValue := "-", "-"
		if cell.Local != nil {
			ownCount, ownValue = strconv.FormatInt(cell.Local.Count, 10), client.FormatValue(cell.Local.Value)
		}
		t.row(groupString(cell.Group), count, value, ownCount, ownValue)
	}
	return t.flush()
}

func countString(n *int64) string {
	if n == nil {
		return "-"
	}
	return strconv.FormatInt(*n, 10)
}

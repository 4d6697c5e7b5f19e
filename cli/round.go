package cli

import (
	"fmt"
	"strconv"
	"strings"

	ucli "github.com/urfave/cli/v2"

	"github.com/cxnet/cxnet/kpi"
	"github.com/cxnet/cxnet/node/client"
)

func roundCommand() *ucli.Command {
	return &ucli.Command{
		Name:  "round",
		Usage: "KPI rounds over the participants' encrypted data",
		Subcommands: []*ucli.Command{{
			Name:      "run",
			Usage:     "run a round of an active contract now, with this node aggregating; wait for the release and print it",
			ArgsUsage: "CONTRACT_ID",
			Flags: []ucli.Flag{jsonFlag,
				&ucli.BoolFlag{Name: "trace", Usage: "also print how long each step of the round took"}},
			Action: func(c *ucli.Context) error {
				if c.NArg() != 1 {
					return usagef("round run: name one contract id")
				}
				cl, err := apiClient(c)
				if err != nil {
					return err
				}
				res, err := cl.RunRoundWith(c.Context, client.RoundRequest{Contract: c.Args().First(), Trace: c.Bool("trace")})
				if err != nil {
					return apiErr(err)
				}
				if err := printResults(c, res); err != nil || c.Bool("json") || len(res.Trace) == 0 {
					return err
				}
				fmt.Fprintln(c.App.Writer)
				t := newTable(c.App.Writer, "STEP", "SECONDS")
				for _, s := range res.Trace {
					t.row(s.Step, strconv.FormatFloat(s.Seconds, 'f', 4, 64))
				}
				return t.flush()
			},
		}, {
			Name:      "list",
			Usage:     "every round of a contract: released or failed (with the reason), or open",
			ArgsUsage: "CONTRACT_ID",
			Flags:     []ucli.Flag{jsonFlag},
			Action: func(c *ucli.Context) error {
				if c.NArg() != 1 {
					return usagef("round list: name one contract id")
				}
				cl, err := apiClient(c)
				if err != nil {
					return err
				}
				res, err := cl.Rounds(c.Context, c.Args().First())
				if err != nil {
					return apiErr(err)
				}
				if c.Bool("json") {
					return printJSON(c.App.Writer, res)
				}
				t := newTable(c.App.Writer, "ROUND", "STATE", "AGGREGATOR", "INPUTS", "DECRYPTORS", "OPENED", "ENDED", "REASON")
				for _, r := range res.Rounds {
					reason := r.Reason
					if len(r.Blame) > 0 {
						reason += " (blames " + strings.Join(r.Blame, ", ") + ", reported by " + r.ReportedBy + ")"
					}
					t.row(r.Round, r.State, r.Aggregator, strings.Join(r.Inputs, ","), strings.Join(r.Decryptors, ","), r.OpenedAt, r.EndedAt, reason)
				}
				return t.flush()
			},
		}},
	}
}

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
			return printResults(c, res)
		},
	}
}

// printResults renders a result as JSON, CSV or a table.
func printResults(c *ucli.Context, res *client.Results) error {
	w := c.App.Writer
	switch {
	case c.Bool("json"):
		return printJSON(w, res)
	case c.Bool("csv"):
		return client.WriteResultsCSV(w, res)
	}
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

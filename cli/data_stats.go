package cli

import (
	"fmt"
	"io"
	"strings"

	ucli "github.com/urfave/cli/v2"
)

func dataStatsCommand() *ucli.Command {
	return &ucli.Command{
		Name:  "stats",
		Usage: "what this node holds: records per measure, time range, dimensions",
		Flags: []ucli.Flag{jsonFlag},
		Action: func(c *ucli.Context) error {
			cl, err := apiClient(c)
			if err != nil {
				return err
			}
			st, err := cl.DataStats(c.Context)
			if err != nil {
				return apiErr(err)
			}
			return output(c, st, func(w io.Writer) error {
				fmt.Fprintf(w, "%d records in %d imports\n", st.Records, st.Imports)
				t := newTable(w, "MEASURE", "RECORDS", "SUBJECTS", "FROM", "TO", "DIMENSIONS")
				for _, m := range sortedKeys(st.Measures) {
					ms := st.Measures[m]
					var dims []string
					for _, d := range sortedKeys(ms.Dims) {
						dims = append(dims, fmt.Sprintf("%s(%d)", d, len(ms.Dims[d])))
					}
					t.row(m, ms.Records, ms.Subjects, ms.From, ms.To, orDash(strings.Join(dims, " ")))
				}
				return t.flush()
			})
		},
	}
}

package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"

	ucli "github.com/urfave/cli/v2"
)

// jsonFlag is the --json flag every read command has.
var jsonFlag = &ucli.BoolFlag{Name: "json", Usage: "print JSON instead of a table"}

// output prints what a command read or did: v as indented JSON with
// --json (the shape scripts rely on, INTERFACE.md), else text(w), the
// table or lines people read. Every command with --json prints through
// it, to the app's writer, so tests capture either form.
func output(c *ucli.Context, v any, text func(w io.Writer) error) error {
	if c.Bool("json") {
		return printJSON(c.App.Writer, v)
	}
	return text(c.App.Writer)
}

// printJSON writes v as indented JSON: the shape scripts rely on.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// table writes aligned columns.
type table struct{ tw *tabwriter.Writer }

func newTable(w io.Writer, header ...string) *table {
	t := &table{tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)}
	if len(header) > 0 {
		t.row(toAny(header)...)
	}
	return t
}

func (t *table) row(cols ...any) {
	s := make([]string, len(cols))
	for i, c := range cols {
		s[i] = fmt.Sprint(c)
	}
	fmt.Fprintln(t.tw, strings.Join(s, "\t"))
}

func (t *table) flush() error { return t.tw.Flush() }

func toAny(s []string) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// groupString renders a cell's group as "care_setting=outpatient period=2026-Q1".
func groupString(g map[string]string) string {
	if len(g) == 0 {
		return "(all)"
	}
	parts := make([]string, 0, len(g))
	for _, k := range sortedKeys(g) {
		parts = append(parts, k+"="+g[k])
	}
	return strings.Join(parts, " ")
}

package cli

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/mattn/go-isatty"
	"github.com/schollz/progressbar/v3"
	ucli "github.com/urfave/cli/v2"

	"github.com/cxnet/cxnet/node/client"
)

func dataImportCommand() *ucli.Command {
	return &ucli.Command{
		Name:      "import",
		Usage:     "import CSV or FHIR R4 files into the node, all or nothing",
		ArgsUsage: "FILE...",
		Description: `Canonical CSV (record_id,subject,measure,value,time + dimension columns) or
FHIR R4 (NDJSON, a Bundle or one resource; QuestionnaireResponse needs --map).
All files of one command are one import: if any record is refused, nothing is
stored. Subjects are pseudonymised by the node; raw subjects are never kept.`,
		Flags: []ucli.Flag{
			&ucli.StringFlag{Name: "format", Usage: "csv | fhir (default: by file extension)"},
			&ucli.StringFlag{Name: "map", Usage: "FHIR mapping file (YAML)"},
			&ucli.BoolFlag{Name: "dry-run", Usage: "check everything, store nothing"},
			&ucli.BoolFlag{Name: "replace", Usage: "overwrite records whose record_id is already stored"},
			&ucli.BoolFlag{Name: "skip-unknown", Usage: "FHIR: skip resource types cxnet does not map instead of failing"},
			jsonFlag,
		},
		Action: func(c *ucli.Context) error {
			if c.NArg() == 0 {
				return usagef("data import: name at least one FILE")
			}
			format := c.String("format")
			if format != "" && format != "csv" && format != "fhir" {
				return usagef("--format %q: use csv or fhir", format)
			}
			var mapping []byte
			if m := c.String("map"); m != "" {
				b, err := os.ReadFile(m)
				if err != nil {
					return fmt.Errorf("mapping file: %w", err)
				}
				mapping = b
			}
			var files []client.ImportFile
			var total int64
			for _, name := range c.Args().Slice() {
				f, err := os.Open(name)
				if err != nil {
					return fmt.Errorf("cannot read %s: %w", name, err)
				}
				defer f.Close()
				if fi, err := f.Stat(); err == nil {
					if fi.IsDir() {
						return fmt.Errorf("%s is a directory; name the files to import", name)
					}
					total += fi.Size()
				}
				files = append(files, client.ImportFile{Name: name, Body: f})
			}
			cl, err := apiClient(c)
			if err != nil {
				return err
			}
			var bar *progressbar.ProgressBar
			if isTerminal(c.App.ErrWriter) && !c.Bool("json") {
				bar = progressbar.DefaultBytes(total, "importing")
				for i := range files {
					r := progressbar.NewReader(files[i].Body, bar)
					files[i].Body = &r
				}
			}
			sum, err := cl.Import(c.Context, client.ImportRequest{
				Format: format, DryRun: c.Bool("dry-run"), Replace: c.Bool("replace"), SkipUnknown: c.Bool("skip-unknown"),
			}, mapping, files)
			if bar != nil {
				bar.Finish()
				fmt.Fprintln(c.App.ErrWriter)
			}
			if err != nil {
				return fmt.Errorf("%w\nnothing was imported", apiErr(err))
			}
			return output(c, sum, func(w io.Writer) error { return printImportSummary(w, sum) })
		},
	}
}

func printImportSummary(w io.Writer, s *client.ImportSummary) error {
	verb := "imported"
	if s.DryRun {
		verb = "dry run: would import"
	}
	fmt.Fprintf(w, "%s %d records from %s in %.2fs", verb, s.Records, strings.Join(s.Files, ", "), s.Seconds)
	if s.Replaced > 0 {
		fmt.Fprintf(w, " (%d replaced)", s.Replaced)
	}
	fmt.Fprintln(w)
	t := newTable(w, "  MEASURE", "RECORDS")
	for _, m := range sortedKeys(s.Measures) {
		t.row("  "+m, s.Measures[m])
	}
	for _, k := range sortedKeys(s.Skipped) {
		t.row("  skipped: "+k, s.Skipped[k])
	}
	for _, k := range sortedKeys(s.Notes) {
		t.row("  note: "+k, s.Notes[k])
	}
	return t.flush()
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && (isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd()))
}

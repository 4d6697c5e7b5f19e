// Command gen writes deterministic synthetic canonical CSV for cxnet load
// tests and benchmarks: survey records (nps, wait_minutes, prem_score) by
// default, pharmacy dispenses with -dispenses N.
//
//	go run ./simulations/cmd/gen -rows 1000000 -seed 1 -o /tmp/survey.csv
//	go run ./simulations/cmd/gen -dispenses 50000 -seed 1 -o /tmp/dispense.csv
package main

import (
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/cxnet/cxnet/simulations/synth"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("gen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	rows := fs.Int("rows", 1000, "survey rows to write")
	dispenses := fs.Int("dispenses", 0, "write this many dispense.days_supply rows instead of survey rows")
	seed := fs.Uint64("seed", 1, "random seed; the same seed gives the same file")
	subjects := fs.Int("subjects", 200_000, "distinct subjects")
	year := fs.Int("year", 2026, "calendar year of the records")
	out := fs.String("o", "", "output file (default: standard output)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: gen [-rows N | -dispenses N] [-seed S] [-subjects N] [-year Y] [-o FILE]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "gen: unexpected argument %q\n", fs.Arg(0))
		return 2
	}

	w := stdout
	var f *os.File
	if *out != "" {
		var err error
		if f, err = os.Create(*out); err != nil {
			fmt.Fprintf(stderr, "gen: %v\n", err)
			return 1
		}
		w = f
	}
	cfg := synth.Config{Rows: *rows, Seed: *seed, Subjects: *subjects, Year: *year}
	var err error
	if *dispenses > 0 {
		cfg.Rows = *dispenses
		err = synth.WriteDispenses(w, cfg)
	} else {
		err = synth.WriteSurvey(w, cfg)
	}
	if f != nil {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "gen: %v\n", err)
		return 1
	}
	return 0
}

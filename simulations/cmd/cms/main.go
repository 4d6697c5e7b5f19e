// Command cms writes the CMS OAS CAHPS hospital outpatient survey results
// (July 2024 Care Compare) as cxnet canonical CSV for a hospital node: one
// "rating" record per completed survey, reconstructed from each facility's
// published 9–10 / 7–8 / 0–6 split (see package cms for how).
//
//	go run ./simulations/cmd/cms -o /tmp/cms.csv                 # every facility
//	go run ./simulations/cmd/cms -split 3 -part 0 -o /tmp/h0.csv # a third of them
//
// Without -in it uses the copy of OQR_OAS_CAHPS_BY_HOSPITAL.csv built into
// the program.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/cxnet/cxnet/simulations/cms"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("cms", flag.ContinueOnError)
	fs.SetOutput(stderr)
	in := fs.String("in", "", "CMS OQR_OAS_CAHPS_BY_HOSPITAL.csv to read (default: the built-in July 2024 copy)")
	out := fs.String("o", "", "output file (default: standard output)")
	split := fs.Int("split", 1, "split the facilities into this many shares")
	part := fs.Int("part", 0, "write share number `i` (0..split-1): facilities whose index % split == i")
	means := fs.Bool("facility-means", false, "also write one rating_9_10_pct record per facility (its published % of 9-10)")
	quiet := fs.Bool("q", false, "do not print the summary on standard error")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: cms [-in FILE] [-split K -part i] [-facility-means] [-o FILE]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "cms: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	if *split < 1 || *part < 0 || *part >= *split {
		fmt.Fprintf(stderr, "cms: -part %d -split %d: need split >= 1 and 0 <= part < split\n", *part, *split)
		return 2
	}

	facilities, err := readFacilities(*in)
	if err != nil {
		fmt.Fprintf(stderr, "cms: %v\n", err)
		return 1
	}
	w := stdout
	var f *os.File
	if *out != "" {
		if f, err = os.Create(*out); err != nil {
			fmt.Fprintf(stderr, "cms: %v\n", err)
			return 1
		}
		w = f
	}
	sum, err := cms.WriteRecords(w, facilities, cms.Options{Split: *split, Part: *part, FacilityMeans: *means})
	if f != nil {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "cms: %v\n", err)
		return 1
	}
	if !*quiet {
		fmt.Fprintf(stderr, "cms: part %d of %d: %d facilities, %d records\n", *part, *split, sum.Facilities, sum.Records)
	}
	return 0
}

func readFacilities(path string) ([]cms.Facility, error) {
	if path == "" {
		return cms.Facilities()
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fs, err := cms.ParseFacilities(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return fs, nil
}

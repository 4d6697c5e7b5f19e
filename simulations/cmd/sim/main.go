// Command sim runs a whole cxnet consortium in one process over libp2p's
// mock network (simulations/sim) and measures it: it forms the consortium,
// keys it, agrees an NPS contract of --cells cells, runs --rounds rounds
// and prints what they cost.
//
//	go run ./simulations/cmd/sim --orgs 10 --records 2000 --cells 768 [--latency 20ms] [--bandwidth 12500000] [--rounds 3] [--json]
//
// Fields: orgs, cells, key_epoch_seconds (last member joined to every node
// holding the common key), governance_seconds (contract proposed to active
// on every node), round_seconds (median `round run`), crypto_floor_seconds
// (the same round's cryptography in one goroutine, measured in this run),
// bytes_per_participant (bytes all nodes wrote to libp2p streams during a
// round, per participant), bytes_floor_per_participant (its ciphertexts
// plus, on average, its decryption shares), peak_rss_bytes (the whole
// process, every node, before the floor is measured), released_equals_pooled.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/cxnet/cxnet/simulations/sim"
)

// Result is what one run measured.
type Result struct {
	Orgs                     int     `json:"orgs"`
	Cells                    int     `json:"cells"`
	KeyEpochSeconds          float64 `json:"key_epoch_seconds"`
	GovernanceSeconds        float64 `json:"governance_seconds"`
	RoundSeconds             float64 `json:"round_seconds"`
	CryptoFloorSeconds       float64 `json:"crypto_floor_seconds"`
	BytesPerParticipant      float64 `json:"bytes_per_participant"`
	BytesFloorPerParticipant float64 `json:"bytes_floor_per_participant"`
	PeakRSSBytes             int64   `json:"peak_rss_bytes"`
	ReleasedEqualsPooled     bool    `json:"released_equals_pooled"`
}

type options struct {
	cfg            sim.Config
	rounds         int
	json           bool
	logFile        string
	cpuProfile     string
	mutexProfile   string
	memProfile     string
	roundsAgreeing bool
}

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "sim:", strings.TrimPrefix(err.Error(), "sim: "))
		os.Exit(1)
	}
}

func parse(args []string) (options, error) {
	var o options
	fs := flag.NewFlagSet("sim", flag.ContinueOnError)
	fs.IntVar(&o.cfg.Orgs, "orgs", 5, "organisations (nodes), 3 or more")
	fs.IntVar(&o.cfg.Records, "records", 2000, "NPS answers per organisation")
	fs.IntVar(&o.cfg.Cells, "cells", 768, "cells of the contract (at most the contracts' limit, contracts.MaxCells: 20,000)")
	fs.DurationVar(&o.cfg.Latency, "latency", 0, "one-way latency of every link")
	fs.Float64Var(&o.cfg.Bandwidth, "bandwidth", 0, "bandwidth of every link, bytes per second each way (0: unlimited)")
	fs.Uint64Var(&o.cfg.Seed, "seed", 1, "seed of the data")
	fs.DurationVar(&o.cfg.RoundTimeout, "round-timeout", 5*time.Minute, "the nodes' round.timeout (rounds at 50 organisations take tens of seconds)")
	fs.DurationVar(&o.cfg.Wait, "wait", 10*time.Minute, "bound on each wait for the whole consortium (its key, a contract active everywhere)")
	fs.IntVar(&o.rounds, "rounds", 3, "rounds to run (round_seconds is their median)")
	fs.BoolVar(&o.json, "json", false, "print JSON")
	fs.StringVar(&o.logFile, "log", "", "write the nodes' logs to this file")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of the rounds to this file")
	fs.StringVar(&o.mutexProfile, "mutexprofile", "", "write a mutex profile of the rounds to this file")
	fs.StringVar(&o.memProfile, "memprofile", "", "write a heap profile, taken after the rounds, to this file")
	fs.BoolVar(&o.roundsAgreeing, "check-nodes", true, "check every node lists, audits and serves the rounds alike")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	switch {
	case fs.NArg() > 0:
		return o, fmt.Errorf("unexpected arguments %v", fs.Args())
	case o.cfg.Orgs < 3:
		return o, fmt.Errorf("--orgs %d: a round needs at least 3 organisations", o.cfg.Orgs)
	case o.rounds < 1:
		return o, fmt.Errorf("--rounds %d: run at least one", o.rounds)
	case o.cfg.Latency < 0 || o.cfg.Bandwidth < 0:
		return o, errors.New("--latency and --bandwidth must not be negative")
	}
	return o, nil
}

func run(args []string, out io.Writer) error {
	o, err := parse(args)
	if err != nil {
		return err
	}
	var logw io.Writer
	if o.logFile != "" {
		f, err := os.Create(o.logFile)
		if err != nil {
			return err
		}
		defer f.Close()
		logw = f
	}
	env, err := sim.NewEnv("", logw)
	if err != nil {
		return err
	}
	var res Result
	err = env.Run(func(e *sim.Env) { res = measure(e, o) })
	if err != nil {
		return err
	}
	if o.json {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(res)
	}
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "orgs\t%d\n", res.Orgs)
	fmt.Fprintf(tw, "cells\t%d\n", res.Cells)
	fmt.Fprintf(tw, "key epoch\t%.2f s\n", res.KeyEpochSeconds)
	fmt.Fprintf(tw, "governance (proposal to active)\t%.3f s\n", res.GovernanceSeconds)
	fmt.Fprintf(tw, "round\t%.3f s\n", res.RoundSeconds)
	fmt.Fprintf(tw, "crypto floor\t%.3f s (round %.1f×)\n", res.CryptoFloorSeconds, res.RoundSeconds/res.CryptoFloorSeconds)
	fmt.Fprintf(tw, "bytes per participant\t%.0f (floor %.0f, %.2f×)\n", res.BytesPerParticipant, res.BytesFloorPerParticipant, res.BytesPerParticipant/res.BytesFloorPerParticipant)
	fmt.Fprintf(tw, "peak RSS\t%d MB (%d MB a node)\n", res.PeakRSSBytes>>20, res.PeakRSSBytes>>20/int64(res.Orgs))
	fmt.Fprintf(tw, "released = pooled\t%v\n", res.ReleasedEqualsPooled)
	return tw.Flush()
}

// measure runs the simulation; it ends the goroutine through e.Fatal on
// any failure.
func measure(e *sim.Env, o options) Result {
	s := sim.Start(e, o.cfg)
	res := Result{Orgs: o.cfg.Orgs, Cells: o.cfg.Cells, KeyEpochSeconds: s.KeyEpoch.Seconds(), ReleasedEqualsPooled: true}
	const id = "nps-sim"
	res.GovernanceSeconds = s.Agree(id, "majority", o.cfg.Orgs).Seconds()

	if o.cpuProfile != "" {
		f, err := os.Create(o.cpuProfile)
		if err != nil {
			e.Fatal(err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			e.Fatal(err)
		}
	}
	if o.mutexProfile != "" {
		runtime.SetMutexProfileFraction(5)
	}
	agg := s.Cluster.Nodes[1%len(s.Cluster.Nodes)]
	var times []float64
	var bytes float64
	threshold := 0
	for range o.rounds {
		before := s.Net.Sent()
		r, took, err := s.RunRound(agg, id)
		if err != nil {
			e.Fatalf("round by %s: %v", agg.Org, err)
		}
		after := s.Net.Sent()
		var sent int64
		for p, n := range after {
			sent += n - before[p]
		}
		times = append(times, took.Seconds())
		bytes += float64(sent) / float64(len(r.Participants))
		threshold = len(r.Decryptors)
		if err := s.CheckRelease(r); err != nil {
			e.Log(err)
			res.ReleasedEqualsPooled = false
		}
	}
	if o.cpuProfile != "" {
		pprof.StopCPUProfile()
	}
	if o.mutexProfile != "" {
		f, err := os.Create(o.mutexProfile)
		if err != nil {
			e.Fatal(err)
		}
		if err := pprof.Lookup("mutex").WriteTo(f, 0); err != nil {
			e.Fatal(err)
		}
		f.Close()
	}
	if o.memProfile != "" {
		f, err := os.Create(o.memProfile)
		if err != nil {
			e.Fatal(err)
		}
		if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
			e.Fatal(err)
		}
		f.Close()
	}
	if o.roundsAgreeing {
		s.RoundsAgree(id, s.Cluster.Nodes...) // fails the run on any disagreement
	}
	slices.Sort(times)
	res.RoundSeconds = times[len(times)/2]
	res.BytesPerParticipant = bytes / float64(o.rounds)
	rss, err := sim.PeakRSS()
	if err != nil {
		e.Fatal(err)
	}
	res.PeakRSSBytes = rss
	floor, err := sim.CryptoFloor(o.cfg.Orgs, threshold, o.cfg.Cells)
	if err != nil {
		e.Fatal(err)
	}
	res.CryptoFloorSeconds = floor.Round.Seconds()
	res.BytesFloorPerParticipant = floor.PerParticipant(o.cfg.Orgs, threshold)
	return res
}

package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cxnet/cxnet/contracts"
	"github.com/cxnet/cxnet/node/client"
	"github.com/cxnet/cxnet/privacy"
	"github.com/cxnet/cxnet/privacy/privacytest"
	"github.com/cxnet/cxnet/simulations/synth"
)

// The end-to-end benchmarks measure real cxnet processes on loopback, with
// their default configuration (raft heartbeat 2 s, info logs), against the
// same work done without a network. `make bench` runs them with
// -benchtime 10x: ten rounds, ten governance decisions.

// benchOrgs are the four organisations of the end-to-end benchmarks.
var benchOrgs = []string{"hosp-a", "hosp-b", "pharma-x", "pharm-y"}

// benchRecords is how many synthetic survey records each organisation
// imports for BenchmarkE2ERound (80% of them nps answers).
const benchRecords = 20_000

// benchContract is an NPS contract of 768 cells: 4 therapeutic areas × 4
// regions × 4 age bands × 12 months. The synthetic data has no patient
// under 18, so a quarter of the cells are empty (and suppressed); the
// encrypted vectors carry every cell all the same.
const benchContract = `id: nps-bench
version: 1
title: NPS by therapeutic area, region, age band and month
measure: nps
aggregate: nps
value_range: [0, 10]
group_by:
  therapeutic_area: [diabetes, oncology, cardiology, respiratory]
  region: [north, south, east, west]
  age_band: ["0-17", "18-44", "45-64", "65+"]
window: {from: 2026-01-01, to: 2026-12-31}
period: month
participants: [hosp-a, hosp-b, pharma-x, pharm-y]
approvals: all
privacy:
  min_cohort: 11
`

const benchCells = 768

// benchConsortium is four running cxnet daemons that have formed a
// consortium and hold its key.
type benchConsortium struct {
	homes map[string]string
	// members and threshold are the key epoch's: a decryption takes
	// threshold shares.
	members, threshold int
}

// newBenchConsortium starts the four daemons (killed in b.Cleanup), gives
// each records synthetic survey records of its own, forms the consortium
// and waits for its key on every node.
func newBenchConsortium(b *testing.B, records int) *benchConsortium {
	b.Helper()
	c := &benchConsortium{homes: map[string]string{}}
	dir := b.TempDir()
	for i, o := range benchOrgs {
		c.homes[o] = initNode(b, o)
		startDaemonArgs(b, c.homes[o], "--log-level", "info")
		if records == 0 {
			continue
		}
		path := filepath.Join(dir, o+".csv")
		f, err := os.Create(path)
		if err != nil {
			b.Fatal(err)
		}
		w := bufio.NewWriter(f)
		if err := synth.WriteSurvey(w, synth.Config{Rows: records, Seed: uint64(i + 1)}); err != nil {
			b.Fatal(err)
		}
		if err := errors.Join(w.Flush(), f.Close()); err != nil {
			b.Fatal(err)
		}
		if out := cxOK(b, c.homes[o], "data", "import", path); !strings.Contains(out, fmt.Sprintf("imported %d records", records)) {
			b.Fatalf("%s: data import: %s", o, out)
		}
	}
	formConsortium(b, c.homes, benchOrgs)
	var st statusJSON
	cxJSON(b, c.homes[benchOrgs[0]], &st, "status")
	if st.Keys == nil || len(st.Keys.Members) != len(benchOrgs) || st.Keys.Threshold < 1 {
		b.Fatalf("%s's key epoch after the consortium formed: %+v, want every one of %v a key member", benchOrgs[0], st.Keys, benchOrgs)
	}
	c.members, c.threshold = len(st.Keys.Members), st.Keys.Threshold
	return c
}

// client opens org's node's local API.
func (c *benchConsortium) client(b *testing.B, org string) *client.Client {
	b.Helper()
	cl, err := client.Open(c.homes[org], "")
	if err != nil {
		b.Fatal(err)
	}
	return cl
}

// waitActive waits until the contract is active on every node.
func (c *benchConsortium) waitActive(ctx context.Context, id string, clients map[string]*client.Client) error {
	for _, o := range benchOrgs {
		for {
			info, err := clients[o].Contract(ctx, id)
			if err == nil && info.State == "active" {
				break
			}
			if ctx.Err() != nil {
				return fmt.Errorf("contract %s is not active on %s (state %q, last error %v): %w", id, o, info.State, err, ctx.Err())
			}
			time.Sleep(2 * time.Millisecond)
		}
	}
	return nil
}

// BenchmarkE2ERound: four real cxnet processes on loopback, 20,000
// synthetic records each, run rounds of a 768-cell NPS contract with
// `cxnet round run --json --trace` from the first organisation's node
// (which founded the consortium and leads raft). Against them, in the
// same run, the pure cryptography of the same round in one goroutine:
// every participant encrypts the ciphertexts this contract's encoding
// needs, one adds them, a threshold of key members each give a decryption
// share, and the shares are combined. It reports the time of both and
// their ratio, and the bytes every node sent on libp2p streams during the
// rounds (cxnet_p2p_bytes_total, all protocols: round, raft, governance
// forwarding), per participant and round, against the floor: a
// participant's own ciphertexts plus, averaged over the participants, the
// threshold's decryption shares.
func BenchmarkE2ERound(b *testing.B) {
	c := newBenchConsortium(b, benchRecords)
	ct, err := contracts.Parse([]byte(benchContract), "nps-bench.yaml")
	if err != nil {
		b.Fatal(err)
	}
	if n := len(ct.Cells()); n != benchCells {
		b.Fatalf("the benchmark contract has %d cells, want %d", n, benchCells)
	}
	dir := b.TempDir()
	cpath := filepath.Join(dir, "nps-bench.yaml")
	if err := os.WriteFile(cpath, []byte(benchContract), 0o644); err != nil {
		b.Fatal(err)
	}
	clients := map[string]*client.Client{}
	for _, o := range benchOrgs {
		clients[o] = c.client(b, o)
	}
	runner := benchOrgs[0]
	cxOK(b, c.homes[runner], "contract", "propose", cpath)
	for _, o := range benchOrgs[1:] {
		waitCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		err := waitKnown(waitCtx, clients[o], "nps-bench")
		cancel()
		if err != nil {
			b.Fatalf("%s: %v", o, err)
		}
		cxOK(b, c.homes[o], "contract", "approve", "nps-bench")
	}
	actx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := c.waitActive(actx, "nps-bench", clients); err != nil {
		b.Fatal(err)
	}
	// One round first, outside the measurement: the first round of a
	// contract differs (no previous release to check against) and warms
	// the nodes' caches.
	first, _ := runBenchRound(b, c.homes[runner])

	// The encoding of this contract: one vector of every cell's count,
	// whether this organisation feeds it, then every cell's components.
	vecLen := 2*len(ct.Cells()) + len(ct.Cells())*ct.Width()
	threshold := len(first.Decryptors)
	if threshold != c.threshold {
		b.Fatalf("the first round had %d decryptors %v, the key epoch's threshold is %d", threshold, first.Decryptors, c.threshold)
	}

	before := scrapeP2PBytes(b, c.homes)
	var rounds []benchRound
	for b.Loop() {
		res, took := runBenchRound(b, c.homes[runner])
		rounds = append(rounds, benchRound{res: res, took: took})
	}
	b.StopTimer()
	after := scrapeP2PBytes(b, c.homes)
	k := len(rounds)

	crypto, err := privacytest.RoundFloor(privacy.DefaultParams(), k, c.members, threshold, vecLen)
	if err != nil {
		b.Fatal(err)
	}

	var total time.Duration
	for _, r := range rounds {
		total += r.took
	}
	mean := total / time.Duration(k)
	sent, byProto := sentBetween(before, after)
	perParticipant := float64(sent) / float64(len(benchOrgs)) / float64(k)
	floor := crypto.PerParticipant(c.members, threshold)
	b.ReportMetric(float64(mean.Microseconds())/1000, "ms/round")
	b.ReportMetric(float64(crypto.Round.Microseconds())/1000, "ms/crypto-round")
	b.ReportMetric(float64(mean)/float64(crypto.Round), "x-crypto")
	b.ReportMetric(perParticipant, "bytes/participant")
	b.ReportMetric(floor, "bytes-floor/participant")
	b.ReportMetric(perParticipant/floor, "x-bytes")

	b.Logf("%d nodes, %d records each, %d cells × %d components (%s): %d ciphertexts per participant "+
		"(one vector of %d components: 2 per cell for its count and whether the organisation feeds it, then its components), "+
		"%d bytes of ciphertexts; a decryption share of them %d bytes; threshold %d of %d",
		len(benchOrgs), benchRecords, len(ct.Cells()), ct.Width(), ct.Aggregate, crypto.Ciphertexts,
		vecLen, crypto.InputBytes, crypto.ShareBytes, threshold, c.members)
	slices.SortFunc(rounds, func(x, y benchRound) int { return int(x.took - y.took) })
	med := rounds[len(rounds)/2]
	b.Logf("%d rounds: `round run` %v min, %v median, %v mean, %v max; the crypto in one goroutine %v "+
		"(%d ciphertexts encrypted %v, summed %v, %d ciphertext decryption shares %v, combined %v)",
		k, rounds[0].took.Round(time.Millisecond), med.took.Round(time.Millisecond), mean.Round(time.Millisecond),
		rounds[k-1].took.Round(time.Millisecond), crypto.Round.Round(100*time.Microsecond),
		c.members*crypto.Ciphertexts, crypto.Encrypt.Round(100*time.Microsecond), crypto.Sum.Round(100*time.Microsecond),
		threshold*crypto.Ciphertexts, crypto.Share.Round(100*time.Microsecond), crypto.Open.Round(100*time.Microsecond))
	b.Logf("the median round's trace (%s, %d released cells, %d suppressed): %s",
		med.res.Round, released(med.res), med.res.Privacy.Suppressed, formatTrace(med.res.Trace))
	b.Logf("bytes sent on libp2p streams during the %d rounds, all nodes: %d (%.0f per participant and round); per round by protocol: %s",
		k, sent, perParticipant, formatBytes(byProto, k))
}

// benchRound is one `round run`: its result and its wall time.
type benchRound struct {
	res  *client.Results
	took time.Duration
}

// runBenchRound runs `cxnet round run nps-bench --json --trace` on home
// (bounded: the node's round timeout is 60 s) and checks it released.
func runBenchRound(b *testing.B, home string) (*client.Results, time.Duration) {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, cxnetBin(b), "--home", home, "round", "run", "nps-bench", "--json", "--trace")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	start := time.Now()
	err := cmd.Run()
	took := time.Since(start)
	if err != nil {
		b.Fatalf("cxnet round run nps-bench (after %v): %v\nstdout:\n%s\nstderr:\n%s", took.Round(time.Millisecond), err, out.String(), errb.String())
	}
	var res client.Results
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		b.Fatalf("cxnet round run --json: %v\n%s", err, out.String())
	}
	if len(res.Participants) != len(benchOrgs) || len(res.Cells) != benchCells || released(&res) == 0 || len(res.Trace) == 0 {
		b.Fatalf("round %s: %d participants %v, %d cells, %d released, %d trace steps; want all %d organisations' inputs, %d cells, some released, a trace",
			res.Round, len(res.Participants), res.Participants, len(res.Cells), released(&res), len(res.Trace), len(benchOrgs), benchCells)
	}
	return &res, took
}

func released(r *client.Results) int {
	n := 0
	for _, c := range r.Cells {
		if !c.Suppressed {
			n++
		}
	}
	return n
}

// formatTrace puts a round's trace on one line (a benchmark's log keeps
// only its first 10 lines).
func formatTrace(steps []client.TraceStep) string {
	parts := make([]string, len(steps))
	for i, s := range steps {
		parts[i] = fmt.Sprintf("%s %.1f ms", s.Step, s.Seconds*1000)
	}
	return strings.Join(parts, " · ")
}

// p2pBytes is one node's cxnet_p2p_bytes_total{direction="sent"} by
// protocol.
type p2pBytes map[string]float64

var p2pBytesLine = regexp.MustCompile(`^cxnet_p2p_bytes_total\{direction="sent",protocol="([^"]*)"\} (\S+)$`)

// scrapeP2PBytes reads every node's bytes sent, by protocol, from its
// /metrics. libp2p's meters add up on a 1 s sweep: it waits past one
// first, so that the totals hold everything sent before the call.
func scrapeP2PBytes(b *testing.B, homes map[string]string) map[string]p2pBytes {
	b.Helper()
	time.Sleep(1100 * time.Millisecond)
	out := map[string]p2pBytes{}
	for org, home := range homes {
		m := p2pBytes{}
		for _, line := range strings.Split(string(scrapeMetrics(b, home)), "\n") {
			if g := p2pBytesLine.FindStringSubmatch(line); g != nil {
				v, err := strconv.ParseFloat(g[2], 64)
				if err != nil {
					b.Fatalf("%s /metrics: %q: %v", org, line, err)
				}
				m[g[1]] = v
			}
		}
		if len(m) == 0 {
			b.Fatalf("%s's /metrics has no cxnet_p2p_bytes_total{direction=\"sent\"}: is the bandwidth counter wired to the host?", org)
		}
		out[org] = m
	}
	return out
}

// sentBetween is what every node sent between two scrapes, in total and
// by protocol and node. Bytes sent are counted once (the receiver's
// "received" is the same bytes).
func sentBetween(before, after map[string]p2pBytes) (int64, map[string]map[string]int64) {
	var total int64
	by := map[string]map[string]int64{}
	for org, m := range after {
		for proto, v := range m {
			d := int64(v - before[org][proto])
			if d == 0 {
				continue
			}
			if by[proto] == nil {
				by[proto] = map[string]int64{}
			}
			by[proto][org] = d
			total += d
		}
	}
	return total, by
}

// formatBytes puts the bytes sent per round, by protocol and node, on
// one line.
func formatBytes(by map[string]map[string]int64, rounds int) string {
	protos := make([]string, 0, len(by))
	for p := range by {
		protos = append(protos, p)
	}
	slices.Sort(protos)
	parts := make([]string, len(protos))
	for i, p := range protos {
		var nodes []string
		for _, o := range benchOrgs {
			nodes = append(nodes, fmt.Sprintf("%s %d", o, by[p][o]/int64(rounds)))
		}
		parts[i] = fmt.Sprintf("%s: %s", p, strings.Join(nodes, ", "))
	}
	return strings.Join(parts, "; ")
}

// waitKnown waits until the node has the contract (a follower applies a
// commit on the leader's next message).
func waitKnown(ctx context.Context, cl *client.Client, id string) error {
	for {
		_, err := cl.Contract(ctx, id)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("contract %s never appeared: %w", id, err)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// BenchmarkE2EGovernance: four real cxnet processes on loopback; one
// proposes a contract through its local API, each of the three others
// approves it as soon as its node has the proposal, and the time is taken
// until the contract is active on all four. Measured at the API (the CLI
// would add a process start per command).
func BenchmarkE2EGovernance(b *testing.B) {
	c := newBenchConsortium(b, 0)
	clients := map[string]*client.Client{}
	for _, o := range benchOrgs {
		clients[o] = c.client(b, o)
	}
	var took []time.Duration
	i := 0
	for b.Loop() {
		i++
		id := fmt.Sprintf("gov-bench-%d", i)
		yaml := fmt.Sprintf("id: %s\nmeasure: nps\naggregate: nps\nparticipants: [%s]\napprovals: all\n", id, strings.Join(benchOrgs, ", "))
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		start := time.Now()
		if _, err := clients[benchOrgs[0]].Propose(ctx, id+".yaml", yaml); err != nil {
			cancel()
			b.Fatalf("propose %s: %v", id, err)
		}
		errs := make(chan error, len(benchOrgs)-1)
		for _, o := range benchOrgs[1:] {
			go func() {
				if err := waitKnown(ctx, clients[o], id); err != nil {
					errs <- fmt.Errorf("%s: %w", o, err)
					return
				}
				if _, err := clients[o].ContractAction(ctx, "approve", client.ContractAction{ID: id}); err != nil {
					errs <- fmt.Errorf("%s approves %s: %w", o, id, err)
					return
				}
				errs <- nil
			}()
		}
		var err error
		for range benchOrgs[1:] {
			err = errors.Join(err, <-errs)
		}
		if err == nil {
			err = c.waitActive(ctx, id, clients)
		}
		cancel()
		if err != nil {
			b.Fatal(err)
		}
		took = append(took, time.Since(start))
	}
	slices.Sort(took)
	var total time.Duration
	for _, d := range took {
		total += d
	}
	b.ReportMetric(float64(total.Microseconds())/1000/float64(len(took)), "ms/proposal-to-active")
	b.Logf("%d contracts, proposal to active on all %d nodes: %v min, %v median, %v max",
		len(took), len(benchOrgs), took[0].Round(100*time.Microsecond), took[len(took)/2].Round(100*time.Microsecond), took[len(took)-1].Round(100*time.Microsecond))
}

// Package sim runs whole cxnet consortia in one process: N nodes
// (node.New and Run, each on its own home with Badger on disk, real raft,
// lattigo keys at the production parameters), started by the shared test
// harness node/nodetest, talking over libp2p's mock network (Network) with
// per-link latency and bandwidth, and driven through their local HTTP API
// with node/client, as the CLI drives them. Each organisation gets seeded
// NPS answers for its kind (hospital, pharmacy, pharma programme, payer);
// every release is checked against the pooled plaintext computation.
//
// Scenario events — a member dropping out during a round, a partition, a
// slow node, a leader crash, a member restarted on its home — are hooked
// to moments of the protocol (Network.OnFirstStream) or applied between
// steps. Tests use it at small N under `go test`; simulations/cmd/sim runs
// it at scale outside tests (Env) and measures it.
//
// It is simulation tooling: the node never imports it.
package sim

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/cxnet/cxnet/node"
	"github.com/cxnet/cxnet/node/client"
	"github.com/cxnet/cxnet/node/nodetest"
)

// Config sizes a simulation.
type Config struct {
	Orgs    int    // organisations, 3 or more
	Records int    // NPS answers per organisation
	Cells   int    // cells of the contracts (categories of one dimension)
	Seed    uint64 // of the data
	// Latency (one way) and Bandwidth (bytes per second; 0: unlimited)
	// of every link of the mock network.
	Latency   time.Duration
	Bandwidth float64
	// Heartbeat is raft's heartbeat; nodetest's default when zero.
	Heartbeat time.Duration
	// RoundTimeout is the nodes' round.timeout; the node's default when
	// zero.
	RoundTimeout time.Duration
	// Wait bounds every wait for the whole consortium (keys, a contract
	// active everywhere, rounds listed alike); default 2 minutes.
	Wait time.Duration
}

// Sim is a running consortium.
type Sim struct {
	tb      nodetest.TB
	Config  Config
	Net     *Network
	Data    *Data
	Cluster *nodetest.Cluster

	// KeyEpoch is how long the consortium took, after its last member
	// joined, to hold one collective key over all members, every node
	// with its threshold key.
	KeyEpoch time.Duration
}

// Start starts cfg.Orgs nodes on a new mock network, forms the
// consortium (form), waits for its key and imports each organisation's
// data through its node's API.
func Start(tb nodetest.TB, cfg Config) *Sim {
	tb.Helper()
	if cfg.Wait == 0 {
		cfg.Wait = 2 * time.Minute
	}
	data, err := Generate(cfg.Orgs, cfg.Records, cfg.Cells, cfg.Seed)
	if err != nil {
		tb.Fatal(err)
	}
	net := NewNetwork(cfg.Latency, cfg.Bandwidth)
	tb.Cleanup(func() { net.Close() }) // after the nodes stopped (cleanups run newest first)
	s := &Sim{tb: tb, Config: cfg, Net: net, Data: data}
	s.Cluster = nodetest.NewCluster(tb, cfg.Orgs, nodetest.Options{
		Orgs: data.IDs(), Heartbeat: cfg.Heartbeat, RoundTimeout: cfg.RoundTimeout,
		Configure: func(c *node.Config) {
			c.Kind = data.Kind(c.Org)
			c.Underlay = net.Host
		},
	})
	s.form()
	start := time.Now()
	s.WaitForKeys()
	s.KeyEpoch = time.Since(start)
	ctx := context.Background()
	for _, m := range s.Cluster.Nodes {
		if _, err := m.Client.Import(ctx, client.ImportRequest{Format: "csv"}, nil,
			[]client.ImportFile{{Name: m.Org + ".csv", Body: strings.NewReader(data.CSV(m.Org))}}); err != nil {
			tb.Fatalf("sim: import into %s: %v", m.Org, err)
		}
	}
	return s
}

// form founds the consortium on the first node and admits the others in
// batches: members approve the admission of as many new members as they
// can while still being a majority of the admitted (each admission needs
// approvals from a majority of the admitted members, and only a joined
// member can approve); then the batch joins. The leader opens a key epoch
// only once every admitted member has joined, so the consortium goes
// through one epoch per batch — 1, 2, 4, 8 … members at a time, six
// epochs for 50 — where nodetest.Form's one admission at a time makes one
// epoch per member, each over the members so far (O(N) epochs of O(N²)
// shares: minutes at 30).
func (s *Sim) form() {
	s.tb.Helper()
	ctx := context.Background()
	nodes := s.Cluster.Nodes
	first := nodes[0]
	if _, err := first.Client.CreateConsortium(ctx, client.CreateRequest{Name: "sim", MinCohort: MinCohort}); err != nil {
		s.tb.Fatalf("sim: create: %v", err)
	}
	st, err := first.Client.Status(ctx)
	if err != nil || len(st.Listen) == 0 {
		s.tb.Fatalf("sim: status of %s: %v %v", first.Org, err, st)
	}
	via := st.Listen[0]
	joined, next := 1, 1
	for next < len(nodes) {
		batch := 0
		// Admitting one more needs a majority of the admitted so far
		// (joined + batch), the proposer's approval included, from the
		// joined members.
		for next < len(nodes) && (joined+batch)/2+1 <= joined {
			m := nodes[next]
			desc, err := m.Client.Identity(ctx)
			if err != nil {
				s.tb.Fatalf("sim: identity of %s: %v", m.Org, err)
			}
			if _, err := first.Client.Admit(ctx, desc); err != nil {
				s.tb.Fatalf("sim: admit %s: %v", m.Org, err)
			}
			for _, a := range nodes[1 : (joined+batch)/2+1] {
				if _, err := a.Client.Approve(ctx, m.Org); err != nil {
					s.tb.Fatalf("sim: %s approves %s: %v", a.Org, m.Org, err)
				}
			}
			next++
			batch++
		}
		for _, m := range nodes[joined : joined+batch] {
			if _, err := m.Client.Join(ctx, client.JoinRequest{Via: via}); err != nil {
				s.tb.Fatalf("sim: %s joins: %v", m.Org, err)
			}
		}
		joined += batch
	}
}

// Member returns the member of org, failing when there is none.
func (s *Sim) Member(org string) *nodetest.Member {
	for _, m := range s.Cluster.Nodes {
		if m.Org == org {
			return m
		}
	}
	s.tb.Fatalf("sim: no member %s", org)
	return nil
}

// Peer is m's peer id.
func Peer(m *nodetest.Member) peer.ID {
	id, _ := peer.Decode(m.Node.PeerID())
	return id
}

// Except returns the cluster's members other than the given ones.
func (s *Sim) Except(out ...*nodetest.Member) []*nodetest.Member {
	var in []*nodetest.Member
	for _, m := range s.Cluster.Nodes {
		if !slices.Contains(out, m) {
			in = append(in, m)
		}
	}
	return in
}

// poll calls f every interval until it returns true or s's wait runs
// out; it says whether f did.
func (s *Sim) poll(interval time.Duration, f func() bool) bool {
	deadline := time.Now().Add(s.Config.Wait)
	for {
		if f() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(interval)
	}
}

// WaitForKeys waits until every member reports the same keyed epoch over
// all of them and holds its threshold key, with no epoch pending.
func (s *Sim) WaitForKeys() {
	s.tb.Helper()
	want := s.Data.IDs()
	slices.Sort(want)
	var last string
	ok := s.poll(50*time.Millisecond, func() bool {
		var first *client.Keys
		for _, m := range s.Cluster.Nodes {
			st, err := m.Client.Status(context.Background())
			if err != nil || st.Keys == nil {
				last = fmt.Sprintf("%s: %v, keys %v", m.Org, err, st)
				return false
			}
			k := st.Keys
			if first == nil {
				first = k
			}
			if k.Epoch == 0 || !slices.Equal(k.Members, want) || k.PublicKey == "" || !k.ThresholdKey || k.Pending != nil ||
				k.PublicKey != first.PublicKey || k.Epoch != first.Epoch {
				b, _ := json.Marshal(k)
				last = m.Org + ": " + string(b)
				return false
			}
		}
		return true
	})
	if !ok {
		s.tb.Fatalf("sim: no common key over %d members within %v; last seen %s", len(want), s.Config.Wait, last)
	}
}

// Agree proposes a contract (Data.ContractYAML) through the first member,
// approves it through as many others as approvals ("all", "majority" or
// a number) needs, and waits until it is active on every live member. It
// returns the time from the proposal to active everywhere.
func (s *Sim) Agree(id, approvals string, minParticipants int) time.Duration {
	s.tb.Helper()
	ctx := context.Background()
	nodes := s.Cluster.Nodes
	need := len(nodes)
	switch approvals {
	case "all":
	case "majority":
		need = len(nodes)/2 + 1
	default:
		if _, err := fmt.Sscan(approvals, &need); err != nil {
			s.tb.Fatalf("sim: approvals %q: all, majority or a number", approvals)
		}
	}
	yaml := s.Data.ContractYAML(id, approvals, minParticipants)
	start := time.Now()
	if _, err := nodes[0].Client.Propose(ctx, id+".yaml", yaml); err != nil {
		s.tb.Fatalf("sim: propose %s: %v", id, err)
	}
	for _, m := range nodes[1:need] {
		if _, err := m.Client.ContractAction(ctx, "approve", client.ContractAction{ID: id}); err != nil {
			s.tb.Fatalf("sim: %s approves %s: %v", m.Org, id, err)
		}
	}
	s.WaitActive(id, nodes...)
	return time.Since(start)
}

// WaitActive waits until contract id is active on every given member.
func (s *Sim) WaitActive(id string, members ...*nodetest.Member) {
	s.tb.Helper()
	var last string
	ok := s.poll(10*time.Millisecond, func() bool {
		for _, m := range members {
			c, err := m.Client.Contract(context.Background(), id)
			if err != nil || c.State != "active" {
				last = fmt.Sprintf("%s: %v %v", m.Org, err, c)
				return false
			}
		}
		return true
	})
	if !ok {
		s.tb.Fatalf("sim: contract %s not active everywhere within %v: %s", id, s.Config.Wait, last)
	}
}

// CheckRelease checks a released result against the pooled computation
// over its participants' data: every cell at or above the cohort floor and
// fed by three organisations or more has the pooled count and NPS; every
// other cell is suppressed; a cell suppressed for differencing is allowed
// anywhere.
func (s *Sim) CheckRelease(res *client.Results) error {
	if len(res.Participants) < 3 {
		return fmt.Errorf("round %s released over %v: fewer than 3 organisations", res.Round, res.Participants)
	}
	pooled := s.Data.Pooled(res.Participants...)
	if len(res.Cells) != len(pooled) {
		return fmt.Errorf("round %s: %d cells released, %d pooled", res.Round, len(res.Cells), len(pooled))
	}
	for _, c := range res.Cells {
		key := ""
		if g, ok := c.Group["cell"]; ok {
			key = "cell=" + g
		}
		want, ok := pooled[key]
		if !ok {
			return fmt.Errorf("round %s: released cell %v is not a cell of the contract", res.Round, c.Group)
		}
		hidden := want.Count < MinCohort || want.Orgs < 3
		switch {
		case c.Suppressed && c.Reason == "differencing":
		case c.Suppressed && !hidden:
			return fmt.Errorf("round %s: cell %s suppressed (%s) but pooled it has %d records from %d organisations",
				res.Round, key, c.Reason, want.Count, want.Orgs)
		case !c.Suppressed && hidden:
			return fmt.Errorf("round %s: cell %s released but pooled it has %d records from %d organisations: under the floor",
				res.Round, key, want.Count, want.Orgs)
		case !c.Suppressed:
			v, _ := c.Value.(float64)
			if c.Count == nil || *c.Count != want.Count || !sameValue(v, want.NPS) {
				return fmt.Errorf("round %s: cell %s released count %v NPS %v; pooled over %v: %d and %.6f",
					res.Round, key, c.Count, c.Value, res.Participants, want.Count, want.NPS)
			}
		}
	}
	return nil
}

// RunRound runs a round of contract id with m as its aggregator, as
// `cxnet round run` does, and returns its result (nil if it failed), how
// long the call took, and the error the node gave.
func (s *Sim) RunRound(m *nodetest.Member, id string) (*client.Results, time.Duration, error) {
	start := time.Now()
	res, err := m.Client.RunRound(context.Background(), id)
	took := time.Since(start)
	if err != nil {
		return nil, took, err
	}
	return res, took, nil
}

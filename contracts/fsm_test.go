package contracts

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// memSink is a raft.SnapshotSink in memory.
type memSink struct {
	bytes.Buffer
	closed, cancelled bool
}

func (s *memSink) ID() string    { return "mem" }
func (s *memSink) Cancel() error { s.cancelled = true; return nil }
func (s *memSink) Close() error  { s.closed = true; return nil }

func fsmSnapshotBytes(t *testing.T, f *FSM) []byte {
	t.Helper()
	snap, err := f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Release()
	var sink memSink
	if err := snap.Persist(&sink); err != nil || !sink.closed {
		t.Fatalf("persist: %v (closed %v)", err, sink.closed)
	}
	return sink.Bytes()
}

func fsmState(f *FSM) string {
	var s string
	f.Read(func(st *State) {
		b, _ := st.MarshalJSON()
		s = string(b)
	})
	return s
}

func TestFSM(t *testing.T) {
	g := newGovLog(t) // builds the entries; the FSM applies them
	g.form(orgA, orgB, orgC)
	c := govContract(t, contractYAML("nps-diabetes", 1, []*testOrg{orgA, orgB, orgC}, "2", 11))
	entries := append(g.log, g.proposeContract(orgA, c), g.approveContract(orgX, c), []byte{99, 1})

	var events []Event
	f := NewFSM()
	f.OnEvent = func(ev Event) {
		f.Read(func(*State) {}) // OnEvent runs outside the lock
		events = append(events, ev)
	}
	if got := f.Apply(&raft.Log{Index: 1, Type: raft.LogConfiguration}); got != nil {
		t.Fatalf("configuration entry: %v", got)
	}
	if got := f.Apply(&raft.Log{Index: 2, Type: raft.LogNoop}); got != nil {
		t.Fatalf("no-op entry: %v", got)
	}
	var results []*ApplyResult
	for i, raw := range entries {
		results = append(results, f.Apply(&raft.Log{Index: uint64(i + 3), Type: raft.LogCommand, Data: raw}).(*ApplyResult))
	}
	n := len(results)
	if len(events) != n || results[n-3].Err != nil || results[n-3].Event.Type != EventContractProposed {
		t.Fatalf("events %d results %+v", len(events), results[n-3])
	}
	if !errors.Is(results[n-2].Err, ErrNotMember) || results[n-2].Event.Outcome != OutcomeRejected {
		t.Fatalf("non-member approval: %+v", results[n-2])
	}
	if !errors.Is(results[n-1].Err, ErrUnknownEntry) || events[n-1].Outcome != OutcomeSkipped || events[n-1].Index != uint64(n+2) {
		t.Fatalf("unknown entry: %+v", results[n-1])
	}
	for i := n - 3; i < n; i++ {
		if res, ok := f.Applied(entries[i], 0); !ok || !reflect.DeepEqual(res, *results[i]) {
			t.Fatalf("Applied of entry %d: %+v %v, want %+v", i, res, ok, results[i])
		}
		if _, ok := f.Applied(entries[i], uint64(i+3)); ok {
			t.Fatalf("Applied of entry %d reports it after its own index", i)
		}
	}
	f.Read(func(s *State) {
		if s.AdmittedCount() != 3 || len(s.Contracts()) != 1 {
			t.Fatalf("state: %d members, %d contracts", s.AdmittedCount(), len(s.Contracts()))
		}
	})

	// Snapshot and restore.
	snap := fsmSnapshotBytes(t, f)
	if !bytes.HasPrefix(snap, []byte(`{"format":2,"index":9,"entries":6}`+"\n")) { // the rejected entry is left out
		t.Fatalf("snapshot %.60s", snap)
	}
	restored := NewFSM()
	if err := restored.Restore(io.NopCloser(bytes.NewReader(snap))); err != nil {
		t.Fatal(err)
	}
	if restored.Index() != f.Index() || f.Index() != 9 {
		t.Fatalf("restored index %d, original %d, want 9", restored.Index(), f.Index())
	}
	if fsmState(restored) != fsmState(f) {
		t.Fatal("restored state differs")
	}
	next := g.approveContract(orgB, c)
	r1 := f.Apply(&raft.Log{Index: 100, Type: raft.LogCommand, Data: next}).(*ApplyResult)
	r2 := restored.Apply(&raft.Log{Index: 100, Type: raft.LogCommand, Data: next}).(*ApplyResult)
	if r1.Err != nil || r2.Err != nil || r1.Event.Type != EventContractApproved || fsmState(restored) != fsmState(f) {
		t.Fatalf("after restore: %+v %+v", r1, r2)
	}

	for name, bad := range map[string]string{
		"not JSON":      "{",
		"future format": `{"format":3,"index":1,"entries":0}` + "\n",
		"format 1":      `{"format":1,"state":{}}`,
	} {
		if err := restored.Restore(io.NopCloser(strings.NewReader(bad))); !errors.Is(err, ErrSnapshotRefused) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if fsmState(restored) != fsmState(f) || restored.Index() != 100 {
		t.Fatal("a failed restore changed the state")
	}

	// The zero FSM works too.
	var zero FSM
	if err := zero.Restore(io.NopCloser(bytes.NewReader(fsmSnapshotBytes(t, &zero)))); err != nil || fsmState(&zero) != snapshotOf(t, NewState()) {
		t.Fatalf("zero FSM: %v %s", err, fsmState(&zero))
	}
}

// TestFSMConcurrentReads runs readers beside Apply (meaningful with -race).
func TestFSMConcurrentReads(t *testing.T) {
	g := newGovLog(t)
	g.form(orgA, orgB, orgC, orgD)
	f := NewFSM()
	var wg sync.WaitGroup
	done := make(chan struct{})
	for range 2 {
		wg.Go(func() {
			for {
				select {
				case <-done:
					return
				default:
				}
				f.Read(func(s *State) { _ = s.PeerAllowed(orgD.desc.PeerID); _ = s.Members() })
				_, _ = f.Snapshot()
			}
		})
	}
	for i, raw := range g.log {
		f.Apply(&raft.Log{Index: uint64(i + 1), Type: raft.LogCommand, Data: raw})
	}
	close(done)
	wg.Wait()
	if fsmState(f) != snapshotOf(t, g.s) {
		t.Fatal("FSM state differs from the State applied directly")
	}
}

// TestFSMRaftCluster replicates governance through a real three-node raft
// cluster (in-memory transport) and checks every node ends in the same
// state.
func TestFSMRaftCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("runs raft")
	}
	const n = 3
	type node struct {
		raft   *raft.Raft
		fsm    *FSM
		snaps  *raft.InmemSnapshotStore
		events chan Event
	}
	nodes := make([]*node, n)
	trans := make([]*raft.InmemTransport, n)
	var servers []raft.Server
	for i := range n {
		addr, tr := raft.NewInmemTransport("")
		trans[i] = tr
		servers = append(servers, raft.Server{ID: raft.ServerID(fmt.Sprint("node-", i)), Address: addr})
	}
	for i := range n {
		for j := range n {
			if i != j {
				trans[i].Connect(trans[j].LocalAddr(), trans[j])
			}
		}
	}
	for i := range n {
		conf := raft.DefaultConfig()
		conf.LocalID = servers[i].ID
		conf.HeartbeatTimeout = 50 * time.Millisecond
		conf.ElectionTimeout = 50 * time.Millisecond
		conf.LeaderLeaseTimeout = 50 * time.Millisecond
		conf.CommitTimeout = 5 * time.Millisecond
		conf.LogLevel = "ERROR"
		conf.LogOutput = io.Discard
		logs, snaps := raft.NewInmemStore(), raft.NewInmemSnapshotStore()
		if err := raft.BootstrapCluster(conf, logs, logs, snaps, trans[i], raft.Configuration{Servers: servers}); err != nil {
			t.Fatal(err)
		}
		nd := &node{fsm: NewFSM(), snaps: snaps, events: make(chan Event, 100)}
		nd.fsm.OnEvent = func(ev Event) { nd.events <- ev }
		r, err := raft.NewRaft(conf, nd.fsm, logs, logs, snaps, trans[i])
		if err != nil {
			t.Fatal(err)
		}
		nd.raft = r
		nodes[i] = nd
		t.Cleanup(func() { _ = r.Shutdown().Error() })
	}

	var leader *node
	timeout := time.After(10 * time.Second)
	for leader == nil {
		select {
		case <-nodes[0].raft.LeaderCh():
		case <-nodes[1].raft.LeaderCh():
		case <-nodes[2].raft.LeaderCh():
		case <-timeout:
			t.Fatal("no leader")
		}
		for _, nd := range nodes {
			if nd.raft.State() == raft.Leader {
				leader = nd
			}
		}
	}

	g := newGovLog(t)
	g.form(orgA, orgB, orgC)
	c := govContract(t, contractYAML("nps-diabetes", 1, []*testOrg{orgA, orgB, orgC}, "majority", 11))
	entries := append(g.log, g.proposeContract(orgA, c), g.approveContract(orgC, c), g.approveContract(orgC, c))
	var last uint64
	for i, raw := range entries {
		fut := leader.raft.Apply(raw, 5*time.Second)
		if err := fut.Error(); err != nil {
			t.Fatalf("entry %d: %v", i, err)
		}
		res := fut.Response().(*ApplyResult)
		if (res.Err != nil) != (i == len(entries)-1) {
			t.Fatalf("entry %d: %+v", i, res)
		}
		last = fut.Index()
	}
	for i, nd := range nodes {
		wait := time.After(10 * time.Second)
		for caughtUp := false; !caughtUp; {
			select {
			case ev := <-nd.events:
				caughtUp = ev.Index == last
			case <-wait:
				t.Fatalf("node %d did not apply entry %d", i, last)
			}
		}
		if got := fsmState(nd.fsm); got != fsmState(nodes[0].fsm) {
			t.Fatalf("node %d state differs", i)
		}
		nd.fsm.Read(func(s *State) {
			if rec, ok := s.Contract(c.ID); !ok || rec.State != ContractApproved || s.AdmittedCount() != 3 {
				t.Fatalf("node %d: %+v", i, rec)
			}
		})
	}

	// A raft snapshot of the leader restores on a fresh FSM.
	if err := leader.raft.Snapshot().Error(); err != nil {
		t.Fatal(err)
	}
	metas, err := leader.snaps.List()
	if err != nil || len(metas) == 0 {
		t.Fatalf("snapshots: %v", err)
	}
	_, rc, err := leader.snaps.Open(metas[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	fresh := NewFSM()
	if err := fresh.Restore(rc); err != nil || fsmState(fresh) != fsmState(leader.fsm) {
		t.Fatalf("restore from raft's snapshot: %v", err)
	}
}

package contracts

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/raft"
)

// SnapshotFormat is the version of the snapshot encoding FSM writes.
const SnapshotFormat = 1

// FSM adapts State to raft.FSM. It only decodes raft's types, locks and
// reports; every rule is in State.Apply. Reads may run concurrently with
// Apply through Read.
type FSM struct {
	// OnEvent, when set, is called after every applied command entry
	// (applied, rejected or skipped), in log order, on raft's FSM
	// goroutine and outside the lock: it may call Read, and should be
	// quick. Set it before raft starts.
	OnEvent func(Event)

	mu    sync.RWMutex
	state *State
	index uint64 // last command entry applied; guarded by mu
	// settled is index once OnEvent has returned for it: what Index
	// reports.
	settled atomic.Uint64
	// recent maps the SHA-256 of each of the last recentEntries command
	// entries to its result, whatever the outcome (local, not in
	// snapshots): a submitter whose reply was lost finds what its attempt
	// did before it sends the entry again.
	recent      map[[32]byte]ApplyResult
	recentOrder [][32]byte
}

// recentEntries bounds FSM.recent.
const recentEntries = 4096

var (
	_ raft.FSM         = (*FSM)(nil)
	_ raft.FSMSnapshot = (*fsmSnapshot)(nil)
)

// NewFSM returns an FSM over an empty state.
func NewFSM() *FSM { return &FSM{state: NewState()} }

// ApplyResult is what FSM.Apply returns for a command entry; raft hands it
// to the caller of raft.Apply through ApplyFuture.Response.
type ApplyResult struct {
	Event Event
	Err   error // nil, a *RejectError, or an error wrapping ErrUnknownEntry
}

// Apply implements raft.FSM. Only LogCommand entries reach the state;
// others return nil.
func (f *FSM) Apply(l *raft.Log) any {
	if l.Type != raft.LogCommand {
		return nil
	}
	f.mu.Lock()
	if f.state == nil {
		f.state = NewState()
	}
	ev, err := f.state.Apply(l.Index, l.Data)
	f.index = l.Index
	f.remember(sha256.Sum256(l.Data), ApplyResult{Event: ev, Err: err})
	f.mu.Unlock()
	if f.OnEvent != nil {
		f.OnEvent(ev)
	}
	f.settled.Store(l.Index)
	return &ApplyResult{Event: ev, Err: err}
}

func (f *FSM) remember(h [32]byte, res ApplyResult) {
	if f.recent == nil {
		f.recent = map[[32]byte]ApplyResult{}
	}
	if len(f.recentOrder) >= recentEntries {
		delete(f.recent, f.recentOrder[0])
		f.recentOrder = f.recentOrder[1:]
	}
	f.recent[h] = res
	f.recentOrder = append(f.recentOrder, h)
}

// Applied returns the result of entry raw when this state machine
// applied exactly these bytes at a log index after the given one, and
// recently (among the last few thousand entries): applied, rejected or
// skipped alike.
func (f *FSM) Applied(raw []byte, after uint64) (ApplyResult, bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	res, ok := f.recent[sha256.Sum256(raw)]
	if !ok || res.Event.Index <= after {
		return ApplyResult{}, false
	}
	return res, true
}

// Index is the log index of the last command entry the state machine
// applied and whose OnEvent returned (or of the snapshot it was restored
// from): a reader that waited for it sees the entry's state and its
// side effects (the audit log). Raft's own AppliedIndex may run ahead of
// the state machine; this does not.
func (f *FSM) Index() uint64 { return f.settled.Load() }

// Read calls fn with the state under a read lock. fn must not change the
// state nor keep it after returning.
func (f *FSM) Read(fn func(*State)) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if f.state == nil {
		fn(NewState())
		return
	}
	fn(f.state)
}

// snapshotJSON is the snapshot encoding.
type snapshotJSON struct {
	Format int             `json:"format"`
	Index  uint64          `json:"index"` // last command entry applied
	State  json.RawMessage `json:"state"`
}

// Snapshot implements raft.FSM: it encodes the state now, so that Persist
// may run while Apply goes on.
func (f *FSM) Snapshot() (raft.FSMSnapshot, error) {
	f.mu.RLock()
	st := f.state
	if st == nil {
		st = NewState()
	}
	state, err := json.Marshal(st)
	index := f.index
	f.mu.RUnlock()
	if err != nil {
		return nil, fmt.Errorf("contracts: snapshot: %w", err)
	}
	b, err := json.Marshal(snapshotJSON{Format: SnapshotFormat, Index: index, State: state})
	if err != nil {
		return nil, fmt.Errorf("contracts: snapshot: %w", err)
	}
	return &fsmSnapshot{data: b}, nil
}

// Restore implements raft.FSM: it replaces the state with a snapshot's.
func (f *FSM) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	var snap snapshotJSON
	if err := json.NewDecoder(rc).Decode(&snap); err != nil {
		return fmt.Errorf("contracts: restore snapshot: %w", err)
	}
	if snap.Format != SnapshotFormat {
		return fmt.Errorf("contracts: restore snapshot: format %d is not supported (this node reads format %d; upgrade it)", snap.Format, SnapshotFormat)
	}
	s := NewState()
	if err := json.Unmarshal(snap.State, s); err != nil {
		return fmt.Errorf("contracts: restore snapshot: %w", err)
	}
	f.mu.Lock()
	f.state, f.index = s, snap.Index
	f.mu.Unlock()
	f.settled.Store(snap.Index)
	return nil
}

type fsmSnapshot struct{ data []byte }

// Persist writes the snapshot to sink.
func (s *fsmSnapshot) Persist(sink raft.SnapshotSink) error {
	if _, err := sink.Write(s.data); err != nil {
		_ = sink.Cancel()
		return fmt.Errorf("contracts: persist snapshot: %w", err)
	}
	return sink.Close()
}

// Release implements raft.FSMSnapshot.
func (s *fsmSnapshot) Release() {}

package contracts

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/raft"
)

// FSM adapts State to raft.FSM. It only decodes raft's types, locks and
// reports; every rule is in State.Apply. Reads may run concurrently with
// Apply through Read.
//
// It keeps every command entry it applied or skipped (not the rejected
// ones, which change nothing), the very bytes raft handed to Apply: a
// snapshot is those entries, and a node restoring one replays them, so it
// trusts no peer's word for the state (snapshot.go). Whoever calls
// raft.Apply must therefore not change the command's bytes afterwards.
type FSM struct {
	// OnEvent, when set, is called after every applied command entry
	// (applied, rejected or skipped), in log order, on raft's FSM
	// goroutine and outside the lock: it may call Read, and should be
	// quick. Set it before raft starts.
	OnEvent func(Event)
	// OnSettled, when set, is called once Index reports an entry (after
	// OnEvent returned for it), on raft's FSM goroutine: it wakes readers
	// waiting for an index. Set it before raft starts.
	OnSettled func()

	mu    sync.RWMutex
	state *State
	index uint64 // last command entry applied; guarded by mu
	// entries are the command entries applied or skipped, in log order;
	// guarded by mu. Only ever appended to (or replaced by Restore): a
	// snapshot reads entries[:n] after unlocking.
	entries []loggedEntry
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
	if ev.Outcome != OutcomeRejected {
		f.entries = append(f.entries, loggedEntry{index: l.Index, raw: l.Data})
	}
	f.remember(sha256.Sum256(l.Data), ApplyResult{Event: ev, Err: err})
	f.mu.Unlock()
	if f.OnEvent != nil {
		f.OnEvent(ev)
	}
	f.settled.Store(l.Index)
	if f.OnSettled != nil {
		f.OnSettled()
	}
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

// Snapshot implements raft.FSM: it takes the entries applied so far, so
// that Persist may encode them while Apply goes on.
func (f *FSM) Snapshot() (raft.FSMSnapshot, error) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return &fsmSnapshot{index: f.index, entries: f.entries[:len(f.entries):len(f.entries)]}, nil
}

// Restore implements raft.FSM: it replaces the state with the one the
// snapshot's signed entries produce, replayed on an empty State. It
// refuses, keeping the current state and wrapping ErrSnapshotRefused, a
// snapshot that does not decode, is of another format, has entries out of
// log order, an entry that the replay refuses (a forged or altered entry,
// or one of another consortium), or that would take back what this node
// applied: one that ends before its last applied entry, or whose entries
// up to there differ from those it applied (a snapshot brings a lagging
// node forward, never back). OnEvent is not called for the replayed
// entries.
func (f *FSM) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	index, entries, err := readSnapshot(rc)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrSnapshotRefused, err)
	}
	// Restore is never called concurrently with Apply: the entries read
	// here are still this FSM's when the new ones replace them.
	f.mu.RLock()
	mine, applied := f.entries, f.index
	f.mu.RUnlock()
	// Raft sends a snapshot to a node whose log ends before it: one that
	// ends before what this node applied would take entries back.
	if index < applied {
		return fmt.Errorf("%w: it ends at log index %d, before entry %d that this node applied; a snapshot brings a node forward, never back",
			ErrSnapshotRefused, index, applied)
	}
	if err := sameHistory(mine, entries, applied); err != nil {
		return fmt.Errorf("%w: %w", ErrSnapshotRefused, err)
	}
	s := NewState()
	for _, e := range entries {
		if ev, err := s.Apply(e.index, e.raw); ev.Outcome == OutcomeRejected {
			return fmt.Errorf("%w: replaying its entries: %w", ErrSnapshotRefused, err)
		}
	}
	f.mu.Lock()
	f.state, f.index, f.entries = s, index, entries
	f.mu.Unlock()
	f.settled.Store(index)
	return nil
}

// sameHistory checks that mine and theirs hold the same entries up to log
// index upTo.
func sameHistory(mine, theirs []loggedEntry, upTo uint64) error {
	for i := 0; ; i++ {
		m := i < len(mine) && mine[i].index <= upTo
		t := i < len(theirs) && theirs[i].index <= upTo
		switch {
		case !m && !t:
			return nil
		case !t || m && mine[i].index < theirs[i].index:
			return fmt.Errorf("it leaves out the entry at log index %d, which this node applied", mine[i].index)
		case !m || theirs[i].index < mine[i].index:
			return fmt.Errorf("it has an entry at log index %d, where this node applied none", theirs[i].index)
		case !bytes.Equal(mine[i].raw, theirs[i].raw):
			return fmt.Errorf("its entry at log index %d differs from the one this node applied", mine[i].index)
		}
	}
}

// fsmSnapshot is the entries applied up to index. The entries are
// shared with the FSM, never copied: they are not changed once applied.
type fsmSnapshot struct {
	index   uint64
	entries []loggedEntry
}

// Persist writes the snapshot to sink.
func (s *fsmSnapshot) Persist(sink raft.SnapshotSink) error {
	if err := writeSnapshot(sink, s.index, s.entries); err != nil {
		_ = sink.Cancel()
		return fmt.Errorf("contracts: persist snapshot: %w", err)
	}
	return sink.Close()
}

// Release implements raft.FSMSnapshot.
func (s *fsmSnapshot) Release() {}

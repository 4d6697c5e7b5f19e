package node

import (
	"context"
	"time"

	"github.com/hashicorp/raft"
)

// commitNudger tells followers at once that an entry committed. raft
// sends the leader's commit index only with its next AppendEntries: with
// new entries, or when CommitTimeout (50 ms, plus up to as much again
// at random) passes with none. A round's members wait for their own
// state machine to apply its steps (a participant hands its input over
// only once the seal is applied on its node), so each step would wait
// that long. After the leader applies a command, the nudger appends a
// barrier entry: its AppendEntries carries the new commit index to every
// follower in one round trip. At most one barrier is in flight and one
// more is pending however many commands commit, so an idle consortium
// pays nothing and a busy one one small entry per burst.
type commitNudger struct {
	raft func() *raft.Raft
	ch   chan struct{}
}

func newCommitNudger(r func() *raft.Raft) *commitNudger {
	return &commitNudger{raft: r, ch: make(chan struct{}, 1)}
}

// nudge asks for a barrier; it never blocks.
func (n *commitNudger) nudge() {
	select {
	case n.ch <- struct{}{}:
	default: // one is pending already: it carries this commit too
	}
}

// run appends the barriers until ctx ends.
func (n *commitNudger) run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-n.ch:
		}
		if r := n.raft(); r != nil && r.State() == raft.Leader {
			_ = r.Barrier(5 * time.Second).Error() // a lost lead or a timeout: the next commit nudges again
		}
	}
}

package contracts

import (
	"slices"
	"strconv"
	"time"

	"github.com/cxnet/cxnet/kpi"
)

// Bounds of a contract's schedule.
const (
	MinSchedule = time.Minute
	MaxSchedule = 366 * 24 * time.Hour
)

// FormatSchedule writes a schedule in its largest whole unit: "7d",
// "36h", "90m".
func FormatSchedule(d time.Duration) string {
	switch {
	case d%(24*time.Hour) == 0:
		return strconv.FormatInt(int64(d/(24*time.Hour)), 10) + "d"
	case d%time.Hour == 0:
		return strconv.FormatInt(int64(d/time.Hour), 10) + "h"
	}
	return strconv.FormatInt(int64(d/time.Minute), 10) + "m"
}

// NextRoundAt says when participant org's node should open the next
// round of a scheduled contract by itself, given the contract's rounds so
// far (oldest first, as State.Rounds gives them). since is when the node
// first saw the contract active; it stands for the last round before the
// first. ok is false when the contract has no schedule or org is not a
// participant.
//
// Participants take turns (the k-th round falls to the k-th participant in
// sorted order, round robin); the others follow one grace period apart,
// so a round still runs when the one whose turn it is is down, and two
// nodes rarely open at once (if they do, the later round abandons the
// earlier: State.Apply). A round that did not release is retried after
// min(schedule, 5m), not a whole schedule later.
func (c *Contract) NextRoundAt(rounds []Round, org kpi.OrgID, since time.Time) (at time.Time, ok bool) {
	if c.Schedule <= 0 {
		return time.Time{}, false
	}
	parts := slices.Sorted(slices.Values(c.Participants))
	me := slices.Index(parts, org)
	if me < 0 {
		return time.Time{}, false
	}
	due := since
	if n := len(rounds); n > 0 {
		last := rounds[n-1]
		opened, err := time.Parse(time.RFC3339, last.Opened)
		if err != nil {
			opened = since
		}
		if last.State == RoundReleased {
			due = opened.Add(c.Schedule)
		} else {
			due = opened.Add(min(c.Schedule, 5*time.Minute))
		}
	}
	turn := len(rounds) % len(parts)
	offset := (me - turn + len(parts)) % len(parts)
	grace := min(c.Schedule/4, time.Minute)
	return due.Add(time.Duration(offset) * grace), true
}

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

// NextRound says when the next round of a scheduled contract is due and
// whose turn it is, given the contract's rounds so far (oldest first, as
// State.Rounds gives them). since stands for the last round before the
// first (a node passes when it first saw the contract active). ok is
// false when the contract has no schedule.
//
// Participants take turns: the k-th round falls to the k-th participant
// in sorted order, round robin. The next round is due a schedule after
// the last released round opened; a round that did not release is
// retried min(schedule, 5m) after it opened.
func (c *Contract) NextRound(rounds []Round, since time.Time) (due time.Time, by kpi.OrgID, ok bool) {
	if c.Schedule <= 0 || len(c.Participants) == 0 {
		return time.Time{}, "", false
	}
	due = since
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
	parts := slices.Sorted(slices.Values(c.Participants))
	return due, parts[len(rounds)%len(parts)], true
}

// NextRoundAt says when participant org's node should open the next
// round by itself (NextRound): at once when it is org's turn, otherwise
// one grace period (a quarter of the schedule, at most a minute) per
// participant between the one whose turn it is and org. So a round still
// runs when that node is down, and two nodes rarely open at once (if they
// do, the later round abandons the earlier: State.Apply). ok is false
// when the contract has no schedule or org is not a participant.
func (c *Contract) NextRoundAt(rounds []Round, org kpi.OrgID, since time.Time) (at time.Time, ok bool) {
	due, by, ok := c.NextRound(rounds, since)
	parts := slices.Sorted(slices.Values(c.Participants))
	me := slices.Index(parts, org)
	if !ok || me < 0 {
		return time.Time{}, false
	}
	offset := (me - slices.Index(parts, by) + len(parts)) % len(parts)
	grace := min(c.Schedule/4, time.Minute)
	return due.Add(time.Duration(offset) * grace), true
}

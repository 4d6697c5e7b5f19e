package contracts

import (
	"testing"
	"time"

	"github.com/cxnet/cxnet/kpi"
)

func TestFormatSchedule(t *testing.T) {
	for d, want := range map[time.Duration]string{
		time.Minute: "1m", 90 * time.Minute: "90m", 36 * time.Hour: "36h", 7 * 24 * time.Hour: "7d", 24 * time.Hour: "1d",
	} {
		if got := FormatSchedule(d); got != want {
			t.Errorf("FormatSchedule(%v) = %q, want %q", d, got, want)
		}
	}
}

// TestNextRoundAt: participants take turns, the others one grace period
// apart; a released round sets the next a schedule later, one that did
// not release is retried after at most 5 minutes; readers and contracts
// without a schedule never open rounds by themselves.
func TestNextRoundAt(t *testing.T) {
	c := mustParse(t, "id: sched\nmeasure: nps\naggregate: nps\nparticipants: [hosp-c, hosp-a, hosp-b]\nreaders: [payer-x]\nschedule: 1h\n")
	since := time.Date(2026, 11, 22, 8, 0, 0, 0, time.UTC)
	at := func(org kpi.OrgID, rounds ...Round) time.Duration {
		t.Helper()
		got, ok := c.NextRoundAt(rounds, org, since)
		if !ok {
			t.Fatalf("%s: no schedule", org)
		}
		return got.Sub(since)
	}
	round := func(opened time.Duration, state RoundState) Round {
		return Round{Opened: since.Add(opened).Format(time.RFC3339), State: state}
	}
	// The first round: hosp-a (first in sorted order) at once, then hosp-b
	// and hosp-c one and two grace periods (a quarter of the schedule, at
	// most a minute) later.
	for org, want := range map[kpi.OrgID]time.Duration{"hosp-a": 0, "hosp-b": time.Minute, "hosp-c": 2 * time.Minute} {
		if got := at(org); got != want {
			t.Errorf("first round by %s at +%v, want +%v", org, got, want)
		}
	}
	// After a released round opened at +10s, the second falls to hosp-b,
	// an hour later.
	released := round(10*time.Second, RoundReleased)
	for org, want := range map[kpi.OrgID]time.Duration{"hosp-b": time.Hour + 10*time.Second, "hosp-c": time.Hour + 70*time.Second, "hosp-a": time.Hour + 130*time.Second} {
		if got := at(org, released); got != want {
			t.Errorf("second round by %s at +%v, want +%v", org, got, want)
		}
	}
	// A round that did not release is retried 5 minutes after it opened.
	for _, state := range []RoundState{RoundCollecting, RoundFailed} {
		if got := at("hosp-c", released, round(time.Hour, state)); got != time.Hour+5*time.Minute {
			t.Errorf("after a %s round by hosp-b: hosp-c at +%v, want +65m", state, got)
		}
	}
	if _, ok := c.NextRoundAt(nil, "payer-x", since); ok {
		t.Error("a reader opens scheduled rounds")
	}
	plain := mustParse(t, "id: plain\nmeasure: nps\naggregate: nps\nparticipants: [hosp-a]\n")
	if _, ok := plain.NextRoundAt(nil, "hosp-a", since); ok {
		t.Error("a contract without a schedule opens rounds")
	}
	// A short schedule: grace is a quarter of it, and a failed round is
	// retried a schedule later.
	short := mustParse(t, "id: short\nmeasure: nps\naggregate: nps\nparticipants: [hosp-a, hosp-b]\nschedule: 2m\n")
	if got, _ := short.NextRoundAt([]Round{round(0, RoundCollecting)}, "hosp-a", since); got.Sub(since) != 2*time.Minute+30*time.Second {
		t.Errorf("short schedule: hosp-a at +%v, want +2m30s", got.Sub(since))
	}
}

package sim

import (
	"strings"
	"testing"
	"time"

	"github.com/cxnet/cxnet/node/nodetest"
)

// TestScenarios: faults during a round on five whole nodes over the mock
// network (issue 7's faults with whole nodes, and the simulation's
// scenario events). Each fault strikes when the aggregator first asks
// for inputs. The round ends released or failed within the round
// timeout; every live node then lists the same rounds, all ended, its
// audit log records each end as listed, and every release equals the
// pooled computation over its participants. A retry from a live member
// releases exactly (or is refused by the rule against releases that
// differ by one or two organisations). A slow link is made fast again
// and a partition healed before the retry.
func TestScenarios(t *testing.T) {
	const timeout = 8 * time.Second
	tests := []struct {
		name string
		// fault strikes mid-round; it returns the members it stopped.
		fault func(s *Sim, agg, other *nodetest.Member) (stopped []*nodetest.Member)
		// after runs once the aggregator's round run returned.
		after func(s *Sim, other *nodetest.Member)
		// cutOff: the aggregator is cut off from raft's majority. The
		// round ends in the log within the timeout; its own `round run`
		// tries to record the failure for up to 10 s more (node/rounds
		// run.go) before it returns.
		cutOff bool
	}{
		{"member drops out", func(s *Sim, agg, other *nodetest.Member) []*nodetest.Member {
			other.Stop()
			return []*nodetest.Member{other}
		}, nil, false},
		{"partition of the aggregator and one member", func(s *Sim, agg, other *nodetest.Member) []*nodetest.Member {
			s.PartitionOff(agg, other)
			return nil
		}, func(s *Sim, _ *nodetest.Member) { s.Heal() }, true},
		{"member restarted", func(s *Sim, agg, other *nodetest.Member) []*nodetest.Member {
			other.Restart()
			return nil
		}, nil, false},
		{"slow link of seconds", func(s *Sim, agg, other *nodetest.Member) []*nodetest.Member {
			s.SlowNode(other, 2*time.Second)
			return nil
		}, func(s *Sim, other *nodetest.Member) { s.SlowNode(other, 0) }, false},
		{"leader crash", func(s *Sim, agg, other *nodetest.Member) []*nodetest.Member {
			l := s.Leader()
			l.Stop()
			return []*nodetest.Member{l}
		}, nil, false},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := Start(t, Config{Orgs: 5, Records: 300, Cells: 4, Seed: uint64(10 + i), RoundTimeout: timeout})
			s.Agree("nps-fault", "1", 3)
			leader := s.Leader()
			// The aggregator and the member the fault strikes are not the
			// raft leader (the leader crash stops it).
			others := s.Except(leader)
			agg, other := others[0], others[1]
			var stopped []*nodetest.Member
			done := s.DuringRound(agg, func() { stopped = tc.fault(s, agg, other) })
			res, took, err := s.RunRound(agg, "nps-fault")
			<-done
			t.Logf("round run by %s: %v after %v", agg.Org, err, took.Round(time.Millisecond))
			if bound := timeout + 3*time.Second; took > bound && !tc.cutOff || took > bound+10*time.Second {
				t.Errorf("round run took %v; the round timeout is %v", took, timeout)
			}
			if err == nil {
				if err := s.CheckRelease(res); err != nil {
					t.Fatal(err)
				}
			}
			if tc.after != nil {
				tc.after(s, other)
			}
			live := s.Except(stopped...)
			start := time.Now()
			rounds := s.RoundsAgree("nps-fault", live...)
			t.Logf("%d live nodes agree %v later: %+v", len(live), time.Since(start).Round(time.Millisecond), rounds)
			if len(rounds) != 1 {
				t.Fatalf("rounds %+v, want the one", rounds)
			}
			opened, err1 := time.Parse(time.RFC3339, rounds[0].OpenedAt)
			ended, err2 := time.Parse(time.RFC3339, rounds[0].EndedAt)
			if err1 != nil || err2 != nil || ended.Sub(opened) > timeout+5*time.Second {
				t.Errorf("round opened %s, ended %s: not within the round timeout %v (and the members' report)", rounds[0].OpenedAt, rounds[0].EndedAt, timeout)
			}
			retry := live[len(live)-1]
			res, took, err = s.RunRound(retry, "nps-fault")
			t.Logf("retry by %s: %v after %v", retry.Org, err, took.Round(time.Millisecond))
			switch {
			case err == nil:
				if err := s.CheckRelease(res); err != nil {
					t.Fatal(err)
				}
			case !strings.Contains(err.Error(), "differ by"):
				t.Fatalf("retry by %s: %v", retry.Org, err)
			}
			s.RoundsAgree("nps-fault", live...)
		})
	}
}

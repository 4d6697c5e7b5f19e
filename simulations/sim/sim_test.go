package sim

import (
	"testing"
	"time"
)

// TestHappyPath: four organisations of four kinds over the mock network
// form a consortium, key it, agree an NPS contract of 8 cells and run a
// round: the release equals the pooled computation on every node, and
// their round lists and audit logs agree.
func TestHappyPath(t *testing.T) {
	s := Start(t, Config{Orgs: 4, Records: 400, Cells: 8, Seed: 1})
	t.Logf("key epoch %v", s.KeyEpoch.Round(time.Millisecond))
	took := s.Agree("nps-sim", "all", 4)
	t.Logf("proposal to active %v", took.Round(time.Millisecond))
	res, took, err := s.RunRound(s.Cluster.Nodes[1], "nps-sim")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("round %v over %v", took.Round(time.Millisecond), res.Participants)
	if err := s.CheckRelease(res); err != nil {
		t.Fatal(err)
	}
	rounds := s.RoundsAgree("nps-sim", s.Cluster.Nodes...)
	if len(rounds) != 1 || rounds[0].State != "released" {
		t.Fatalf("rounds %+v", rounds)
	}
}

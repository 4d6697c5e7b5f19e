package sim

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/cxnet/cxnet/kpi"
	"github.com/cxnet/cxnet/node/client"
	"github.com/cxnet/cxnet/node/nodetest"
)

// roundView is what must agree between nodes about one round.
type roundView struct {
	Round, State, Reason, Aggregator string
	Inputs, Decryptors               []string
}

// RoundsAgree waits until every given member lists the same rounds of
// contract id, every one ended (released or failed), and then checks
// that each member's audit log recorded each round's end as the list
// says, and that every released round's cells are the same on every
// member and equal to the pooled computation. It returns the rounds.
func (s *Sim) RoundsAgree(id string, members ...*nodetest.Member) []client.Round {
	s.tb.Helper()
	ctx := context.Background()
	var rounds []client.Round
	var last string
	ok := s.poll(50*time.Millisecond, func() bool {
		var first string
		for i, m := range members {
			rs, err := m.Client.Rounds(ctx, id)
			if err != nil {
				last = fmt.Sprintf("%s: %v", m.Org, err)
				return false
			}
			views := make([]roundView, len(rs.Rounds))
			for j, r := range rs.Rounds {
				if r.State != "released" && r.State != "failed" {
					last = fmt.Sprintf("%s lists round %s %s", m.Org, r.Round, r.State)
					return false
				}
				views[j] = roundView{string(r.Round), r.State, r.Reason, r.Aggregator, r.Inputs, r.Decryptors}
			}
			b, _ := json.Marshal(views)
			if i == 0 {
				first, rounds = string(b), rs.Rounds
			} else if string(b) != first {
				last = fmt.Sprintf("%s lists %s\n%s lists %s", members[0].Org, first, m.Org, b)
				return false
			}
		}
		return true
	})
	if !ok {
		s.tb.Fatalf("sim: rounds of %s not ended alike on %d members within %v:\n%s", id, len(members), s.Config.Wait, last)
	}
	for _, m := range members {
		if err := s.auditAgrees(m, rounds); err != nil {
			s.tb.Fatal(err)
		}
	}
	for _, r := range rounds {
		if r.State != "released" {
			continue
		}
		var first []byte
		for i, m := range members {
			res, err := m.Client.Results(ctx, id, r.Round)
			if err != nil {
				s.tb.Fatalf("sim: %s: results of round %s: %v", m.Org, r.Round, err)
			}
			if err := s.CheckRelease(res); err != nil {
				s.tb.Fatalf("sim: %s: %v", m.Org, err)
			}
			for j := range res.Cells {
				res.Cells[j].Local = nil // each node's own value differs
			}
			b, _ := json.Marshal(struct {
				P []string
				C []kpi.Cell
			}{res.Participants, res.Cells})
			if i == 0 {
				first = b
			} else if string(b) != string(first) {
				s.tb.Fatalf("sim: round %s: %s serves other cells than %s", r.Round, m.Org, members[0].Org)
			}
		}
	}
	return rounds
}

// auditAgrees checks that m's audit log records each round's end as the
// round list says: round.released or round.failed, applied.
func (s *Sim) auditAgrees(m *nodetest.Member, rounds []client.Round) error {
	log, err := m.Client.Audit(context.Background())
	if err != nil {
		return fmt.Errorf("sim: %s: audit log: %w", m.Org, err)
	}
	ended := map[string][]string{}
	for _, e := range log.Entries {
		if (e.Kind == "round.released" || e.Kind == "round.failed") && e.Detail["outcome"] == "applied" {
			ended[e.Object] = append(ended[e.Object], strings.TrimPrefix(e.Kind, "round."))
		}
	}
	for _, r := range rounds {
		if got := ended[string(r.Round)]; !slices.Equal(got, []string{r.State}) {
			return fmt.Errorf("sim: %s: the audit log records round %s ending %v; round list says %s", m.Org, r.Round, got, r.State)
		}
	}
	if v, err := m.Client.AuditVerify(context.Background()); err != nil || !v.OK {
		return fmt.Errorf("sim: %s: audit log does not verify: %v %+v", m.Org, err, v)
	}
	return nil
}

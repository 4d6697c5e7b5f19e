package node

import (
	"context"
	"math/big"
	"time"

	"github.com/cxnet/cxnet/contracts"
	"github.com/cxnet/cxnet/kpi"
)

// tendRounds opens, on this node, the rounds of active scheduled
// contracts when it is this organisation's turn (contracts.NextRoundAt),
// and forgets what it kept of rounds that ended. A round runs as `round
// run` does; one that fails is retried by the schedule, not here. seen
// records when each scheduled contract was first seen active.
func (c *consortium) tendRounds(ctx context.Context, seen map[kpi.ContractID]time.Time) {
	if c.getRaft() == nil {
		return
	}
	if err := c.rounds.ForgetEnded(); err != nil {
		c.log.Warn("forget ended rounds", "err", err)
	}
	for _, id := range c.dueRounds(c.cfg.Now(), seen) {
		log := c.log.With("contract", id)
		log.Info("scheduled round due")
		round, _, err := c.rounds.Run(ctx, id)
		if c.metrics != nil {
			outcome := "released"
			if err != nil {
				outcome = "failed"
			}
			c.metrics.scheduledRounds.WithLabelValues(outcome).Inc()
		}
		if err != nil {
			log.Warn("scheduled round failed; the schedule retries it", "round", round, "err", err)
			continue
		}
		log.Info("scheduled round released", "round", round)
	}
}

// dueRounds lists the active scheduled contracts whose next round falls
// to this node by now, with privacy budget left for it. seen records when
// each contract was first seen active.
func (c *consortium) dueRounds(now time.Time, seen map[kpi.ContractID]time.Time) []kpi.ContractID {
	org := kpi.OrgID(c.cfg.Org)
	var due []kpi.ContractID
	c.fsm.Read(func(s *contracts.State) {
		active := map[kpi.ContractID]bool{}
		for _, rec := range s.Contracts() {
			if rec.State != contracts.ContractActive {
				continue
			}
			ct, err := rec.Contract()
			if err != nil || ct.Schedule == 0 {
				continue
			}
			active[ct.ID] = true
			if _, ok := seen[ct.ID]; !ok {
				seen[ct.ID] = now
			}
			at, ok := ct.NextRoundAt(s.Rounds(ct.ID), org, seen[ct.ID])
			if !ok || now.Before(at) {
				continue
			}
			if eps := ct.Privacy.Epsilon; eps.Mantissa != 0 {
				left := new(big.Rat).Sub(ct.Privacy.Budget.Rat(), s.EpsilonSpent(ct.ID))
				if left.Cmp(eps.Rat()) < 0 {
					continue // spent: a new version with a new budget needs approval
				}
			}
			due = append(due, ct.ID)
		}
		for id := range seen {
			if !active[id] {
				delete(seen, id)
			}
		}
	})
	return due
}

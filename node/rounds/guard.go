package rounds

import (
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/cxnet/cxnet/kpi"
)

// roundGuard holds what the round protocol serialises and limits on
// this node.
type roundGuard struct {
	// inputMu and shareMu make computing and storing an input or a
	// decryption share one step: two concurrent requests get the same
	// one, never two draws of noise or pads.
	inputMu, shareMu sync.Mutex

	mu      sync.Mutex
	now     func() time.Time
	opened  map[kpi.OrgID][]roundSeen // per aggregator, the rounds served in the last minute
	reports map[string]bool           // rounds whose aggregator's deviation this node reported
	seen    map[string]time.Time      // ongoing rounds, when this node first saw each
	runs    map[string]bool           // rounds this node is aggregating now
}

// firstReport reports whether round id's deviation is to be reported now:
// the first time only.
func (g *roundGuard) firstReport(id string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.reports == nil {
		g.reports = map[string]bool{}
	}
	if g.reports[id] {
		return false
	}
	g.reports[id] = true
	return true
}

type roundSeen struct {
	id string
	at time.Time
}

// maxRoundsPerMinute bounds the new rounds one aggregator makes this node
// compute an input for, per minute.
const maxRoundsPerMinute = 30

// allow counts a request for round id from aggregator agg, and refuses
// it when agg asked for more than maxRoundsPerMinute other rounds in the
// last minute.
func (g *roundGuard) allow(agg kpi.OrgID, id string) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := time.Now()
	if g.now != nil {
		now = g.now()
	}
	if g.opened == nil {
		g.opened = map[kpi.OrgID][]roundSeen{}
	}
	recent := g.opened[agg][:0]
	for _, r := range g.opened[agg] {
		if now.Sub(r.at) < time.Minute {
			recent = append(recent, r)
		}
	}
	g.opened[agg] = recent
	if slices.ContainsFunc(recent, func(r roundSeen) bool { return r.id == id }) {
		return nil
	}
	if len(recent) >= maxRoundsPerMinute {
		return fmt.Errorf("%s opened more than %d rounds in a minute; this node refuses more for now", agg, maxRoundsPerMinute)
	}
	g.opened[agg] = append(recent, roundSeen{id: id, at: now})
	return nil
}

// firstSeen returns when this node first saw ongoing round id, now the
// first time it is asked.
func (g *roundGuard) firstSeen(id string, now time.Time) time.Time {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.seen == nil {
		g.seen = map[string]time.Time{}
	}
	if t, ok := g.seen[id]; ok {
		return t
	}
	g.seen[id] = now
	return now
}

// running records that this node aggregates round id (or no longer).
func (g *roundGuard) running(id string, on bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.runs == nil {
		g.runs = map[string]bool{}
	}
	if on {
		g.runs[id] = true
	} else {
		delete(g.runs, id)
	}
}

func (g *roundGuard) isRunning(id string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.runs[id]
}

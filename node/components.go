package node

import (
	"context"
	"slices"
	"sync"

	"github.com/cxnet/cxnet/contracts"
	"github.com/cxnet/cxnet/kpi"
	"github.com/cxnet/cxnet/store"
)

// components computes contracts' components over this node's own records
// and keeps them until an import may have changed the records
// (store.Generation): a round's input, the local value beside its
// results and a preview each scan the records once between imports, not
// once each. Kept in memory only.
type components struct {
	db *store.DB

	mu   sync.Mutex
	gen  uint64
	kept map[string]keptComponents // by contract hash
}

type keptComponents struct {
	comps   []int64
	scanned int64
}

// maxKeptComponents bounds the contracts whose components are kept.
const maxKeptComponents = 64

func newComponents(db *store.DB) *components {
	return &components{db: db, kept: map[string]keptComponents{}}
}

// of returns c's components over this node's records (a copy the caller
// may change) and how many records it scanned.
func (k *components) of(ctx context.Context, c *contracts.Contract) ([]int64, int64, error) {
	gen, key := k.db.Generation(), c.Hash()
	k.mu.Lock()
	if k.gen != gen {
		clear(k.kept)
		k.gen = gen
	}
	e, ok := k.kept[key]
	k.mu.Unlock()
	if ok {
		return slices.Clone(e.comps), e.scanned, nil
	}
	comps, scanned, err := localComponents(ctx, k.db, c)
	if err != nil {
		return nil, 0, err
	}
	k.mu.Lock()
	if k.gen == gen { // no import began meanwhile: what was scanned is current
		if len(k.kept) >= maxKeptComponents {
			clear(k.kept)
		}
		k.kept[key] = keptComponents{comps: slices.Clone(comps), scanned: scanned}
	}
	k.mu.Unlock()
	return comps, scanned, nil
}

// localComponents computes a contract's components over this node's own
// records, and how many records it scanned.
func localComponents(ctx context.Context, db *store.DB, c *contracts.Contract) ([]int64, int64, error) {
	acc := c.NewAccumulator()
	var scanned int64
	days := store.AllDays
	if c.Window != nil {
		days = [2]int32{c.Window.FromDay, c.Window.ToDay}
	}
	err := db.Scan(ctx, c.Measure, days, func(o *kpi.Observation) error {
		scanned++
		acc.Add(o)
		return nil
	})
	if err != nil {
		return nil, 0, err
	}
	comps, err := acc.Components()
	return comps, scanned, err
}

package store

import (
	"context"
	"fmt"
	"math"
	"sort"

	badger "github.com/dgraph-io/badger/v4"

	"github.com/cxnet/cxnet/kpi"
)

// AllDays is the widest day range for Scan.
var AllDays = [2]int32{math.MinInt32, math.MaxInt32}

// Scan calls fn for every visible observation of measure whose local day
// is within days (inclusive). The observation passed to fn is reused: fn
// must copy what it keeps. An import being staged is not visible.
func (db *DB) Scan(ctx context.Context, measure string, days [2]int32, fn func(*kpi.Observation) error) error {
	db.mu.RLock()
	defer db.mu.RUnlock()
	hidden := db.inflight
	dec := newDecoder()
	dec.obs.Measure = measure
	return db.bdb.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: obsMeasurePrefix(measure), PrefetchValues: true, PrefetchSize: 16})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			item := it.Item()
			if hidden != 0 && chunkKeyBatch(item.Key()) == hidden {
				continue
			}
			if err := ctx.Err(); err != nil {
				return err
			}
			err := item.Value(func(v []byte) error {
				return eachSlot(v, func(_ int, obs []byte) error {
					if len(obs) == 0 {
						return nil // replaced
					}
					unix, day, rest, err := decodeTime(obs)
					if err != nil {
						return err
					}
					if day < days[0] || day > days[1] {
						return nil
					}
					dec.obs.Unix, dec.obs.Day = unix, day
					if err := dec.decodeRest(rest); err != nil {
						return err
					}
					return fn(&dec.obs)
				})
			})
			if err != nil {
				return fmt.Errorf("store: scan %s: chunk %x: %w", measure, item.Key(), err)
			}
		}
		return nil
	})
}

// Measures lists the measures that have records, sorted.
func (db *DB) Measures() []string {
	db.measuresMu.Lock()
	defer db.measuresMu.Unlock()
	out := make([]string, 0, len(db.measures))
	for m := range db.measures {
		out = append(out, m)
	}
	sort.Strings(out)
	return out
}

// MaxDimValues bounds how many values of one dimension Stats lists.
const MaxDimValues = 50

// Stats describes what a node holds.
type Stats struct {
	Records  int64                    `json:"records"`
	Measures map[string]*MeasureStats `json:"measures"`
	Batches  int                      `json:"imports"`
}

// MeasureStats describes the records of one measure.
type MeasureStats struct {
	Records int64  `json:"records"`
	From    string `json:"from"` // first local date, YYYY-MM-DD
	To      string `json:"to"`   // last local date
	// Dims counts records per dimension value (at most MaxDimValues values
	// per dimension; the rest are counted under "…other").
	Dims map[string]map[string]int64 `json:"dims"`
	// Subjects is the number of distinct subjects.
	Subjects int64 `json:"subjects"`
}

// Stats scans the store and summarises it. The figures are this node's
// own; they are never sent anywhere.
func (db *DB) Stats(ctx context.Context) (Stats, error) {
	st := Stats{Measures: map[string]*MeasureStats{}}
	for _, m := range db.Measures() {
		ms := &MeasureStats{Dims: map[string]map[string]int64{}}
		lo, hi := int32(math.MaxInt32), int32(math.MinInt32)
		subjects := map[kpi.Pseudonym]struct{}{}
		err := db.Scan(ctx, m, AllDays, func(o *kpi.Observation) error {
			ms.Records++
			lo, hi = min(lo, o.Day), max(hi, o.Day)
			subjects[o.Subject] = struct{}{}
			for _, d := range o.Dims {
				vals := ms.Dims[d.Name]
				if vals == nil {
					vals = map[string]int64{}
					ms.Dims[d.Name] = vals
				}
				if _, ok := vals[d.Value]; ok || len(vals) < MaxDimValues {
					vals[d.Value]++
				} else {
					vals["…other"]++
				}
			}
			return nil
		})
		if err != nil {
			return Stats{}, err
		}
		if ms.Records == 0 {
			continue
		}
		ms.From = kpi.DayTime(lo).Format("2006-01-02")
		ms.To = kpi.DayTime(hi).Format("2006-01-02")
		ms.Subjects = int64(len(subjects))
		st.Measures[m] = ms
		st.Records += ms.Records
	}
	n, err := db.countPrefix(prefixBatch)
	st.Batches = n
	return st, err
}

func (db *DB) countPrefix(prefix []byte) (int, error) {
	n := 0
	err := db.bdb.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			n++
		}
		return nil
	})
	return n, err
}

package store

import (
	"encoding/binary"
	"errors"
	"fmt"

	badger "github.com/dgraph-io/badger/v4"
)

// recover finishes what a crash interrupted: batches still staging are
// undone, committed batches with replacements left are completed.
func (db *DB) recover() error {
	all, err := db.batches()
	if err != nil {
		return fmt.Errorf("store: recover: %w", err)
	}
	var staging, committed []uint64
	for _, m := range all {
		if m.State == batchStaging {
			staging = append(staging, m.Batch)
		} else if m.Replaced > 0 {
			committed = append(committed, m.Batch)
		}
	}
	for _, b := range staging {
		db.log.Warn("undoing an import that did not finish", "batch", b)
		if err := db.undo(b); err != nil {
			return fmt.Errorf("store: recover: undo batch %d: %w", b, err)
		}
	}
	for _, b := range committed {
		if err := db.applyReplacements(b); err != nil {
			return fmt.Errorf("store: recover: batch %d: %w", b, err)
		}
	}
	return nil
}

func (db *DB) loadMeasures() error {
	return db.bdb.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: measureKeyPrefix})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			db.measures[string(it.Item().Key()[len(measureKeyPrefix):])] = true
		}
		return nil
	})
}

// undo removes everything batch b wrote and its marker, and gives its
// number back, so a failed import leaves the store byte for byte as it
// was. It is idempotent.
func (db *DB) undo(b uint64) error {
	db.measuresMu.Lock()
	measures := make([]string, 0, len(db.measures))
	for m := range db.measures {
		measures = append(measures, m)
	}
	db.measuresMu.Unlock()

	wb := db.bdb.NewWriteBatch()
	defer wb.Cancel()
	prefixes := [][]byte{batchPrefix(prefixFinger, b), batchPrefix(prefixReplace, b)}
	for _, m := range measures {
		prefixes = append(prefixes, obsBatchPrefix(m, b))
	}
	for _, p := range prefixes {
		if err := db.deletePrefix(wb, p); err != nil {
			return err
		}
	}
	if err := wb.Flush(); err != nil {
		return err
	}
	// Measures that only this batch had are forgotten again.
	for _, m := range measures {
		empty, err := db.prefixEmpty(obsMeasurePrefix(m))
		if err != nil {
			return err
		}
		if empty {
			if err := db.bdb.Update(func(txn *badger.Txn) error { return txn.Delete(measureKey(m)) }); err != nil {
				return err
			}
			db.measuresMu.Lock()
			delete(db.measures, m)
			db.measuresMu.Unlock()
		}
	}
	err := db.bdb.Update(func(txn *badger.Txn) error {
		if err := txn.Delete(batchKey(b)); err != nil {
			return err
		}
		item, err := txn.Get(keyLastBatch)
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		last, err := item.ValueCopy(nil)
		if err != nil || len(last) != 8 || binary.BigEndian.Uint64(last) != b {
			return err
		}
		if b == 1 {
			return txn.Delete(keyLastBatch)
		}
		return txn.Set(keyLastBatch, binary.BigEndian.AppendUint64(nil, b-1))
	})
	if err != nil {
		return err
	}
	if err := db.bdb.Sync(); err != nil {
		return err
	}
	db.mu.Lock()
	if db.inflight == b {
		db.inflight = 0
	}
	db.mu.Unlock()
	return nil
}

func (db *DB) deletePrefix(wb *badger.WriteBatch, prefix []byte) error {
	return db.bdb.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			if err := wb.Delete(it.Item().KeyCopy(nil)); err != nil {
				return err
			}
		}
		return nil
	})
}

func (db *DB) prefixEmpty(prefix []byte) (bool, error) {
	empty := true
	err := db.bdb.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix})
		defer it.Close()
		it.Rewind()
		empty = !it.Valid()
		return nil
	})
	return empty, err
}

// applyReplacements removes the records committed batch b replaced: each
// old chunk is rewritten with the replaced slots blanked, together with
// the deletion of its x/ entries, in one transaction — so it can be redone.
func (db *DB) applyReplacements(b uint64) error {
	for {
		type ref struct{ key, chunk []byte }
		byChunk := map[string][]ref{}
		slots := map[string]map[uint16]bool{}
		err := db.bdb.View(func(txn *badger.Txn) error {
			it := txn.NewIterator(badger.IteratorOptions{Prefix: batchPrefix(prefixReplace, b), PrefetchValues: true})
			defer it.Close()
			it.Rewind()
			for n := 0; it.Valid() && n < 4096; it.Next() {
				v, err := it.Item().ValueCopy(nil)
				if err != nil {
					return err
				}
				chunk, slot, err := parseSlotRef(v)
				if err != nil {
					return err
				}
				k := string(chunk)
				byChunk[k] = append(byChunk[k], ref{it.Item().KeyCopy(nil), chunk})
				if slots[k] == nil {
					slots[k] = map[uint16]bool{}
				}
				slots[k][slot] = true
				n++
			}
			return nil
		})
		if err != nil || len(byChunk) == 0 {
			return err
		}
		for k, refs := range byChunk {
			err := db.bdb.Update(func(txn *badger.Txn) error {
				item, err := txn.Get([]byte(k))
				if err == nil {
					old, err := item.ValueCopy(nil)
					if err != nil {
						return err
					}
					blanked, err := blankSlots(old, slots[k])
					if err != nil {
						return err
					}
					if err := txn.Set([]byte(k), blanked); err != nil {
						return err
					}
				} else if !errors.Is(err, badger.ErrKeyNotFound) {
					return err
				}
				for _, r := range refs {
					if err := txn.Delete(r.key); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				return err
			}
		}
		if err := db.bdb.Sync(); err != nil {
			return err
		}
	}
}

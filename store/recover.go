package store

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"

	badger "github.com/dgraph-io/badger/v4"
)

// recover finishes what a crash interrupted: batches still staging are
// undone, committed batches with replacements left are completed.
func (db *DB) recover() error {
	var staging, pending []uint64
	err := db.bdb.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefixBatch, PrefetchValues: true})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			var m batchMeta
			if err := it.Item().Value(func(v []byte) error { return json.Unmarshal(v, &m) }); err != nil {
				return fmt.Errorf("batch %x: %w", it.Item().Key(), err)
			}
			if m.State == batchStaging {
				staging = append(staging, m.Batch)
			} else if m.Replaced > 0 {
				pending = append(pending, m.Batch)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: recover: %w", err)
	}
	for _, b := range staging {
		db.log.Warn("undoing an import that did not finish", "batch", b)
		if err := db.undo(b); err != nil {
			return fmt.Errorf("store: recover: undo batch %d: %w", b, err)
		}
	}
	for _, b := range pending {
		if err := db.applyReplacements(b); err != nil {
			return fmt.Errorf("store: recover: batch %d: %w", b, err)
		}
	}
	return nil
}

func (db *DB) loadMeasures() error {
	return db.bdb.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefixMeasure})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			db.measures[string(it.Item().Key()[len(prefixMeasure):])] = true
		}
		return nil
	})
}

// undo removes everything batch b wrote and its marker. It is idempotent.
func (db *DB) undo(b uint64) error {
	db.measuresMu.Lock()
	measures := make([]string, 0, len(db.measures))
	for m := range db.measures {
		measures = append(measures, m)
	}
	db.measuresMu.Unlock()

	wb := db.bdb.NewWriteBatch()
	defer wb.Cancel()
	for _, m := range measures {
		if err := db.undoMeasure(wb, m, b); err != nil {
			return err
		}
	}
	if err := db.deletePrefix(wb, pendingPrefix(b)); err != nil {
		return err
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
	// Forget the batch, and give its number back when it was the last one,
	// so a failed import leaves the store byte for byte as it was.
	err := db.bdb.Update(func(txn *badger.Txn) error {
		if err := txn.Delete(batchKey(b)); err != nil {
			return err
		}
		item, err := txn.Get(keyLastBatch)
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

// undoMeasure deletes batch b's observations of measure m and the record
// index entries that point at them.
func (db *DB) undoMeasure(wb *badger.WriteBatch, m string, b uint64) error {
	return db.bdb.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: obsBatchPrefix(m, b), PrefetchValues: true, PrefetchSize: 256})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			item := it.Item()
			var id string
			if err := item.Value(func(v []byte) (err error) { id, err = recordIDOf(v); return err }); err != nil {
				return err
			}
			rk := appendRecordKey(nil, id)
			switch ri, err := txn.Get(rk); {
			case err == nil:
				var loc recordLoc
				if err := ri.Value(func(v []byte) (err error) { loc, err = parseRecordLoc(v); return err }); err != nil {
					return err
				}
				if loc.batch == b {
					if err := wb.Delete(rk); err != nil {
						return err
					}
				}
			case !errors.Is(err, badger.ErrKeyNotFound):
				return err
			}
			if err := wb.Delete(item.KeyCopy(nil)); err != nil {
				return err
			}
		}
		return nil
	})
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

// applyReplacements finishes committed batch b's replacements: for each
// pending record the old observation is deleted and the index moved to the
// new one, one record per transaction step, so it can be redone.
func (db *DB) applyReplacements(b uint64) error {
	for {
		var keys [][]byte
		err := db.bdb.View(func(txn *badger.Txn) error {
			it := txn.NewIterator(badger.IteratorOptions{Prefix: pendingPrefix(b)})
			defer it.Close()
			for it.Rewind(); it.Valid() && len(keys) < 1000; it.Next() {
				keys = append(keys, it.Item().KeyCopy(nil))
			}
			return nil
		})
		if err != nil || len(keys) == 0 {
			return err
		}
		err = db.bdb.Update(func(txn *badger.Txn) error {
			for _, pk := range keys {
				id := pk[len(prefixPending)+8:]
				rk := appendRecordKey(nil, string(id))
				pi, err := txn.Get(pk)
				if err != nil {
					return err
				}
				newLoc, err := pi.ValueCopy(nil)
				if err != nil {
					return err
				}
				ri, err := txn.Get(rk)
				if err != nil && !errors.Is(err, badger.ErrKeyNotFound) {
					return err
				}
				if err == nil {
					var old recordLoc
					if err := ri.Value(func(v []byte) (err error) { old, err = parseRecordLoc(v); return err }); err != nil {
						return err
					}
					if old.batch != b {
						if err := txn.Delete(old.obsKey()); err != nil {
							return err
						}
					}
				}
				if err := txn.Set(rk, newLoc); err != nil {
					return err
				}
				if err := txn.Delete(pk); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		if err := db.bdb.Sync(); err != nil {
			return err
		}
	}
}

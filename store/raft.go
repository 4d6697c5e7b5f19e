package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	badger "github.com/dgraph-io/badger/v4"
	"github.com/hashicorp/raft"
)

// RaftLog is the governance raft's log and stable store, kept in the
// node's own Badger (so one engine, one backup and encryption at rest cover
// it too). Every write is synced: terms and votes must survive power loss.
//
//	L/<index:8>   a log entry
//	S/<key>       a stable value (current term, last vote …)
type RaftLog struct{ db *DB }

var (
	prefixRaftLog    = []byte("L/")
	prefixRaftStable = []byte("S/")
	// errStableNotFound has the exact text raft checks for.
	errStableNotFound = errors.New("not found")
)

var (
	_ raft.LogStore    = (*RaftLog)(nil)
	_ raft.StableStore = (*RaftLog)(nil)
)

// RaftLog returns the raft log and stable store of this DB.
func (db *DB) RaftLog() *RaftLog { return &RaftLog{db: db} }

func raftLogKey(i uint64) []byte {
	return binary.BigEndian.AppendUint64(append([]byte(nil), prefixRaftLog...), i)
}

// raft.Log on disk: version:1 term:uvarint type:1 appendedAt(unix ns):varint
// len(data):uvarint data extensions.
func encodeRaftLog(l *raft.Log) []byte {
	b := make([]byte, 0, 32+len(l.Data)+len(l.Extensions))
	b = append(b, 1)
	b = binary.AppendUvarint(b, l.Term)
	b = append(b, byte(l.Type))
	var at int64
	if !l.AppendedAt.IsZero() {
		at = l.AppendedAt.UnixNano()
	}
	b = binary.AppendVarint(b, at)
	b = binary.AppendUvarint(b, uint64(len(l.Data)))
	b = append(b, l.Data...)
	return append(b, l.Extensions...)
}

func decodeRaftLog(index uint64, v []byte, l *raft.Log) error {
	if len(v) < 1 || v[0] != 1 {
		return errors.New("store: raft log entry: unknown encoding")
	}
	v = v[1:]
	term, n := binary.Uvarint(v)
	if n <= 0 || len(v) < n+1 {
		return errCorrupt
	}
	typ := v[n]
	v = v[n+1:]
	at, n := binary.Varint(v)
	if n <= 0 {
		return errCorrupt
	}
	v = v[n:]
	data, ext, err := lenPrefixed(v)
	if err != nil {
		return err
	}
	*l = raft.Log{Index: index, Term: term, Type: raft.LogType(typ),
		Data: append([]byte(nil), data...), Extensions: nil}
	if len(ext) > 0 {
		l.Extensions = append([]byte(nil), ext...)
	}
	if at != 0 {
		l.AppendedAt = time.Unix(0, at)
	}
	return nil
}

// FirstIndex returns the first index written, 0 for none.
func (r *RaftLog) FirstIndex() (uint64, error) { return r.edgeIndex(false) }

// LastIndex returns the last index written, 0 for none.
func (r *RaftLog) LastIndex() (uint64, error) { return r.edgeIndex(true) }

func (r *RaftLog) edgeIndex(last bool) (uint64, error) {
	var idx uint64
	err := r.db.bdb.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefixRaftLog, Reverse: last})
		defer it.Close()
		if last {
			it.Seek(raftLogKey(^uint64(0)))
		} else {
			it.Rewind()
		}
		if it.Valid() {
			idx = binary.BigEndian.Uint64(it.Item().Key()[len(prefixRaftLog):])
		}
		return nil
	})
	return idx, err
}

// GetLog reads entry index into log; raft.ErrLogNotFound when absent.
func (r *RaftLog) GetLog(index uint64, log *raft.Log) error {
	return r.db.bdb.View(func(txn *badger.Txn) error {
		item, err := txn.Get(raftLogKey(index))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return raft.ErrLogNotFound
		}
		if err != nil {
			return err
		}
		return item.Value(func(v []byte) error { return decodeRaftLog(index, v, log) })
	})
}

// StoreLog stores one entry.
func (r *RaftLog) StoreLog(log *raft.Log) error { return r.StoreLogs([]*raft.Log{log}) }

// StoreLogs stores entries in one transaction (split only when Badger says
// it is too big), then syncs.
func (r *RaftLog) StoreLogs(logs []*raft.Log) error {
	for len(logs) > 0 {
		n := len(logs)
		for {
			err := r.db.bdb.Update(func(txn *badger.Txn) error {
				for _, l := range logs[:n] {
					if err := txn.Set(raftLogKey(l.Index), encodeRaftLog(l)); err != nil {
						return err
					}
				}
				return nil
			})
			if errors.Is(err, badger.ErrTxnTooBig) && n > 1 {
				n /= 2
				continue
			}
			if err != nil {
				return fmt.Errorf("store: raft log: %w", err)
			}
			break
		}
		logs = logs[n:]
	}
	return r.db.bdb.Sync()
}

// DeleteRange deletes entries min..max inclusive.
func (r *RaftLog) DeleteRange(min, max uint64) error {
	wb := r.db.bdb.NewWriteBatch()
	defer wb.Cancel()
	err := r.db.bdb.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefixRaftLog})
		defer it.Close()
		for it.Seek(raftLogKey(min)); it.Valid(); it.Next() {
			k := it.Item().KeyCopy(nil)
			if binary.BigEndian.Uint64(k[len(prefixRaftLog):]) > max {
				break
			}
			if err := wb.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if err := wb.Flush(); err != nil {
		return err
	}
	return r.db.bdb.Sync()
}

func stableKey(k []byte) []byte { return append(append([]byte(nil), prefixRaftStable...), k...) }

// Set stores a stable value, synced.
func (r *RaftLog) Set(key, val []byte) error {
	if err := r.db.bdb.Update(func(txn *badger.Txn) error { return txn.Set(stableKey(key), val) }); err != nil {
		return err
	}
	return r.db.bdb.Sync()
}

// Get reads a stable value; an error reading exactly "not found" when
// absent, as raft expects.
func (r *RaftLog) Get(key []byte) ([]byte, error) {
	var out []byte
	err := r.db.bdb.View(func(txn *badger.Txn) error {
		item, err := txn.Get(stableKey(key))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return errStableNotFound
		}
		if err != nil {
			return err
		}
		out, err = item.ValueCopy(nil)
		return err
	})
	return out, err
}

// SetUint64 stores a stable integer.
func (r *RaftLog) SetUint64(key []byte, val uint64) error {
	return r.Set(key, binary.BigEndian.AppendUint64(nil, val))
}

// GetUint64 reads a stable integer; "not found" when absent.
func (r *RaftLog) GetUint64(key []byte) (uint64, error) {
	v, err := r.Get(key)
	if err != nil {
		return 0, err
	}
	if len(v) != 8 {
		return 0, fmt.Errorf("store: raft stable key %q: %d bytes, want 8", key, len(v))
	}
	return binary.BigEndian.Uint64(v), nil
}

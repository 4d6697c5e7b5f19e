package store

import (
	"encoding/binary"
	"errors"
	"fmt"

	badger "github.com/dgraph-io/badger/v4"
)

// Key material of the privacy layer: this node's secret key share of
// each key epoch, the Shamir shares other members dealt it, and its
// threshold key. Like everything else in the store it is encrypted at
// rest; every write is synced, since a lost secret key share would lose
// the epoch.
//
//	K/<epoch:8><name>   a secret of the epoch
var prefixSecret = []byte("K/")

// ErrNoSecret is returned by Secret for a secret not stored.
var ErrNoSecret = errors.New("store: no such secret")

func secretKey(epoch uint64, name string) []byte {
	k := binary.BigEndian.AppendUint64(append([]byte(nil), prefixSecret...), epoch)
	return append(k, name...)
}

// PutSecret stores a secret of key epoch epoch under name, synced.
func (db *DB) PutSecret(epoch uint64, name string, value []byte) error {
	if name == "" {
		return errors.New("store: a secret needs a name")
	}
	if err := db.bdb.Update(func(txn *badger.Txn) error {
		return txn.Set(secretKey(epoch, name), value)
	}); err != nil {
		return fmt.Errorf("store: put secret %s of epoch %d: %w", name, epoch, err)
	}
	return db.bdb.Sync()
}

// Secret returns the secret of key epoch epoch named name, or ErrNoSecret.
func (db *DB) Secret(epoch uint64, name string) ([]byte, error) {
	var out []byte
	err := db.bdb.View(func(txn *badger.Txn) error {
		item, err := txn.Get(secretKey(epoch, name))
		if err != nil {
			return err
		}
		out, err = item.ValueCopy(nil)
		return err
	})
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil, ErrNoSecret
	}
	if err != nil {
		return nil, fmt.Errorf("store: secret %s of epoch %d: %w", name, epoch, err)
	}
	return out, nil
}

// DeleteEpochsBefore removes every secret of the key epochs before
// epoch, synced: a superseded key is of no more use, and its shares
// should not outlive it.
func (db *DB) DeleteEpochsBefore(before uint64) error {
	wb := db.bdb.NewWriteBatch()
	defer wb.Cancel()
	err := db.bdb.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefixSecret})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			k := it.Item().KeyCopy(nil)
			if len(k) < len(prefixSecret)+8 || binary.BigEndian.Uint64(k[len(prefixSecret):]) >= before {
				continue
			}
			if err := wb.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil {
		err = wb.Flush()
	}
	if err != nil {
		return fmt.Errorf("store: delete secrets before epoch %d: %w", before, err)
	}
	return db.bdb.Sync()
}

// SecretNames lists the names of key epoch epoch's secrets that begin
// with prefix, in order.
func (db *DB) SecretNames(epoch uint64, prefix string) ([]string, error) {
	var names []string
	p := secretKey(epoch, prefix)
	skip := len(secretKey(epoch, ""))
	err := db.bdb.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: p})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			names = append(names, string(it.Item().Key()[skip:]))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: list secrets %s* of epoch %d: %w", prefix, epoch, err)
	}
	return names, nil
}

// DeleteNamedSecrets removes the named secrets of key epoch epoch (a
// round's, once it ended), synced. Names not stored are ignored.
func (db *DB) DeleteNamedSecrets(epoch uint64, names ...string) error {
	wb := db.bdb.NewWriteBatch()
	defer wb.Cancel()
	for _, name := range names {
		if err := wb.Delete(secretKey(epoch, name)); err != nil {
			return fmt.Errorf("store: delete secret %s of epoch %d: %w", name, epoch, err)
		}
	}
	if err := wb.Flush(); err != nil {
		return fmt.Errorf("store: delete secrets of epoch %d: %w", epoch, err)
	}
	return db.bdb.Sync()
}

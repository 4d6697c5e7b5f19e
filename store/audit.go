package store

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	badger "github.com/dgraph-io/badger/v4"
)

// The audit log: every governance event a node sees or does, append-only
// and hash-chained. Entry n's hash covers entry n-1's hash, so altering or
// removing any entry breaks the chain from there on; the head (last
// sequence number and hash) catches a removed tail.
//
//	A/<seq:8>   an entry (JSON)
//	A/head      {"seq":N,"hash":"…"}
var (
	prefixAudit  = []byte("A/")
	keyAuditHead = []byte("A/head")
)

// AuditEntry is one event of the audit log.
type AuditEntry struct {
	Seq    uint64            `json:"seq"`
	Time   time.Time         `json:"time"`
	Kind   string            `json:"kind"`             // e.g. contract.approved
	Actor  string            `json:"actor,omitempty"`  // acting organisation
	Object string            `json:"object,omitempty"` // contract id, member org …
	Detail map[string]string `json:"detail,omitempty"` // anything else worth keeping
	Prev   string            `json:"prev"`             // hash of the previous entry (hex)
	Hash   string            `json:"hash"`             // sha256(prev ‖ this entry without hash)
}

// TamperError says where the audit chain breaks.
type TamperError struct {
	Seq    uint64
	Reason string
}

func (e *TamperError) Error() string {
	return fmt.Sprintf("audit log: entry %d: %s", e.Seq, e.Reason)
}

type auditHead struct {
	Seq  uint64 `json:"seq"`
	Hash string `json:"hash"`
}

var auditMu sync.Mutex // appends are serialised per process

func auditKey(seq uint64) []byte {
	return binary.BigEndian.AppendUint64(append([]byte(nil), prefixAudit...), seq)
}

func (e AuditEntry) computeHash() string {
	e.Hash = ""
	body, _ := json.Marshal(e) // struct and map[string]string: deterministic
	prev, _ := hex.DecodeString(e.Prev)
	sum := sha256.Sum256(append(prev, body...))
	return hex.EncodeToString(sum[:])
}

// AppendAudit adds an entry at the end of the chain and returns it with
// its sequence number and hash.
func (db *DB) AppendAudit(e AuditEntry) (AuditEntry, error) {
	auditMu.Lock()
	defer auditMu.Unlock()
	err := db.bdb.Update(func(txn *badger.Txn) error {
		var head auditHead
		switch item, err := txn.Get(keyAuditHead); {
		case err == nil:
			if err := item.Value(func(v []byte) error { return json.Unmarshal(v, &head) }); err != nil {
				return err
			}
		case !errors.Is(err, badger.ErrKeyNotFound):
			return err
		}
		e.Seq = head.Seq + 1
		e.Prev = head.Hash
		if e.Time.IsZero() {
			e.Time = db.cfg.Now().UTC()
		}
		e.Hash = e.computeHash()
		b, err := json.Marshal(e)
		if err != nil {
			return err
		}
		hb, _ := json.Marshal(auditHead{Seq: e.Seq, Hash: e.Hash})
		if err := txn.Set(auditKey(e.Seq), b); err != nil {
			return err
		}
		return txn.Set(keyAuditHead, hb)
	})
	if err != nil {
		return AuditEntry{}, fmt.Errorf("store: audit: %w", err)
	}
	return e, db.bdb.Sync()
}

// Audit calls fn for each entry in order.
func (db *DB) Audit(fn func(AuditEntry) error) error {
	return db.bdb.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefixAudit, PrefetchValues: true})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			if len(it.Item().Key()) != len(prefixAudit)+8 {
				continue // the head
			}
			var e AuditEntry
			if err := it.Item().Value(func(v []byte) error { return json.Unmarshal(v, &e) }); err != nil {
				return &TamperError{Seq: binary.BigEndian.Uint64(it.Item().Key()[len(prefixAudit):]), Reason: "unreadable: " + err.Error()}
			}
			if err := fn(e); err != nil {
				return err
			}
		}
		return nil
	})
}

// VerifyAudit walks the chain and returns the number of entries, or a
// *TamperError naming the first entry that was altered, removed or added.
func (db *DB) VerifyAudit() (uint64, error) {
	var n uint64
	prev := ""
	err := db.Audit(func(e AuditEntry) error {
		switch {
		case e.Seq != n+1:
			return &TamperError{Seq: n + 1, Reason: fmt.Sprintf("missing (the next entry is %d)", e.Seq)}
		case e.Prev != prev:
			return &TamperError{Seq: e.Seq, Reason: "does not follow the previous entry (chain broken)"}
		case e.computeHash() != e.Hash:
			return &TamperError{Seq: e.Seq, Reason: "altered (hash does not match its content)"}
		}
		n, prev = e.Seq, e.Hash
		return nil
	})
	if err != nil {
		return n, err
	}
	var head auditHead
	err = db.bdb.View(func(txn *badger.Txn) error {
		item, err := txn.Get(keyAuditHead)
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		return item.Value(func(v []byte) error { return json.Unmarshal(v, &head) })
	})
	if err != nil {
		return n, err
	}
	if head.Seq != n || head.Hash != prev {
		return n, &TamperError{Seq: n + 1, Reason: fmt.Sprintf("the log ends at entry %d but its head says %d (entries removed from the end)", n, head.Seq)}
	}
	return n, nil
}

// AuditHead returns the hash of the last audit entry ("" when empty).
func (db *DB) AuditHead() string {
	var head auditHead
	db.bdb.View(func(txn *badger.Txn) error {
		item, err := txn.Get(keyAuditHead)
		if err != nil {
			return err
		}
		return item.Value(func(v []byte) error { return json.Unmarshal(v, &head) })
	})
	return head.Hash
}

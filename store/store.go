// Package store keeps everything a node writes to disk in one Badger
// database, encrypted at rest: the organisation's observations (subjects
// pseudonymised; imported all or nothing, records checked by
// kpi.Record.Check), the governance raft's log and stable store (RaftLog),
// the secrets of each key epoch and round, and the hash-chained audit log.
// It is the only package that imports Badger.
//
// It must not import protocol, contracts, privacy or ingest; it speaks the
// kpi vocabulary.
package store

import (
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	badger "github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"

	"github.com/cxnet/cxnet/kpi"
)

// Config says where and how to open a store.
type Config struct {
	// Dir holds the Badger files. Ignored when InMemory.
	Dir string
	// InMemory keeps everything in memory (tests).
	InMemory bool
	// EncryptionKey is the AES key (16, 24 or 32 bytes) Badger encrypts
	// every table and log with. Empty disables encryption at rest, which
	// only tests may do (Insecure must be set too).
	EncryptionKey []byte
	// Insecure allows an empty EncryptionKey.
	Insecure bool
	// PseudonymKey is the node-local secret subjects are hashed with
	// (HMAC-SHA256). At least 32 bytes.
	PseudonymKey []byte
	// Small selects the small-node Badger profile (16 MiB memtables, 32 MiB
	// block cache); the default. Set Large for big ingest servers.
	Large bool
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

func (c *Config) validate() error {
	if !c.InMemory && c.Dir == "" {
		return errors.New("store: config: Dir is empty")
	}
	switch len(c.EncryptionKey) {
	case 0:
		if !c.Insecure {
			return errors.New("store: config: no encryption key; cxnet keeps data encrypted at rest (set Insecure only in tests)")
		}
	case 16, 24, 32:
	default:
		return fmt.Errorf("store: config: encryption key has %d bytes, want 16, 24 or 32", len(c.EncryptionKey))
	}
	if len(c.PseudonymKey) < 32 {
		return fmt.Errorf("store: config: pseudonym key has %d bytes, want at least 32", len(c.PseudonymKey))
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return nil
}

// DB is a node's store.
type DB struct {
	cfg Config
	log *slog.Logger
	bdb *badger.DB

	// importMu serialises imports; one batch is staged at a time.
	importMu sync.Mutex
	// mu guards the switch of a batch from staging to visible: readers
	// hold it shared, the commit holds it exclusively.
	mu       sync.RWMutex
	inflight uint64 // batch being staged, invisible to readers; 0 when none

	measuresMu sync.Mutex
	measures   map[string]bool

	// generation counts the imports that may have changed what Scan
	// sees (Generation).
	generation atomic.Uint64

	pseudoPool sync.Pool // of hash.Hash (HMAC-SHA256)

	closeOnce sync.Once
	closeErr  error
}

// Open opens (or creates) the store and finishes or undoes any import a
// crash interrupted, so that every import is all or nothing.
func Open(cfg Config, log *slog.Logger) (*DB, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	opts := badger.DefaultOptions(cfg.Dir).
		WithInMemory(cfg.InMemory).
		WithLogger(badgerLogger{log.With("component", "badger")}).
		WithMetricsEnabled(false).
		WithCompression(options.None)
	if !cfg.InMemory {
		// Observation chunks (~32 KiB) live in the value log, written once;
		// the LSM tree holds keys and small values only, so flushes and
		// compactions stay small and so does memory.
		opts = opts.WithValueThreshold(1 << 10)
	}
	if !cfg.Large {
		opts = opts.WithMemTableSize(16 << 20).
			WithNumMemtables(2).
			WithBlockCacheSize(32 << 20).
			WithIndexCacheSize(16 << 20).
			WithValueLogFileSize(64 << 20).
			WithNumCompactors(2).
			WithNumLevelZeroTables(3).
			WithNumLevelZeroTablesStall(8)
	}
	if len(cfg.EncryptionKey) > 0 {
		opts = opts.WithEncryptionKey(cfg.EncryptionKey).
			WithEncryptionKeyRotationDuration(30 * 24 * time.Hour)
		if opts.IndexCacheSize == 0 {
			opts = opts.WithIndexCacheSize(64 << 20) // required with encryption
		}
	}
	bdb, err := badger.Open(opts)
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", cfg.Dir, err)
	}
	db := &DB{cfg: cfg, log: log, bdb: bdb, measures: map[string]bool{}}
	db.pseudoPool.New = func() any { return hmac.New(sha256.New, cfg.PseudonymKey) }
	if err := db.loadMeasures(); err != nil {
		bdb.Close()
		return nil, err
	}
	if err := db.recover(); err != nil {
		bdb.Close()
		return nil, err
	}
	return db, nil
}

// Close flushes and closes the store. It is safe to call more than once.
func (db *DB) Close() error {
	db.closeOnce.Do(func() {
		db.importMu.Lock()
		defer db.importMu.Unlock()
		db.closeErr = db.bdb.Close()
	})
	return db.closeErr
}

// Pseudonym returns the subject's pseudonym under this node's secret.
func (db *DB) Pseudonym(subject string) kpi.Pseudonym {
	h := db.pseudoPool.Get().(hash.Hash)
	h.Reset()
	h.Write([]byte(subject))
	var sum [sha256.Size]byte
	var p kpi.Pseudonym
	copy(p[:], h.Sum(sum[:0]))
	db.pseudoPool.Put(h)
	return p
}

// Generation changes whenever an import may have changed what Scan
// sees (a commit, or a refused import undone), so that a result computed
// over the records can be kept until it does. It starts anew with each
// Open.
func (db *DB) Generation() uint64 { return db.generation.Load() }

// Sync makes every write so far durable.
func (db *DB) Sync() error { return db.bdb.Sync() }

type badgerLogger struct{ log *slog.Logger }

func (l badgerLogger) Errorf(f string, a ...any)   { l.log.Error(fmt.Sprintf(f, a...)) }
func (l badgerLogger) Warningf(f string, a ...any) { l.log.Warn(fmt.Sprintf(f, a...)) }
func (l badgerLogger) Infof(f string, a ...any)    { l.log.Debug(fmt.Sprintf(f, a...)) }
func (l badgerLogger) Debugf(f string, a ...any)   {}

// CollectGarbage reclaims value-log space left by undone imports and
// replaced records. The daemon calls it now and then; it is safe to call
// at any time.
func (db *DB) CollectGarbage() error {
	for i := 0; i < 16; i++ { // each call rewrites at most one file
		err := db.bdb.RunValueLogGC(0.5)
		if errors.Is(err, badger.ErrNoRewrite) || errors.Is(err, badger.ErrRejected) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("store: value log GC: %w", err)
		}
	}
	return nil
}

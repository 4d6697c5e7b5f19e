package store

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"strings"
	"time"

	badger "github.com/dgraph-io/badger/v4"

	"github.com/cxnet/cxnet/kpi"
)

// RecordSource yields the records of an import; Next returns io.EOF at
// the end. ingest's readers satisfy it.
type RecordSource interface {
	Next(rec *kpi.Record) error
}

// ImportOptions tune one import.
type ImportOptions struct {
	// Source names the import in the batch log ("visits.csv, more.csv").
	Source string
	// Replace lets a record id that is already stored be overwritten.
	Replace bool
	// DryRun checks everything and writes nothing.
	DryRun bool
}

// ImportSummary tells what an import did (or, for a dry run, would do).
type ImportSummary struct {
	Batch    uint64           `json:"batch,omitempty"`
	Records  int64            `json:"records"`
	Replaced int64            `json:"replaced"`
	Measures map[string]int64 `json:"measures"`
	DryRun   bool             `json:"dry_run"`
	Elapsed  time.Duration    `json:"elapsed_ns"`
}

// RecordError is a record the store refuses: a duplicate record id, or a
// field the store cannot keep.
type RecordError struct {
	Pos   kpi.Position
	Field string
	Msg   string
}

func (e *RecordError) Error() string {
	return fmt.Sprintf("%s: field %s: %s", e.Pos, e.Field, e.Msg)
}

// ErrImportRunning is returned when another import holds the store.
var ErrImportRunning = errors.New("store: another import is running; wait for it to finish")

type batchState string

const (
	batchStaging   batchState = "staging"
	batchCommitted batchState = "committed"
)

type batchMeta struct {
	Batch     uint64     `json:"batch"`
	State     batchState `json:"state"`
	Source    string     `json:"source"`
	Started   time.Time  `json:"started"`
	Committed time.Time  `json:"committed,omitzero"`
	Records   int64      `json:"records"`
	Replaced  int64      `json:"replaced"`
}

// Import stores every record of src as one atomic unit: when Import
// returns an error — a bad record, a duplicate, a cancelled context — or
// the process dies before it returns, the store is left as it was.
func (db *DB) Import(ctx context.Context, src RecordSource, opt ImportOptions) (ImportSummary, error) {
	if !db.importMu.TryLock() {
		return ImportSummary{}, ErrImportRunning
	}
	defer db.importMu.Unlock()
	start := db.cfg.Now()
	im := newImporter(db, opt)
	if !opt.DryRun {
		if err := im.begin(start); err != nil {
			return ImportSummary{}, err
		}
	}
	err := im.run(ctx, src)
	if err == nil && !opt.DryRun {
		err = im.commit()
	}
	if err != nil || opt.DryRun {
		if im.batch != 0 {
			if uerr := db.undo(im.batch); uerr != nil {
				return ImportSummary{}, errors.Join(err, fmt.Errorf("store: undo import: %w (the next start will finish undoing it)", uerr))
			}
		}
		if err != nil {
			return ImportSummary{}, err
		}
	}
	im.sum.Elapsed = db.cfg.Now().Sub(start)
	return im.sum, nil
}

type firstSeen struct {
	line uint32
	file uint16
}

type importer struct {
	db    *DB
	opt   ImportOptions
	batch uint64
	wb    *badger.WriteBatch
	rtxn  *badger.Txn
	meta  batchMeta

	seeds [2]maphash.Seed
	seen  map[[2]uint64]firstSeen // record ids of this import, 128-bit fingerprints
	files map[string]uint16
	names []string

	key, val []byte
	sum      ImportSummary
}

func newImporter(db *DB, opt ImportOptions) *importer {
	return &importer{db: db, opt: opt, seen: map[[2]uint64]firstSeen{}, files: map[string]uint16{},
		seeds: [2]maphash.Seed{maphash.MakeSeed(), maphash.MakeSeed()},
		sum:   ImportSummary{Measures: map[string]int64{}, DryRun: opt.DryRun}}
}

func (im *importer) begin(now time.Time) error {
	db := im.db
	err := db.bdb.Update(func(txn *badger.Txn) error {
		var last uint64
		switch item, err := txn.Get(keyLastBatch); {
		case err == nil:
			if err := item.Value(func(v []byte) error {
				if len(v) != 8 {
					return errors.New("store: corrupt batch counter")
				}
				last = binary.BigEndian.Uint64(v)
				return nil
			}); err != nil {
				return err
			}
		case !errors.Is(err, badger.ErrKeyNotFound):
			return err
		}
		im.batch = last + 1
		im.meta = batchMeta{Batch: im.batch, State: batchStaging, Source: im.opt.Source, Started: now.UTC()}
		mv, err := json.Marshal(im.meta)
		if err != nil {
			return err
		}
		if err := txn.Set(keyLastBatch, binary.BigEndian.AppendUint64(nil, im.batch)); err != nil {
			return err
		}
		return txn.Set(batchKey(im.batch), mv)
	})
	if err != nil {
		im.batch = 0
		return fmt.Errorf("store: begin import: %w", err)
	}
	// The staging marker must be durable before any data, so that a crash
	// leaves something recover() can find and undo.
	if err := db.bdb.Sync(); err != nil {
		return fmt.Errorf("store: begin import: %w", err)
	}
	db.mu.Lock()
	db.inflight = im.batch
	db.mu.Unlock()
	im.wb = db.bdb.NewWriteBatch()
	return nil
}

func (im *importer) run(ctx context.Context, src RecordSource) error {
	defer func() {
		if im.rtxn != nil {
			im.rtxn.Discard()
		}
	}()
	var rec kpi.Record
	var seq uint32
	for {
		if seq%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("store: import cancelled after %d records: %w", seq, err)
			}
			// A read snapshot per few thousand records: fresh enough, cheap.
			if seq%(1<<17) == 0 {
				if im.rtxn != nil {
					im.rtxn.Discard()
				}
				im.rtxn = im.db.bdb.NewTransaction(false)
			}
		}
		err := src.Next(&rec)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		seq++
		if err := im.add(&rec, seq); err != nil {
			return err
		}
	}
}

func (im *importer) add(rec *kpi.Record, seq uint32) error {
	if err := checkRecord(rec); err != nil {
		return err
	}
	if err := im.checkUnique(rec); err != nil {
		return err
	}
	loc := recordLoc{batch: im.batch, seq: seq, measure: rec.Measure}
	// Already stored?
	im.key = appendRecordKey(im.key[:0], rec.ID)
	replace := false
	switch item, err := im.rtxn.Get(im.key); {
	case err == nil:
		var old recordLoc
		if err := item.Value(func(v []byte) (err error) { old, err = parseRecordLoc(v); return err }); err != nil {
			return err
		}
		if !im.opt.Replace {
			return &RecordError{Pos: rec.Pos, Field: "record_id",
				Msg: fmt.Sprintf("%q is already stored (import batch %d); record ids are unique per node: give it a new id, or pass --replace to overwrite it", trunc(rec.ID), old.batch)}
		}
		replace = true
		if !im.opt.DryRun {
			im.val = appendPendingKey(im.val[:0], im.batch, rec.ID)
			// r/<id> keeps pointing at the old record until the batch
			// commits; the pending entry holds the new location.
			if err := im.wb.Set(append([]byte(nil), im.val...), loc.appendTo(nil)); err != nil {
				return err
			}
		}
		im.sum.Replaced++
	case !errors.Is(err, badger.ErrKeyNotFound):
		return err
	}
	im.sum.Records++
	im.sum.Measures[rec.Measure]++
	if im.opt.DryRun {
		return nil
	}
	if !replace {
		if err := im.wb.Set(append([]byte(nil), im.key...), loc.appendTo(nil)); err != nil {
			return err
		}
	}
	if err := im.db.noteMeasure(rec.Measure); err != nil {
		return err
	}
	k := appendObsKey(make([]byte, 0, len(prefixObs)+len(rec.Measure)+13), rec.Measure, im.batch, seq)
	v := appendObs(make([]byte, 0, 64+len(rec.ID)+16*len(rec.Dims)), rec, im.db.Pseudonym(rec.Subject))
	return im.wb.Set(k, v)
}

// checkUnique refuses a record id seen earlier in this import. The set
// keeps a 128-bit fingerprint per record (about 40 bytes each), not the ids.
func (im *importer) checkUnique(rec *kpi.Record) error {
	fp := [2]uint64{maphash.String(im.seeds[0], rec.ID), maphash.String(im.seeds[1], rec.ID)}
	if first, dup := im.seen[fp]; dup {
		return &RecordError{Pos: rec.Pos, Field: "record_id",
			Msg: fmt.Sprintf("%q appears twice in this import (first at %s:%d); record ids must be unique", trunc(rec.ID), im.names[first.file], first.line)}
	}
	fi, ok := im.files[rec.Pos.File]
	if !ok {
		fi = uint16(len(im.names))
		im.files[rec.Pos.File] = fi
		im.names = append(im.names, rec.Pos.File)
	}
	line := rec.Pos.Line
	if line == 0 {
		line = rec.Pos.Record
	}
	im.seen[fp] = firstSeen{line: uint32(line), file: fi}
	return nil
}

func checkRecord(rec *kpi.Record) error {
	bad := func(field, msg string) error { return &RecordError{Pos: rec.Pos, Field: field, Msg: msg} }
	switch {
	case rec.ID == "":
		return bad("record_id", "is empty; every record needs a unique id")
	case rec.Subject == "":
		return bad("subject", "is empty; every record needs a subject")
	case rec.Measure == "":
		return bad("measure", "is empty; name the measure (e.g. nps)")
	case strings.IndexByte(rec.Measure, 0) >= 0:
		return bad("measure", "contains a NUL byte")
	case len(rec.ID) > 1024:
		return bad("record_id", "is longer than 1024 bytes")
	}
	return nil
}

func trunc(s string) string {
	if len(s) > 40 {
		return s[:37] + "..."
	}
	return s
}

// commit makes the batch visible: data durable first, then the marker,
// then replaced records removed — all before readers can see the batch.
func (im *importer) commit() error {
	db := im.db
	if err := im.wb.Flush(); err != nil {
		return fmt.Errorf("store: import: %w", err)
	}
	if err := db.bdb.Sync(); err != nil {
		return fmt.Errorf("store: import: %w", err)
	}
	db.mu.Lock()
	defer db.mu.Unlock()
	im.meta.State = batchCommitted
	im.meta.Committed = db.cfg.Now().UTC()
	im.meta.Records = im.sum.Records
	im.meta.Replaced = im.sum.Replaced
	mv, err := json.Marshal(im.meta)
	if err != nil {
		return err
	}
	if err := db.bdb.Update(func(txn *badger.Txn) error { return txn.Set(batchKey(im.batch), mv) }); err != nil {
		return fmt.Errorf("store: commit import: %w", err)
	}
	if err := db.bdb.Sync(); err != nil {
		return fmt.Errorf("store: commit import: %w", err)
	}
	// From here on the import has happened; finishing the replacements is
	// redone by recover() if we die now.
	b := im.batch
	im.batch = 0
	db.inflight = 0
	im.sum.Batch = b
	if err := db.applyReplacements(b); err != nil {
		return fmt.Errorf("store: import committed, but removing replaced records failed (the next start finishes it): %w", err)
	}
	return nil
}

// noteMeasure records that measure has records, durably, the first time.
func (db *DB) noteMeasure(m string) error {
	db.measuresMu.Lock()
	defer db.measuresMu.Unlock()
	if db.measures[m] {
		return nil
	}
	if err := db.bdb.Update(func(txn *badger.Txn) error { return txn.Set(measureKey(m), nil) }); err != nil {
		return err
	}
	if err := db.bdb.Sync(); err != nil {
		return err
	}
	db.measures[m] = true
	return nil
}

package store

import (
	"cmp"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"slices"
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
	// Measures lists the batch's measures; fingerprints name them by index.
	Measures []string `json:"measures"`
}

// Import stores every record of src as one atomic unit: when Import
// returns an error — a bad record, a duplicate, a cancelled context — or
// the process dies before it returns, the store is left as it was.
//
// Records are staged in chunks under a batch number that readers do not
// see; record ids are checked for uniqueness at the end by sorting their
// fingerprints and merging them with each earlier batch's sorted
// fingerprints (matches are confirmed against the stored id). The batch
// becomes visible with one small synced write.
//
// A record that breaks the record rules (kpi.Record.Check) or repeats a
// record id is refused with a *kpi.InputError naming its position.
func (db *DB) Import(ctx context.Context, src RecordSource, opt ImportOptions) (ImportSummary, error) {
	if !db.importMu.TryLock() {
		return ImportSummary{}, ErrImportRunning
	}
	defer db.importMu.Unlock()
	defer db.generation.Add(1)
	start := db.cfg.Now()
	im := newImporter(db, opt)
	err := im.begin(start)
	if err == nil {
		err = im.run(ctx, src)
	}
	if err == nil {
		err = im.finish(ctx)
	}
	if err == nil && !opt.DryRun {
		err = im.commit()
	}
	if err != nil || opt.DryRun {
		if im.batch != 0 && !opt.DryRun {
			im.wb.Cancel()
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

// entry is one record of the import as the uniqueness check sees it.
type entry struct {
	fp    uint64 // fingerprint(id), stable, persisted
	fp2   uint64 // a second, per-import hash: fp and fp2 together identify the id
	chunk uint32
	mi    uint16 // measure index in this batch
	slot  uint16
	line  uint32
	file  uint16
}

type chunkBuilder struct {
	measure string
	chunk   uint32
	slots   uint16
	buf     []byte
}

type importer struct {
	db    *DB
	opt   ImportOptions
	batch uint64
	wb    *badger.WriteBatch
	meta  batchMeta

	seed     maphash.Seed
	entries  []entry
	builders []*chunkBuilder
	mi       map[string]uint16
	files    map[string]uint16
	names    []string

	obs    []byte
	staged int // chunk bytes handed to wb since its last flush
	sum    ImportSummary
}

// stageLimit bounds the chunk bytes a write batch holds before it is
// flushed: Badger sizes its transactions by key and value pointer, not by
// the values that go to the value log, so it would otherwise keep every
// chunk of an import in memory until the end.
const stageLimit = 8 << 20

func newImporter(db *DB, opt ImportOptions) *importer {
	return &importer{db: db, opt: opt, seed: maphash.MakeSeed(),
		mi: map[string]uint16{}, files: map[string]uint16{},
		sum: ImportSummary{Measures: map[string]int64{}, DryRun: opt.DryRun}}
}

func (im *importer) begin(now time.Time) error {
	db := im.db
	im.meta = batchMeta{State: batchStaging, Source: im.opt.Source, Started: now.UTC()}
	if im.opt.DryRun {
		return nil
	}
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
		im.meta.Batch = im.batch
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
	var rec kpi.Record
	for n := 0; ; n++ {
		if n%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("store: import cancelled after %d records: %w", n, err)
			}
		}
		err := src.Next(&rec)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if err := im.add(&rec); err != nil {
			return err
		}
	}
}

func (im *importer) add(rec *kpi.Record) error {
	if err := rec.Check(); err != nil {
		return err
	}
	mi, ok := im.mi[rec.Measure]
	if !ok {
		if len(im.builders) == 1<<16-1 {
			return &kpi.InputError{Pos: rec.Pos, Field: "measure", Msg: "more than 65535 measures in one import; split the file"}
		}
		if !im.opt.DryRun {
			if err := im.db.noteMeasure(rec.Measure); err != nil {
				return err
			}
		}
		mi = uint16(len(im.builders))
		im.mi[rec.Measure] = mi
		im.builders = append(im.builders, &chunkBuilder{measure: rec.Measure})
		im.meta.Measures = append(im.meta.Measures, rec.Measure)
	}
	cb := im.builders[mi]
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
	im.entries = append(im.entries, entry{
		fp: fingerprint(rec.ID), fp2: maphash.String(im.seed, rec.ID),
		chunk: cb.chunk, mi: mi, slot: cb.slots, line: uint32(line), file: fi,
	})
	im.sum.Records++
	im.sum.Measures[rec.Measure]++
	cb.slots++
	if im.opt.DryRun {
		if cb.slots == maxChunkSlots {
			cb.chunk, cb.slots = cb.chunk+1, 0
		}
		return nil
	}
	if cb.buf == nil {
		cb.buf = append(make([]byte, 0, maxChunkBytes/2), chunkVersion)
	}
	im.obs = appendObs(im.obs[:0], rec, im.db.Pseudonym(rec.Subject))
	cb.buf = appendSlot(cb.buf, im.obs)
	if cb.slots == maxChunkSlots || len(cb.buf) >= maxChunkBytes {
		return im.flushChunk(cb)
	}
	return nil
}

func (im *importer) flushChunk(cb *chunkBuilder) error {
	if cb.slots == 0 || im.opt.DryRun {
		return nil
	}
	if err := im.wb.Set(chunkKey(cb.measure, im.batch, cb.chunk), cb.buf); err != nil {
		return fmt.Errorf("store: import: %w", err)
	}
	im.staged += len(cb.buf)
	cb.buf = nil // the write batch owns it now
	if im.staged >= stageLimit {
		if err := im.wb.Flush(); err != nil {
			return fmt.Errorf("store: import: %w", err)
		}
		im.wb = im.db.bdb.NewWriteBatch()
		im.staged = 0
	}
	cb.chunk, cb.slots = cb.chunk+1, 0
	return nil
}

func trunc(s string) string {
	if len(s) > 40 {
		return s[:37] + "..."
	}
	return s
}

func (im *importer) pos(e entry) kpi.Position {
	return kpi.Position{File: im.names[e.file], Line: int64(e.line)}
}

// before orders entries by where they are in the input.
func before(a, b entry) bool { return a.file < b.file || (a.file == b.file && a.line < b.line) }

// finish flushes the staged chunks, checks record-id uniqueness within the
// import and against every committed batch, and writes the batch's sorted
// fingerprints.
func (im *importer) finish(ctx context.Context) error {
	for _, cb := range im.builders {
		if err := im.flushChunk(cb); err != nil {
			return err
		}
	}
	slices.SortFunc(im.entries, func(a, b entry) int {
		if c := cmp.Compare(a.fp, b.fp); c != 0 {
			return c
		}
		if c := cmp.Compare(a.fp2, b.fp2); c != 0 {
			return c
		}
		if before(a, b) {
			return -1
		}
		return 1
	})
	// Within the import: equal (fp, fp2) pairs are the same id. Report the
	// duplicate that comes first in the input.
	var dup *entry
	var first entry
	for i := 1; i < len(im.entries); i++ {
		a, b := im.entries[i-1], im.entries[i]
		if a.fp == b.fp && a.fp2 == b.fp2 && (dup == nil || before(b, *dup)) {
			dup, first = &im.entries[i], a
		}
	}
	if dup != nil {
		fp := im.pos(first)
		return &kpi.InputError{Pos: im.pos(*dup), Field: "record_id",
			Msg: fmt.Sprintf("the same record_id is already at %s:%d in this import; record ids must be unique", fp.File, fp.Line)}
	}
	if err := im.checkStored(ctx); err != nil {
		return err
	}
	if im.opt.DryRun {
		return nil
	}
	const perPart = 4096
	for part := 0; part*perPart < len(im.entries); part++ {
		es := im.entries[part*perPart : min((part+1)*perPart, len(im.entries))]
		v := make([]byte, 0, len(es)*fingerprintSize)
		for _, e := range es {
			v = binary.BigEndian.AppendUint64(v, e.fp)
			v = binary.BigEndian.AppendUint16(v, e.mi)
			v = binary.BigEndian.AppendUint32(v, e.chunk)
			v = binary.BigEndian.AppendUint16(v, e.slot)
		}
		if err := im.wb.Set(fingerPartKey(im.batch, uint32(part)), v); err != nil {
			return err
		}
	}
	return nil
}

// checkStored merges the import's sorted fingerprints with each committed
// batch's and confirms every match against the stored record id. Without
// Replace a confirmed match refuses the import; with it, the old record is
// noted for removal when the batch commits.
func (im *importer) checkStored(ctx context.Context) error {
	if len(im.entries) == 0 {
		return nil
	}
	batches, err := im.db.committedBatches()
	if err != nil {
		return err
	}
	var dup *entry
	var dupMsg string
	var replaced uint32
	ids := newIDCache(im.db)
	for _, b := range batches {
		if err := ctx.Err(); err != nil {
			return err
		}
		i := 0
		err := im.db.eachFingerprint(b.Batch, func(fp uint64, mi uint16, chunk uint32, slot uint16) error {
			for i < len(im.entries) && im.entries[i].fp < fp {
				i++
			}
			for j := i; j < len(im.entries) && im.entries[j].fp == fp; j++ {
				e := im.entries[j]
				if int(mi) >= len(b.Measures) {
					return fmt.Errorf("store: batch %d: fingerprint names measure %d of %d", b.Batch, mi, len(b.Measures))
				}
				ck := chunkKey(b.Measures[mi], b.Batch, chunk)
				id, live, err := ids.get(ck, slot)
				if err != nil {
					return err
				}
				if !live || maphash.String(im.seed, id) != e.fp2 || fingerprint(id) != fp {
					continue // removed earlier, or a fingerprint collision
				}
				if !im.opt.Replace {
					if dup == nil || before(e, *dup) {
						dup = &im.entries[j]
						dupMsg = fmt.Sprintf("%q is already stored (import batch %d, %s); record ids are unique per node: give it a new id, or pass --replace to overwrite it",
							trunc(id), b.Batch, b.Committed.Format("2006-01-02 15:04"))
					}
					continue
				}
				im.sum.Replaced++
				if !im.opt.DryRun {
					if err := im.wb.Set(replaceKey(im.batch, replaced), appendSlotRef(nil, ck, slot)); err != nil {
						return err
					}
				}
				replaced++
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	if dup != nil {
		return &kpi.InputError{Pos: im.pos(*dup), Field: "record_id", Msg: dupMsg}
	}
	return nil
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
	// From here on the import has happened; removing what it replaced is
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

// batches lists every batch's meta in order.
func (db *DB) batches() ([]batchMeta, error) {
	var out []batchMeta
	err := db.bdb.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefixBatch, PrefetchValues: true})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			var m batchMeta
			if err := it.Item().Value(func(v []byte) error { return json.Unmarshal(v, &m) }); err != nil {
				return fmt.Errorf("batch %x: %w", it.Item().Key(), err)
			}
			out = append(out, m)
		}
		return nil
	})
	return out, err
}

// committedBatches lists the committed batches in order.
func (db *DB) committedBatches() ([]batchMeta, error) {
	all, err := db.batches()
	return slices.DeleteFunc(all, func(m batchMeta) bool { return m.State != batchCommitted }), err
}

// eachFingerprint streams batch b's fingerprints in sorted order.
func (db *DB) eachFingerprint(b uint64, fn func(fp uint64, mi uint16, chunk uint32, slot uint16) error) error {
	return db.bdb.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: batchPrefix(prefixFinger, b), PrefetchValues: true, PrefetchSize: 16})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			err := it.Item().Value(func(v []byte) error {
				if len(v)%fingerprintSize != 0 {
					return errors.New("store: corrupt fingerprint part")
				}
				for ; len(v) > 0; v = v[fingerprintSize:] {
					if err := fn(binary.BigEndian.Uint64(v), binary.BigEndian.Uint16(v[8:]),
						binary.BigEndian.Uint32(v[10:]), binary.BigEndian.Uint16(v[14:])); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
}

// idCache reads record ids of stored chunks, keeping recent chunks decoded.
type idCache struct {
	db     *DB
	chunks map[string][]string // chunk key -> id per slot ("" for a blank slot)
}

func newIDCache(db *DB) *idCache { return &idCache{db: db, chunks: map[string][]string{}} }

func (c *idCache) get(chunk []byte, slot uint16) (id string, live bool, err error) {
	ids, ok := c.chunks[string(chunk)]
	if !ok {
		err = c.db.bdb.View(func(txn *badger.Txn) error {
			item, err := txn.Get(chunk)
			if errors.Is(err, badger.ErrKeyNotFound) {
				return nil
			}
			if err != nil {
				return err
			}
			return item.Value(func(v []byte) error {
				return eachSlot(v, func(_ int, obs []byte) error {
					if len(obs) == 0 {
						ids = append(ids, "")
						return nil
					}
					id, err := recordIDOf(obs)
					ids = append(ids, id)
					return err
				})
			})
		})
		if err != nil {
			return "", false, err
		}
		if len(c.chunks) > 4096 {
			clear(c.chunks)
		}
		c.chunks[string(chunk)] = ids
	}
	if int(slot) >= len(ids) || ids[slot] == "" {
		return "", false, nil
	}
	return ids[slot], true, nil
}

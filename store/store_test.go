package store

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	badger "github.com/dgraph-io/badger/v4"

	"github.com/cxnet/cxnet/kpi"
)

func testKey(n int) []byte {
	k := make([]byte, n)
	rand.Read(k)
	return k
}

func openMem(t *testing.T) *DB {
	t.Helper()
	db, err := Open(Config{InMemory: true, Insecure: true, PseudonymKey: testKey(32)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// sliceSource yields records, then failAt's error if set.
type sliceSource struct {
	recs   []kpi.Record
	i      int
	failAt int
	err    error
}

func (s *sliceSource) Next(rec *kpi.Record) error {
	if s.err != nil && s.i == s.failAt {
		return s.err
	}
	if s.i >= len(s.recs) {
		return io.EOF
	}
	*rec = s.recs[s.i]
	s.i++
	return nil
}

func records(n int, prefix, measure string) []kpi.Record {
	out := make([]kpi.Record, n)
	base := time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC)
	for i := range out {
		out[i] = kpi.Record{
			ID:      fmt.Sprintf("%s%06d", prefix, i),
			Subject: fmt.Sprintf("patient-secret-%d", i%97),
			Measure: measure,
			Value:   kpi.DecimalFromInt(int64(i % 11)),
			Time:    base.Add(time.Duration(i) * time.Hour),
			Dims:    []kpi.Dim{{Name: "care_setting", Value: []string{"inpatient", "outpatient"}[i%2]}},
			Pos:     kpi.Position{File: "in.csv", Line: int64(i + 2), Record: int64(i + 1)},
		}
	}
	return out
}

// dump returns every key and value in the store, to compare states.
func dump(t *testing.T, db *DB) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := db.bdb.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.DefaultIteratorOptions)
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			v, err := it.Item().ValueCopy(nil)
			if err != nil {
				return err
			}
			out[string(it.Item().Key())] = string(v)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func requireSameDump(t *testing.T, before, after map[string]string) {
	t.Helper()
	for k, v := range before {
		if after[k] != v {
			t.Errorf("key %q changed or vanished", k)
		}
	}
	for k := range after {
		if _, ok := before[k]; !ok {
			t.Errorf("key %q appeared", k)
		}
	}
}

func scanAll(t *testing.T, db *DB, measure string) []kpi.Observation {
	t.Helper()
	var out []kpi.Observation
	err := db.Scan(context.Background(), measure, AllDays, func(o *kpi.Observation) error {
		c := *o
		c.Dims = append([]kpi.Dim(nil), o.Dims...)
		out = append(out, c)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func mustImport(t *testing.T, db *DB, recs []kpi.Record, opt ImportOptions) ImportSummary {
	t.Helper()
	sum, err := db.Import(context.Background(), &sliceSource{recs: recs}, opt)
	if err != nil {
		t.Fatal(err)
	}
	return sum
}

func TestImportScan(t *testing.T) {
	db := openMem(t)
	recs := records(1000, "r", "nps")
	sum := mustImport(t, db, recs, ImportOptions{Source: "in.csv"})
	if sum.Records != 1000 || sum.Measures["nps"] != 1000 || sum.Batch != 1 {
		t.Fatalf("summary = %+v", sum)
	}
	got := scanAll(t, db, "nps")
	if len(got) != 1000 {
		t.Fatalf("scanned %d observations, want 1000", len(got))
	}
	for i, o := range got {
		r := recs[i]
		if o.Value != r.Value || o.Unix != r.Time.Unix() || o.Day != kpi.DayOf(r.Time) ||
			o.Subject != db.Pseudonym(r.Subject) || len(o.Dims) != 1 || o.Dims[0] != r.Dims[0] {
			t.Fatalf("observation %d = %+v, from record %+v", i, o, r)
		}
	}
	if m := db.Measures(); len(m) != 1 || m[0] != "nps" {
		t.Fatalf("Measures() = %v", m)
	}
}

// TestGenerationMovesWithImports: a committed import, a refused one and a
// dry run each move the generation (what Scan sees may have changed);
// scans and secrets do not.
func TestGenerationMovesWithImports(t *testing.T) {
	db := openMem(t)
	g := db.Generation()
	mustImport(t, db, records(10, "a", "nps"), ImportOptions{})
	if db.Generation() == g {
		t.Fatal("a committed import left the generation")
	}
	g = db.Generation()
	scanAll(t, db, "nps")
	if err := db.PutSecret(1, "x", []byte("y")); err != nil {
		t.Fatal(err)
	}
	if db.Generation() != g {
		t.Fatal("a scan or a secret moved the generation")
	}
	mustImport(t, db, records(10, "b", "nps"), ImportOptions{DryRun: true})
	if db.Generation() == g {
		t.Fatal("a dry run left the generation (it may have undone a batch)")
	}
}

func TestScanDayWindowAndLocalDate(t *testing.T) {
	db := openMem(t)
	cet := time.FixedZone("", 3600)
	recs := []kpi.Record{
		// 00:30 local on 1 March is still 28 Feb in UTC: the local date counts.
		{ID: "a", Subject: "s", Measure: "wait", Value: kpi.DecimalFromInt(1), Time: time.Date(2026, 3, 1, 0, 30, 0, 0, cet)},
		{ID: "b", Subject: "s", Measure: "wait", Value: kpi.DecimalFromInt(2), Time: time.Date(2026, 2, 28, 23, 0, 0, 0, time.UTC)},
		{ID: "c", Subject: "s", Measure: "wait", Value: kpi.DecimalFromInt(3), Time: time.Date(1969, 12, 31, 23, 0, 0, 0, time.UTC)},
	}
	mustImport(t, db, recs, ImportOptions{})
	march := kpi.DayOf(time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC))
	var vals []int64
	db.Scan(context.Background(), "wait", [2]int32{march, march}, func(o *kpi.Observation) error {
		vals = append(vals, o.Value.Mantissa)
		return nil
	})
	if len(vals) != 1 || vals[0] != 1 {
		t.Fatalf("1 March holds %v, want [1]", vals)
	}
	all := scanAll(t, db, "wait")
	if all[2].Day != -1 {
		t.Fatalf("day of 1969-12-31 = %d, want -1", all[2].Day)
	}
}

func TestImportRefusesAndLeavesStoreUnchanged(t *testing.T) {
	boom := errors.New("data.csv:501: field value: \"x\" is not a number")
	tests := []struct {
		name    string
		src     func() RecordSource
		opt     ImportOptions
		wantErr string
	}{
		{"duplicate in file", func() RecordSource {
			recs := records(600, "n", "nps")
			recs[550].ID = recs[20].ID
			return &sliceSource{recs: recs}
		}, ImportOptions{}, `in.csv:552: field record_id: the same record_id is already at in.csv:22 in this import`},
		{"already stored", func() RecordSource {
			return &sliceSource{recs: append(records(600, "n", "nps"), records(1, "r", "nps")...)}
		}, ImportOptions{}, `in.csv:2: field record_id: "r000000" is already stored`},
		{"source error midway", func() RecordSource {
			return &sliceSource{recs: records(1000, "n", "prem"), failAt: 500, err: boom}
		}, ImportOptions{}, boom.Error()},
		{"empty subject", func() RecordSource {
			recs := records(10, "n", "nps")
			recs[7].Subject = ""
			return &sliceSource{recs: recs}
		}, ImportOptions{}, "in.csv:9: field subject: is empty"},
		{"replace, then fail", func() RecordSource {
			return &sliceSource{recs: records(100, "r", "nps"), failAt: 60, err: boom}
		}, ImportOptions{Replace: true}, boom.Error()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db := openMem(t)
			mustImport(t, db, records(100, "r", "nps"), ImportOptions{})
			before := dump(t, db)
			_, err := db.Import(context.Background(), tt.src(), tt.opt)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("error = %v, want it to contain %q", err, tt.wantErr)
			}
			requireSameDump(t, before, dump(t, db))
			if n := len(scanAll(t, db, "nps")); n != 100 {
				t.Fatalf("%d observations visible, want 100", n)
			}
			// The store still takes a good import afterwards.
			mustImport(t, db, records(10, "z", "nps"), ImportOptions{})
		})
	}
}

func TestImportCancelled(t *testing.T) {
	db := openMem(t)
	before := dump(t, db)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := db.Import(ctx, &sliceSource{recs: records(10000, "r", "nps")}, ImportOptions{})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error = %v, want context.Canceled", err)
	}
	requireSameDump(t, before, dump(t, db))
}

func TestReplace(t *testing.T) {
	db := openMem(t)
	mustImport(t, db, records(100, "r", "nps"), ImportOptions{})
	again := records(10, "r", "nps")
	for i := range again {
		again[i].Value = kpi.DecimalFromInt(100)
	}
	// One replacement moves the record to another measure.
	again[9].Measure = "prem"
	sum := mustImport(t, db, again, ImportOptions{Replace: true})
	if sum.Replaced != 10 || sum.Records != 10 {
		t.Fatalf("summary = %+v", sum)
	}
	nps := scanAll(t, db, "nps")
	if len(nps) != 99 {
		t.Fatalf("%d nps observations after replace, want 99", len(nps))
	}
	hundreds := 0
	for _, o := range nps {
		if o.Value.Mantissa == 100 {
			hundreds++
		}
	}
	if hundreds != 9 {
		t.Fatalf("%d replaced values, want 9", hundreds)
	}
	if prem := scanAll(t, db, "prem"); len(prem) != 1 {
		t.Fatalf("%d prem observations, want 1", len(prem))
	}
	// Replacing once more still works: the index follows the new records.
	mustImport(t, db, again[:3], ImportOptions{Replace: true})
	if n := len(scanAll(t, db, "nps")); n != 99 {
		t.Fatalf("%d nps observations after second replace, want 99", n)
	}
}

func TestDryRunWritesNothing(t *testing.T) {
	db := openMem(t)
	mustImport(t, db, records(10, "r", "nps"), ImportOptions{})
	before := dump(t, db)
	sum := mustImport(t, db, records(50, "d", "prem"), ImportOptions{DryRun: true})
	if !sum.DryRun || sum.Records != 50 {
		t.Fatalf("summary = %+v", sum)
	}
	requireSameDump(t, before, dump(t, db))
	_, err := db.Import(context.Background(), &sliceSource{recs: records(5, "r", "nps")}, ImportOptions{DryRun: true})
	var re *kpi.InputError
	if !errors.As(err, &re) || re.Field != "record_id" {
		t.Fatalf("dry run of a duplicate: error = %v", err)
	}
}

func TestImportsAreSerialised(t *testing.T) {
	db := openMem(t)
	db.importMu.Lock()
	_, err := db.Import(context.Background(), &sliceSource{}, ImportOptions{})
	db.importMu.Unlock()
	if !errors.Is(err, ErrImportRunning) {
		t.Fatalf("error = %v, want ErrImportRunning", err)
	}
}

// TestCrashMidImport stages part of an import, then closes Badger
// underneath it as a killed process would, and reopens.
func TestCrashMidImport(t *testing.T) {
	db, cfg := openDiskWith100(t)
	before := dump(t, db)

	im := newImporter(db, ImportOptions{Replace: true})
	if err := im.begin(time.Now()); err != nil {
		t.Fatal(err)
	}
	src := &sliceSource{recs: append(records(50, "r", "nps"), records(5000, "c", "prem")...), failAt: 3000, err: errors.New("killed")}
	if err := im.run(context.Background(), src); err == nil {
		t.Fatal("want the source's error")
	}
	im.wb.Flush() // some staged data reaches disk
	if err := db.bdb.Close(); err != nil {
		t.Fatal(err)
	}

	db, err := Open(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	requireSameDump(t, before, dump(t, db))
	if n := len(scanAll(t, db, "nps")); n != 100 {
		t.Fatalf("%d observations after recovery, want 100", n)
	}
	if m := db.Measures(); len(m) != 1 {
		t.Fatalf("measures after recovery = %v, want [nps]", m)
	}
}

// TestEncryptedAtRest looks for a subject, a record id and a dimension
// value in every file Badger wrote.
func TestEncryptedAtRest(t *testing.T) {
	dir := t.TempDir()
	db, err := Open(Config{Dir: dir, EncryptionKey: testKey(32), PseudonymKey: testKey(32)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	recs := records(2000, "rec-canary-", "nps")
	for i := range recs {
		recs[i].Subject = "subject-canary-" + recs[i].ID
		recs[i].Dims = []kpi.Dim{{Name: "region", Value: "dim-canary"}}
	}
	mustImport(t, db, recs, ImportOptions{})
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*"))
	if len(files) == 0 {
		t.Fatal("no files written")
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, canary := range []string{"subject-canary", "rec-canary", "dim-canary", "nps"} {
			if bytes.Contains(b, []byte(canary)) {
				t.Errorf("%s holds %q in plain text", filepath.Base(f), canary)
			}
		}
	}
}

func TestSubjectNeverStored(t *testing.T) {
	db := openMem(t)
	recs := records(100, "r", "nps")
	mustImport(t, db, recs, ImportOptions{})
	for k, v := range dump(t, db) {
		if strings.Contains(k+v, "patient-secret") {
			t.Fatalf("raw subject stored under %q", k)
		}
	}
}

func TestStats(t *testing.T) {
	db := openMem(t)
	mustImport(t, db, records(100, "r", "nps"), ImportOptions{})
	mustImport(t, db, records(10, "w", "wait"), ImportOptions{})
	st, err := db.Stats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	nps := st.Measures["nps"]
	if st.Records != 110 || st.Batches != 2 || nps == nil || nps.Records != 100 ||
		nps.From != "2026-01-01" || nps.To != "2026-01-05" || nps.Subjects != 97 ||
		nps.Dims["care_setting"]["inpatient"] != 50 {
		t.Fatalf("stats = %+v, nps = %+v", st, nps)
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"no dir", Config{EncryptionKey: testKey(32), PseudonymKey: testKey(32)}, "Dir is empty"},
		{"no key", Config{InMemory: true, PseudonymKey: testKey(32)}, "no encryption key"},
		{"short key", Config{InMemory: true, EncryptionKey: testKey(7), PseudonymKey: testKey(32)}, "7 bytes"},
		{"short pseudonym key", Config{InMemory: true, Insecure: true, PseudonymKey: testKey(8)}, "pseudonym key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Open(tt.cfg, nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error = %v, want %q", err, tt.want)
			}
		})
	}
}

// TestFingerprintCollisions makes every record id collide: uniqueness
// must still be decided on the ids themselves.
func TestFingerprintCollisions(t *testing.T) {
	fingerprint = func(string) uint64 { return 7 }
	defer func() { fingerprint = fnv64a }()
	db := openMem(t)
	mustImport(t, db, records(300, "a", "nps"), ImportOptions{})
	mustImport(t, db, records(300, "b", "nps"), ImportOptions{})
	_, err := db.Import(context.Background(), &sliceSource{recs: records(1, "b", "nps")}, ImportOptions{})
	if err == nil || !strings.Contains(err.Error(), `"b000000" is already stored`) {
		t.Fatalf("duplicate under colliding fingerprints: %v", err)
	}
	sum := mustImport(t, db, records(5, "a", "nps"), ImportOptions{Replace: true})
	if sum.Replaced != 5 {
		t.Fatalf("replaced %d, want 5", sum.Replaced)
	}
	if n := len(scanAll(t, db, "nps")); n != 600 {
		t.Fatalf("%d observations, want 600", n)
	}
}

// TestCrashAfterCommitFinishesReplacement dies between the commit marker
// and the removal of the replaced records; the next open finishes it.
func TestCrashAfterCommitFinishesReplacement(t *testing.T) {
	db, cfg := openDiskWith100(t)
	im := newImporter(db, ImportOptions{Replace: true})
	if err := im.begin(time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := im.run(context.Background(), &sliceSource{recs: records(10, "r", "nps")}); err != nil {
		t.Fatal(err)
	}
	if err := im.finish(context.Background()); err != nil {
		t.Fatal(err)
	}
	// commit, minus applyReplacements
	im.wb.Flush()
	im.meta.State, im.meta.Records, im.meta.Replaced = batchCommitted, im.sum.Records, im.sum.Replaced
	mv, _ := json.Marshal(im.meta)
	db.bdb.Update(func(txn *badger.Txn) error { return txn.Set(batchKey(im.batch), mv) })
	db.bdb.Close()

	db, err := Open(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if n := len(scanAll(t, db, "nps")); n != 100 {
		t.Fatalf("%d observations after recovery, want 100 (10 replaced)", n)
	}
}

func TestCollectGarbageAfterUndo(t *testing.T) {
	dir := t.TempDir()
	db, err := Open(Config{Dir: dir, EncryptionKey: testKey(32), PseudonymKey: testKey(32)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	mustImport(t, db, records(5000, "r", "nps"), ImportOptions{})
	db.Import(context.Background(), &sliceSource{recs: records(20000, "u", "nps"), failAt: 19000, err: errors.New("bad")}, ImportOptions{})
	if err := db.CollectGarbage(); err != nil {
		t.Fatal(err)
	}
	if n := len(scanAll(t, db, "nps")); n != 5000 {
		t.Fatalf("%d observations after GC, want 5000", n)
	}
}

// openDiskWith100 opens an encrypted on-disk store holding 100 nps
// records, for tests that close Badger underneath it and reopen.
func openDiskWith100(t *testing.T) (*DB, Config) {
	t.Helper()
	cfg := Config{Dir: t.TempDir(), EncryptionKey: testKey(32), PseudonymKey: testKey(32)}
	db, err := Open(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	mustImport(t, db, records(100, "r", "nps"), ImportOptions{})
	return db, cfg
}

// TestImportKeepsTheRecordRules: the store refuses what kpi.Record.Check
// refuses, wherever the record came from, and stores nothing of the
// import.
func TestImportKeepsTheRecordRules(t *testing.T) {
	tests := []struct {
		name  string
		edit  func(*kpi.Record)
		field string
	}{
		{"id over the limit", func(r *kpi.Record) { r.ID = strings.Repeat("x", kpi.MaxNameBytes+1) }, "record_id"},
		{"measure with NUL", func(r *kpi.Record) { r.Measure = "n\x00ps" }, "measure"},
		{"empty subject", func(r *kpi.Record) { r.Subject = "" }, "subject"},
		{"dims out of order", func(r *kpi.Record) { r.Dims = []kpi.Dim{{Name: "z", Value: "1"}, {Name: "a", Value: "2"}} }, "dims"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db := openMem(t)
			before := dump(t, db)
			recs := records(10, "r", "nps")
			tt.edit(&recs[7])
			_, err := db.Import(context.Background(), &sliceSource{recs: recs}, ImportOptions{})
			var ie *kpi.InputError
			if !errors.As(err, &ie) || ie.Field != tt.field || ie.Pos != recs[7].Pos {
				t.Fatalf("import = %v, want an input error in field %s at %v", err, tt.field, recs[7].Pos)
			}
			requireSameDump(t, before, dump(t, db))
		})
	}
}

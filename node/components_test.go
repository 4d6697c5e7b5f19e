package node

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/cxnet/cxnet/contracts"
	"github.com/cxnet/cxnet/kpi"
	"github.com/cxnet/cxnet/store"
)

type recordSlice []kpi.Record

func (s *recordSlice) Next(rec *kpi.Record) error {
	if len(*s) == 0 {
		return io.EOF
	}
	*rec, *s = (*s)[0], (*s)[1:]
	return nil
}

// TestComponentsKeptUntilAnImport: a contract's components are computed
// once between imports — the caller may change what it gets — and an
// import (committed or refused) makes the next call see the records
// anew.
func TestComponentsKeptUntilAnImport(t *testing.T) {
	db, err := store.Open(store.Config{InMemory: true, Insecure: true, PseudonymKey: make([]byte, 32)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	ctx := context.Background()
	answer := func(id string, v int64) kpi.Record {
		return kpi.Record{ID: id, Subject: id, Measure: "nps", Value: kpi.DecimalFromInt(v), Time: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)}
	}
	imp := func(opt store.ImportOptions, recs ...kpi.Record) {
		s := recordSlice(recs)
		if _, err := db.Import(ctx, &s, opt); err != nil {
			t.Fatal(err)
		}
	}
	imp(store.ImportOptions{}, answer("a", 10), answer("b", 0))
	c, err := contracts.Parse([]byte("id: nps\nmeasure: nps\naggregate: nps\nparticipants: [aa, bb, cc]\n"), "c.yaml")
	if err != nil {
		t.Fatal(err)
	}
	k := newComponents(db)
	first, scanned, err := k.of(ctx, c)
	if err != nil || scanned != 2 {
		t.Fatalf("first: %v scanned %d, %v", first, scanned, err)
	}
	want := append([]int64(nil), first...)
	first[0] = 999 // a caller adds its noise in place
	again, _, _ := k.of(ctx, c)
	if again[0] != want[0] || len(k.kept) != 1 {
		t.Fatalf("kept components changed by a caller: %v, want %v", again, want)
	}
	imp(store.ImportOptions{}, answer("c", 9))
	after, scanned, _ := k.of(ctx, c)
	if scanned != 3 || after[0] == want[0] {
		t.Fatalf("after an import: %v scanned %d (before: %v)", after, scanned, want)
	}
	gen := db.Generation()
	imp(store.ImportOptions{DryRun: true}, answer("d", 1))
	if db.Generation() == gen {
		t.Fatal("a dry run left the generation")
	}
	if _, scanned, _ = k.of(ctx, c); scanned != 3 {
		t.Fatalf("after a dry run: scanned %d, want 3", scanned)
	}
}

package store

import (
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

func TestRaftLogStore(t *testing.T) {
	r := openMem(t).RaftLog()
	if i, _ := r.FirstIndex(); i != 0 {
		t.Fatalf("empty FirstIndex = %d", i)
	}
	if i, _ := r.LastIndex(); i != 0 {
		t.Fatalf("empty LastIndex = %d", i)
	}
	var l raft.Log
	if err := r.GetLog(1, &l); !errors.Is(err, raft.ErrLogNotFound) {
		t.Fatalf("GetLog(missing) = %v, want ErrLogNotFound", err)
	}
	at := time.Unix(1700000000, 123)
	var logs []*raft.Log
	for i := uint64(3); i <= 300; i++ {
		logs = append(logs, &raft.Log{Index: i, Term: i / 10, Type: raft.LogCommand, Data: []byte{byte(i), 1, 2}, AppendedAt: at})
	}
	logs[5].Extensions = []byte("ext")
	logs[6].Data = nil
	if err := r.StoreLogs(logs); err != nil {
		t.Fatal(err)
	}
	if i, _ := r.FirstIndex(); i != 3 {
		t.Fatalf("FirstIndex = %d, want 3", i)
	}
	if i, _ := r.LastIndex(); i != 300 {
		t.Fatalf("LastIndex = %d, want 300", i)
	}
	for _, want := range []*raft.Log{logs[0], logs[5], logs[6], logs[len(logs)-1]} {
		var got raft.Log
		if err := r.GetLog(want.Index, &got); err != nil {
			t.Fatal(err)
		}
		if got.Data == nil {
			got.Data = []byte{}
		}
		w := *want
		if w.Data == nil {
			w.Data = []byte{}
		}
		if !reflect.DeepEqual(got, w) {
			t.Fatalf("GetLog(%d) = %+v, want %+v", want.Index, got, w)
		}
	}
	if err := r.DeleteRange(3, 100); err != nil {
		t.Fatal(err)
	}
	if i, _ := r.FirstIndex(); i != 101 {
		t.Fatalf("FirstIndex after DeleteRange = %d, want 101", i)
	}
	if err := r.DeleteRange(250, 300); err != nil {
		t.Fatal(err)
	}
	if i, _ := r.LastIndex(); i != 249 {
		t.Fatalf("LastIndex after DeleteRange = %d, want 249", i)
	}
}

func TestRaftStableStore(t *testing.T) {
	r := openMem(t).RaftLog()
	if _, err := r.Get([]byte("CurrentTerm")); err == nil || err.Error() != "not found" {
		t.Fatalf("Get(missing) error = %v, want exactly \"not found\"", err)
	}
	if _, err := r.GetUint64([]byte("CurrentTerm")); err == nil || err.Error() != "not found" {
		t.Fatalf("GetUint64(missing) error = %v", err)
	}
	if err := r.SetUint64([]byte("CurrentTerm"), 42); err != nil {
		t.Fatal(err)
	}
	if v, err := r.GetUint64([]byte("CurrentTerm")); err != nil || v != 42 {
		t.Fatalf("GetUint64 = %d, %v", v, err)
	}
	if err := r.Set([]byte("LastVoteCand"), []byte("peer")); err != nil {
		t.Fatal(err)
	}
	if v, err := r.Get([]byte("LastVoteCand")); err != nil || string(v) != "peer" {
		t.Fatalf("Get = %q, %v", v, err)
	}
}

func BenchmarkRaftStoreLog(b *testing.B) {
	dir := b.TempDir()
	db, err := Open(Config{Dir: dir, EncryptionKey: testKey(32), PseudonymKey: testKey(32)}, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	r := db.RaftLog()
	data := make([]byte, 512)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := r.StoreLog(&raft.Log{Index: uint64(i + 1), Term: 1, Data: data}); err != nil {
			b.Fatal(err)
		}
	}
}

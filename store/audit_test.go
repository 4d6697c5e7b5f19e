package store

import (
	"encoding/json"
	"errors"
	"testing"

	badger "github.com/dgraph-io/badger/v4"
)

func auditDB(t *testing.T, n int) *DB {
	t.Helper()
	db := openMem(t)
	for i := 0; i < n; i++ {
		if _, err := db.AppendAudit(AuditEntry{Kind: "contract.approved", Actor: "hosp-a", Object: "nps", Detail: map[string]string{"i": string(rune('a' + i))}}); err != nil {
			t.Fatal(err)
		}
	}
	return db
}

func TestAuditVerify(t *testing.T) {
	db := auditDB(t, 5)
	if n, err := db.VerifyAudit(); err != nil || n != 5 {
		t.Fatalf("VerifyAudit = %d, %v", n, err)
	}
	var seqs []uint64
	db.Audit(func(e AuditEntry) error { seqs = append(seqs, e.Seq); return nil })
	if len(seqs) != 5 || seqs[4] != 5 {
		t.Fatalf("entries %v", seqs)
	}
}

func TestAuditVerifyCatchesTampering(t *testing.T) {
	tests := []struct {
		name    string
		tamper  func(txn *badger.Txn) error
		wantSeq uint64
	}{
		{"altered", func(txn *badger.Txn) error {
			item, _ := txn.Get(auditKey(3))
			var e AuditEntry
			item.Value(func(v []byte) error { return json.Unmarshal(v, &e) })
			e.Actor = "hosp-evil"
			b, _ := json.Marshal(e)
			return txn.Set(auditKey(3), b)
		}, 3},
		{"altered with its hash recomputed", func(txn *badger.Txn) error {
			item, _ := txn.Get(auditKey(2))
			var e AuditEntry
			item.Value(func(v []byte) error { return json.Unmarshal(v, &e) })
			e.Kind = "contract.rejected"
			e.Hash = e.computeHash()
			b, _ := json.Marshal(e)
			return txn.Set(auditKey(2), b)
		}, 3},
		{"removed", func(txn *badger.Txn) error { return txn.Delete(auditKey(4)) }, 4},
		{"tail removed", func(txn *badger.Txn) error { return txn.Delete(auditKey(5)) }, 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db := auditDB(t, 5)
			if err := db.bdb.Update(tt.tamper); err != nil {
				t.Fatal(err)
			}
			_, err := db.VerifyAudit()
			var te *TamperError
			if !errors.As(err, &te) || te.Seq != tt.wantSeq {
				t.Fatalf("VerifyAudit error = %v, want tampering at %d", err, tt.wantSeq)
			}
		})
	}
}

package node

import (
	"context"
	"crypto/rand"
	"os"
	"testing"

	"github.com/cxnet/cxnet/ingest"
	"github.com/cxnet/cxnet/store"
)

// BenchmarkImportCSV imports the file named by CXNET_BENCH_CSV into an
// encrypted on-disk store, as the daemon does.
func BenchmarkImportCSV(b *testing.B) {
	path := os.Getenv("CXNET_BENCH_CSV")
	if path == "" {
		b.Skip("set CXNET_BENCH_CSV to a canonical CSV file")
	}
	for i := 0; i < b.N; i++ {
		key, pk := make([]byte, 32), make([]byte, 32)
		rand.Read(key)
		rand.Read(pk)
		db, err := store.Open(store.Config{Dir: b.TempDir(), EncryptionKey: key, PseudonymKey: pk}, nil)
		if err != nil {
			b.Fatal(err)
		}
		f, err := os.Open(path)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := db.Import(context.Background(), ingest.NewCSVReader(f, path, ingest.Options{}), store.ImportOptions{}); err != nil {
			b.Fatal(err)
		}
		f.Close()
		db.Close()
	}
}

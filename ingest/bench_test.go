package ingest

import (
	"bytes"
	"fmt"
	"io"
	"testing"

	"github.com/cxnet/cxnet/kpi"
)

// benchCSV returns a canonical CSV of n rows like the ones hospitals send.
func benchCSV(n int) []byte {
	settings := []string{"outpatient", "inpatient", "pharmacy"}
	areas := []string{"diabetes", "oncology", "cardiology", "respiratory"}
	regions := []string{"north", "south", "east", "west"}
	ages := []string{"18-44", "45-64", "65+"}
	var b bytes.Buffer
	b.WriteString("record_id,subject,measure,value,time,care_setting,therapeutic_area,region,age_band\n")
	for i := range n {
		fmt.Fprintf(&b, "r%07d,subj-%06d,nps,%d,2026-%02d-%02d,%s,%s,%s,%s\n",
			i+1, (i*7919)%1000000, i%11, 1+i%12, 1+i%28,
			settings[i%3], areas[i%4], regions[(i/3)%4], ages[i%3])
	}
	return b.Bytes()
}

func BenchmarkCSVReader(b *testing.B) {
	data := benchCSV(100_000)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	var rec kpi.Record
	for b.Loop() {
		r := NewCSVReader(bytes.NewReader(data), "bench.csv", Options{})
		n := 0
		for {
			err := r.Next(&rec)
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			n++
		}
		if n != 100_000 {
			b.Fatalf("read %d records, want 100000", n)
		}
	}
}

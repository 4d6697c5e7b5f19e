package synth

import (
	"bytes"
	"crypto/sha256"
	"encoding/csv"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cxnet/cxnet/kpi"
)

func readAll(t *testing.T, b []byte) [][]string {
	t.Helper()
	r := csv.NewReader(bytes.NewReader(b))
	rows, err := r.ReadAll()
	if err != nil {
		t.Fatalf("output is not CSV: %v", err)
	}
	return rows
}

func TestWriteSurveyDeterministic(t *testing.T) {
	tests := []struct {
		name       string
		a, b       Config
		wantSameAs bool
	}{
		{"same seed", Config{Rows: 5000, Seed: 7}, Config{Rows: 5000, Seed: 7}, true},
		{"other seed", Config{Rows: 5000, Seed: 7}, Config{Rows: 5000, Seed: 8}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var a, b bytes.Buffer
			if err := WriteSurvey(&a, tt.a); err != nil {
				t.Fatal(err)
			}
			if err := WriteSurvey(&b, tt.b); err != nil {
				t.Fatal(err)
			}
			if got := bytes.Equal(a.Bytes(), b.Bytes()); got != tt.wantSameAs {
				t.Errorf("equal = %v, want %v", got, tt.wantSameAs)
			}
		})
	}
}

// TestWriteSurveyGolden pins the first rows of seed 1, so that a change
// to the generator (and to every benchmark figure made with it) is seen.
func TestWriteSurveyGolden(t *testing.T) {
	var b bytes.Buffer
	if err := WriteSurvey(&b, Config{Rows: 3, Seed: 1}); err != nil {
		t.Fatal(err)
	}
	want := SurveyHeader + "\n" +
		"rec-0000000001,subj-00000001,nps,10,2026-10-08T09:09:55+02:00,outpatient,diabetes,west,18-44\n" +
		"rec-0000000002,subj-00007920,nps,9,2026-12-26T07:12:22+01:00,outpatient,diabetes,north,65+\n" +
		"rec-0000000003,subj-00015839,wait_minutes,6.6,2026-10-23T11:14:24+02:00,pharmacy,diabetes,west,65+\n"
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
}

func TestWriteSurveyRecords(t *testing.T) {
	const rows, subjects = 30_000, 10_000
	var b bytes.Buffer
	if err := WriteSurvey(&b, Config{Rows: rows, Seed: 3, Subjects: subjects}); err != nil {
		t.Fatal(err)
	}
	all := readAll(t, b.Bytes())
	if got := strings.Join(all[0], ","); got != SurveyHeader {
		t.Fatalf("header %q, want %q", got, SurveyHeader)
	}
	if len(all) != rows+1 {
		t.Fatalf("%d rows, want %d", len(all)-1, rows)
	}
	ids := map[string]bool{}
	subj := map[string][3]string{}
	measures := map[string]int{}
	var promoters, detractors int
	for i, r := range all[1:] {
		line := i + 2
		if ids[r[0]] {
			t.Fatalf("line %d: duplicate record_id %s", line, r[0])
		}
		ids[r[0]] = true
		v, err := kpi.ParseDecimal(r[3])
		if err != nil {
			t.Fatalf("line %d: value %q: %v", line, r[3], err)
		}
		f := v.Float()
		measures[r[2]]++
		switch r[2] {
		case "nps":
			if v.Scale != 0 || f < 0 || f > 10 {
				t.Fatalf("line %d: nps %q not an integer 0..10", line, r[3])
			}
			if f >= 9 {
				promoters++
			} else if f <= 6 {
				detractors++
			}
		case "wait_minutes":
			if v.Scale > 1 || f <= 0 || f > 360 {
				t.Fatalf("line %d: wait_minutes %q", line, r[3])
			}
		case "prem_score":
			if v.Scale != 0 || f < 0 || f > 100 {
				t.Fatalf("line %d: prem_score %q", line, r[3])
			}
		default:
			t.Fatalf("line %d: unexpected measure %q", line, r[2])
		}
		ts, err := time.Parse(time.RFC3339, r[4])
		if err != nil || ts.Year() != 2026 {
			t.Fatalf("line %d: time %q: not RFC 3339 in 2026 (%v)", line, r[4], err)
		}
		for col, cats := range map[int][]string{5: CareSettings, 6: TherapeuticAreas, 7: Regions, 8: AgeBands} {
			if !slices.Contains(cats, r[col]) {
				t.Fatalf("line %d: %s %q not one of %v", line, all[0][col], r[col], cats)
			}
		}
		attrs := [3]string{r[6], r[7], r[8]}
		if prev, ok := subj[r[1]]; ok && prev != attrs {
			t.Fatalf("line %d: subject %s has %v, earlier %v", line, r[1], attrs, prev)
		}
		subj[r[1]] = attrs
	}
	if len(subj) != subjects {
		t.Errorf("%d distinct subjects, want %d", len(subj), subjects)
	}
	if share := float64(measures["nps"]) / rows; share < 0.77 || share > 0.83 {
		t.Errorf("nps share %.3f, want about 0.80", share)
	}
	nps := 100 * float64(promoters-detractors) / float64(measures["nps"])
	if nps < 35 || nps > 48 {
		t.Errorf("overall NPS %.1f, want about +42", nps)
	}
}

func TestWriteDispenses(t *testing.T) {
	const rows = 20_000
	var b bytes.Buffer
	if err := WriteDispenses(&b, Config{Rows: rows, Seed: 1}); err != nil {
		t.Fatal(err)
	}
	all := readAll(t, b.Bytes())
	if got := strings.Join(all[0], ","); got != DispenseHeader {
		t.Fatalf("header %q, want %q", got, DispenseHeader)
	}
	if len(all) != rows+1 {
		t.Fatalf("%d rows, want %d", len(all)-1, rows)
	}
	classOf := map[string]string{}
	for _, c := range DrugClasses {
		for _, d := range c.Drugs {
			classOf[d] = c.Name
		}
	}
	type key struct{ subject, class string }
	last := map[key]time.Time{}
	var gaps, early int
	for i, r := range all[1:] {
		line := i + 2
		if r[2] != "dispense.days_supply" {
			t.Fatalf("line %d: measure %q", line, r[2])
		}
		if r[3] != "30" && r[3] != "60" && r[3] != "90" {
			t.Fatalf("line %d: days supply %q", line, r[3])
		}
		if classOf[r[5]] != r[6] {
			t.Fatalf("line %d: drug %s is not in class %s", line, r[5], r[6])
		}
		ts, err := time.Parse(time.RFC3339, r[4])
		if err != nil {
			t.Fatalf("line %d: time %q: %v", line, r[4], err)
		}
		k := key{r[1], r[6]}
		if prev, ok := last[k]; ok {
			if !ts.After(prev) {
				t.Fatalf("line %d: fill %s not after the previous fill %s", line, ts, prev)
			}
			gaps++
			if ts.Sub(prev) < 29*24*time.Hour {
				early++
			}
		}
		last[k] = ts
	}
	if gaps == 0 || early == 0 {
		t.Errorf("refills %d, early (overlapping) refills %d: want both", gaps, early)
	}
}

func TestConfigRejected(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
	}{
		{"negative rows", Config{Rows: -1}},
		{"negative subjects", Config{Rows: 1, Subjects: -5}},
		{"year out of range", Config{Rows: 1, Year: 1900}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := WriteSurvey(io.Discard, tt.cfg); err == nil {
				t.Error("WriteSurvey accepted it")
			}
			if err := WriteDispenses(io.Discard, tt.cfg); err == nil {
				t.Error("WriteDispenses accepted it")
			}
		})
	}
}

func BenchmarkWriteSurvey(b *testing.B) {
	h := sha256.New()
	b.SetBytes(95 * 100_000)
	for b.Loop() {
		if err := WriteSurvey(h, Config{Rows: 100_000, Seed: 1}); err != nil {
			b.Fatal(err)
		}
	}
}

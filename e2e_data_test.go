package main

import (
	"bufio"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// e2eRow is one canonical CSV row the test writes and then recomputes
// KPIs from, the straightforward way.
type e2eRow struct {
	id, subject, measure string
	value                float64
	valueText            string
	day                  time.Time
	care                 string
}

func writeCSV(t *testing.T, path string, rows []e2eRow) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriter(f)
	fmt.Fprintln(w, "record_id,subject,measure,value,time,care_setting")
	for _, r := range rows {
		fmt.Fprintf(w, "%s,%s,%s,%s,%s,%s\n", r.id, r.subject, r.measure, r.valueText, r.day.Format("2006-01-02"), r.care)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	f.Close()
}

func genRows(n int, seed uint64) []e2eRow {
	rng := rand.New(rand.NewPCG(seed, 1))
	cares := []string{"inpatient", "outpatient", "pharmacy"}
	rows := make([]e2eRow, 0, n)
	for i := range n {
		r := e2eRow{
			id:      fmt.Sprintf("r%05d", i),
			subject: fmt.Sprintf("patient-%d", rng.IntN(n/3+1)),
			day:     time.Date(2025, 12, 20, 0, 0, 0, 0, time.UTC).AddDate(0, 0, rng.IntN(400)),
			care:    cares[rng.IntN(3)],
		}
		if i%3 == 0 {
			r.measure = "wait"
			cents := rng.IntN(20000) - 500 // some below the clip bound
			r.value = float64(cents) / 100
			r.valueText = fmt.Sprintf("%.2f", r.value)
		} else {
			r.measure = "nps"
			v := rng.IntN(11)
			r.value = float64(v)
			r.valueText = fmt.Sprint(v)
		}
		rows = append(rows, r)
	}
	return rows
}

// refCells is the straightforward computation: filter, clip, aggregate per
// care setting, in float64.
func refCells(rows []e2eRow, measure, aggregate string, lo, hi, threshold float64, bins []float64) map[string][2]any {
	from := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	to := time.Date(2026, 12, 31, 0, 0, 0, 0, time.UTC)
	vals := map[string][]float64{}
	for _, r := range rows {
		if r.measure != measure || r.day.Before(from) || r.day.After(to) {
			continue
		}
		v := math.Min(math.Max(r.value, lo), hi)
		vals[r.care] = append(vals[r.care], v)
	}
	out := map[string][2]any{}
	for care, vs := range vals {
		n := float64(len(vs))
		var sum, sq, above, prom, det float64
		hist := make([]int64, max(len(bins)-1, 0))
		for _, v := range vs {
			sum += v
			sq += v * v
			if v >= threshold {
				above++
			}
			if v >= 9 {
				prom++
			}
			if v <= 6 {
				det++
			}
			for i := 0; i+1 < len(bins); i++ {
				if v >= bins[i] && v < bins[i+1] {
					hist[i]++
				}
			}
		}
		var val any
		switch aggregate {
		case "count":
			val = n
		case "sum":
			val = sum
		case "mean":
			val = sum / n
		case "variance":
			m := sum / n
			val = sq/n - m*m
		case "proportion":
			val = above / n
		case "nps":
			val = (prom - det) / n * 100
		case "histogram":
			val = hist
		}
		out[care] = [2]any{int64(len(vs)), val}
	}
	return out
}

type previewJSON struct {
	Contract string `json:"contract"`
	Hash     string `json:"hash"`
	Cells    []struct {
		Group map[string]string `json:"group"`
		Count *int64            `json:"count"`
		Value any               `json:"value"`
	} `json:"cells"`
}

func contractYAML(id, measure, aggregate, extra string) string {
	return fmt.Sprintf(`id: %s
version: 1
title: e2e %s
measure: %s
aggregate: %s
%s
precision: 2
group_by:
  care_setting: [inpatient, outpatient, pharmacy]
window: {from: 2026-01-01, to: 2026-12-31}
participants: [hosp-a]
privacy: {min_cohort: 11}
`, id, aggregate, measure, aggregate, extra)
}

func TestE2EImportAndPreviewEveryAggregate(t *testing.T) {
	home := initNode(t, "hosp-a")
	startDaemon(t, home)
	dir := t.TempDir()

	rows := genRows(3000, 7)
	csvPath := filepath.Join(dir, "visits.csv")
	writeCSV(t, csvPath, rows)
	out := cxOK(t, home, "data", "import", csvPath)
	if !strings.Contains(out, "imported 3000 records") {
		t.Fatalf("import summary: %s", out)
	}

	tests := []struct {
		aggregate, measure, extra string
		lo, hi, threshold         float64
		bins                      []float64
	}{
		{"count", "nps", "", math.Inf(-1), math.Inf(1), 0, nil},
		{"sum", "wait", "value_range: [0, 120]", 0, 120, 0, nil},
		{"mean", "wait", "value_range: [0, 120]", 0, 120, 0, nil},
		{"variance", "wait", "value_range: [0, 120]", 0, 120, 0, nil},
		{"proportion", "nps", "threshold: 9", math.Inf(-1), math.Inf(1), 9, nil},
		{"nps", "nps", "", 0, 10, 0, nil},
		{"histogram", "nps", "value_range: [0, 10]\nbins: [0, 7, 9, 11]", 0, 10, 0, []float64{0, 7, 9, 11}},
	}
	for _, tt := range tests {
		t.Run(tt.aggregate, func(t *testing.T) {
			path := filepath.Join(dir, tt.aggregate+".yaml")
			os.WriteFile(path, []byte(contractYAML("e2e-"+tt.aggregate, tt.measure, tt.aggregate, tt.extra)), 0o644)
			var p previewJSON
			cxJSON(t, home, &p, "contract", "preview", path)
			want := refCells(rows, tt.measure, tt.aggregate, tt.lo, tt.hi, tt.threshold, tt.bins)
			if len(p.Cells) != 3 || !strings.HasPrefix(p.Hash, "sha256:") {
				t.Fatalf("preview = %+v", p)
			}
			for _, c := range p.Cells {
				w := want[c.Group["care_setting"]]
				if c.Count == nil || *c.Count != w[0].(int64) {
					t.Errorf("%v: count %v, want %v", c.Group, c.Count, w[0])
				}
				requireClose(t, c.Group, c.Value, w[1])
			}
		})
	}
	// Prometheus metrics count operations and never carry data.
	metrics := scrapeMetrics(t, home)
	for _, want := range []string{"cxnet_import_records_total 3000", `cxnet_imports_total{outcome="committed"} 1`, "cxnet_contract_previews_total"} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if strings.Contains(string(metrics), "patient-") || strings.Contains(string(metrics), "outpatient") {
		t.Errorf("/metrics carries data")
	}

	// The table output reads well too.
	tbl := cxOK(t, home, "contract", "preview", filepath.Join(dir, "nps.yaml"))
	if !strings.Contains(tbl, "care_setting=outpatient") {
		t.Errorf("table preview:\n%s", tbl)
	}
}

func requireClose(t *testing.T, group map[string]string, got, want any) {
	t.Helper()
	switch w := want.(type) {
	case float64:
		// Released ratios keep 6 significant digits (contracts.SignificantDigits).
		g, ok := got.(float64)
		tol := 1e-9
		if w != 0 {
			tol += 0.5 * math.Pow(10, math.Floor(math.Log10(math.Abs(w)))-5)
		}
		if !ok || math.Abs(g-w) > tol {
			t.Errorf("%v: value %v, want %v", group, got, w)
		}
	case []int64:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			t.Fatalf("%v: value %v, want %v", group, got, w)
		}
		for i := range w {
			if g[i].(float64) != float64(w[i]) {
				t.Errorf("%v: bin %d = %v, want %d", group, i, g[i], w[i])
			}
		}
	}
}

func TestE2EFHIRImports(t *testing.T) {
	home := initNode(t, "hosp-a")
	startDaemon(t, home)
	dir := t.TempDir()

	mapping := filepath.Join(dir, "map.yaml")
	os.WriteFile(mapping, []byte(`items:
  - link_id: "3.1"
    measure: smoker
    values: {"No": 0, "Yes": 1}
dim_items:
  sex: "2.1"
dims:
  care_setting: outpatient
drug_classes:
  "0169-7501-11": insulin
  "A10": insulin
`), 0o644)
	qr := filepath.Join("testdata", "fhir", "QuestionnaireResponse-f201.json")
	out := cxOK(t, home, "data", "import", "--format", "fhir", "--map", mapping, qr)
	if !strings.Contains(out, "imported 1 records") {
		t.Fatalf("QuestionnaireResponse import: %s", out)
	}

	// MedicationDispense NDJSON: the spec example plus a patient's refills.
	spec, err := os.ReadFile(filepath.Join("testdata", "fhir", "MedicationDispense-meddisp0302.json"))
	if err != nil {
		t.Fatal(err)
	}
	var nd strings.Builder
	nd.WriteString(strings.Join(strings.Fields(string(spec)), " ") + "\n")
	fills := []struct {
		day  string
		days int
	}{{"2026-01-01", 30}, {"2026-01-25", 30}, {"2026-03-15", 30}, {"2026-05-20", 90}}
	for i, f := range fills {
		fmt.Fprintf(&nd, `{"resourceType":"MedicationDispense","id":"md%d","status":"completed","subject":{"reference":"Patient/p9"},"medicationCodeableConcept":{"coding":[{"code":"A10"}]},"daysSupply":{"value":%d},"whenHandedOver":"%sT10:00:00Z"}`+"\n", i, f.days, f.day)
	}
	ndPath := filepath.Join(dir, "dispenses.ndjson")
	os.WriteFile(ndPath, []byte(nd.String()), 0o644)
	out = cxOK(t, home, "data", "import", "--format", "fhir", "--map", mapping, ndPath)
	if !strings.Contains(out, "imported 5 records") {
		t.Fatalf("MedicationDispense import: %s", out)
	}

	var st struct {
		Records  int64
		Measures map[string]struct {
			Records  int64
			From, To string
		}
	}
	cxJSON(t, home, &st, "data", "stats")
	if st.Records != 6 || st.Measures["smoker"].Records != 1 || st.Measures["dispense.days_supply"].Records != 5 ||
		st.Measures["smoker"].From != "2013-06-18" {
		t.Fatalf("data stats = %+v", st)
	}

	// PDC over H1 2026: first fill 1 Jan, window end 30 Jun = 181 days.
	// Coverage: 1 Jan–30 Jan, 31 Jan–1 Mar (shifted), 15 Mar–13 Apr,
	// 20 May–30 Jun (clipped): 30+30+30+42 = 132 days; 132/181 = 0.73 < 0.8.
	c := filepath.Join(dir, "pdc.yaml")
	os.WriteFile(c, []byte(`id: pdc-insulin
measure: dispense.days_supply
aggregate: pdc_rate
window: {from: 2026-01-01, to: 2026-06-30}
participants: [hosp-a]
`), 0o644)
	var p previewJSON
	cxJSON(t, home, &p, "contract", "preview", c)
	if len(p.Cells) != 1 || *p.Cells[0].Count != 1 || p.Cells[0].Value.(float64) != 0 {
		t.Fatalf("pdc preview = %+v", p)
	}
}

func TestE2EBadInputIsRefusedAndLosesNothing(t *testing.T) {
	home := initNode(t, "hosp-a")
	startDaemon(t, home)
	dir := t.TempDir()
	good := filepath.Join(dir, "good.csv")
	writeCSV(t, good, genRows(50, 1))
	cxOK(t, home, "data", "import", good)
	before := cxOK(t, home, "data", "stats", "--json")

	header := "record_id,subject,measure,value,time,care_setting\n"
	long := strings.Repeat("x", 2<<20)
	tests := []struct {
		name, file, content string
		args                []string
		want                []string
	}{
		{"non-numeric value", "bad.csv", header + "n1,s1,nps,9,2026-01-01,inpatient\nn2,s2,nps,canary-nine,2026-01-01,inpatient\n", nil, []string{"bad.csv:3", "value", "canary-nine"}},
		{"impossible date", "bad.csv", header + "n1,s1,nps,9,2026-02-30,inpatient\n", nil, []string{"bad.csv:2", "time"}},
		{"missing column", "bad.csv", "record_id,measure,value,time\nn1,nps,9,2026-01-01\n", nil, []string{"bad.csv", "subject"}},
		{"empty subject", "bad.csv", header + "n1,,nps,9,2026-01-01,inpatient\n", nil, []string{"bad.csv:2", "subject"}},
		{"duplicate of stored", "bad.csv", header + "n1,s1,nps,9,2026-01-01,inpatient\nr00003,s1,nps,9,2026-01-01,inpatient\n", nil, []string{"bad.csv:3", "record_id", "already stored", "--replace"}},
		{"duplicate in file", "bad.csv", header + "n1,s1,nps,9,2026-01-01,inpatient\nn1,s1,nps,8,2026-01-01,inpatient\n", nil, []string{"bad.csv:3", "record_id", "bad.csv:2"}},
		{"binary junk", "bad.csv", header + "n1,s1,nps,9,2026-01-01,in\x00\x01\x02patient\n", nil, []string{"bad.csv:2", "binary"}},
		{"over-long line", "bad.csv", header + "n1,s1,nps,9,2026-01-01," + long + "\n", nil, []string{"bad.csv:2"}},
		{"unknown resourceType", "bad.ndjson", `{"resourceType":"Patient","id":"p1"}` + "\n", []string{"--format", "fhir"}, []string{"bad.ndjson:1", "Patient", "--skip-unknown"}},
		{"malformed mapping", "bad.ndjson", `{"resourceType":"QuestionnaireResponse","id":"q"}` + "\n", []string{"--format", "fhir", "--map", "MAP"}, []string{"map.yaml:2", "YAML"}},
	}
	mapPath := filepath.Join(dir, "map.yaml")
	os.WriteFile(mapPath, []byte("items:\n  - link_id: q1\n    measure: [oops\n"), 0o644)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, tt.file)
			os.WriteFile(path, []byte(tt.content), 0o644)
			args := []string{"data", "import"}
			for _, a := range tt.args {
				if a == "MAP" {
					a = mapPath
				}
				args = append(args, a)
			}
			r := cx(t, home, append(args, path)...)
			if r.code != 1 {
				t.Fatalf("exit %d, want 1\n%v", r.code, r)
			}
			for _, w := range tt.want {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("message lacks %q:\n%s", w, r.stderr)
				}
			}
			if !strings.Contains(r.stderr, "nothing was imported") {
				t.Errorf("message does not say nothing was imported:\n%s", r.stderr)
			}
			if after := cxOK(t, home, "data", "stats", "--json"); after != before {
				t.Fatalf("store changed:\nbefore %s\nafter %s", before, after)
			}
		})
	}

	t.Run("second file of one import is bad", func(t *testing.T) {
		fresh := filepath.Join(dir, "fresh.csv")
		os.WriteFile(fresh, []byte(header+"f1,s1,nps,9,2026-01-01,inpatient\n"), 0o644)
		bad := filepath.Join(dir, "bad2.csv")
		os.WriteFile(bad, []byte(header+"f2,s1,nps,9,2026-13-01,inpatient\n"), 0o644)
		r := cx(t, home, "data", "import", fresh, bad)
		if r.code != 1 || !strings.Contains(r.stderr, "bad2.csv:2") {
			t.Fatalf("%v", r)
		}
		if after := cxOK(t, home, "data", "stats", "--json"); after != before {
			t.Fatalf("the good first file was kept:\nbefore %s\nafter %s", before, after)
		}
	})

	t.Run("dry run", func(t *testing.T) {
		fresh := filepath.Join(dir, "dry.csv")
		os.WriteFile(fresh, []byte(header+"d1,s1,nps,9,2026-01-01,inpatient\n"), 0o644)
		out := cxOK(t, home, "data", "import", "--dry-run", fresh)
		if !strings.Contains(out, "dry run: would import 1 records") {
			t.Fatalf("dry run said %q", out)
		}
		if after := cxOK(t, home, "data", "stats", "--json"); after != before {
			t.Fatalf("a dry run changed the store")
		}
	})

	t.Run("malformed contract", func(t *testing.T) {
		path := filepath.Join(dir, "contract.yaml")
		os.WriteFile(path, []byte("id: x\naggregate: median\n"), 0o644)
		r := cx(t, home, "contract", "preview", path)
		if r.code != 1 || !strings.Contains(r.stderr, "contract.yaml:") || !strings.Contains(r.stderr, "aggregate") {
			t.Fatalf("%v", r)
		}
	})
}

// TestE2EKillDuringImport kills the daemon while an import is being
// staged, restarts it, and finds the store as it was before the import.
func TestE2EKillDuringImport(t *testing.T) {
	home := initNode(t, "hosp-a")
	d := startDaemon(t, home)
	dir := t.TempDir()
	good := filepath.Join(dir, "good.csv")
	writeCSV(t, good, genRows(100, 2))
	cxOK(t, home, "data", "import", good)
	before := cxOK(t, home, "data", "stats", "--json")

	fifo := filepath.Join(dir, "big.csv")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	imp := make(chan result, 1)
	go func() { imp <- cx(t, home, "data", "import", fifo) }()
	f, err := os.OpenFile(fifo, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriter(f)
	fmt.Fprintln(w, "record_id,subject,measure,value,time,care_setting")
	for i := range 200000 {
		fmt.Fprintf(w, "k%07d,patient-%d,nps,%d,2026-03-01,outpatient\n", i, i%5000, i%11)
	}
	w.Flush() // the import has read all but the pipe's buffer: it is staging
	time.Sleep(300 * time.Millisecond)
	d.stop(t, syscall.SIGKILL)
	f.Close()
	if r := <-imp; r.code == 0 {
		t.Fatalf("import of a killed daemon succeeded: %v", r)
	}

	startDaemon(t, home)
	if after := cxOK(t, home, "data", "stats", "--json"); after != before {
		t.Fatalf("store changed by a killed import:\nbefore %s\nafter %s", before, after)
	}
}

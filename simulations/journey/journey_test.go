package journey

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cxnet/cxnet/contracts"
	"github.com/cxnet/cxnet/ingest"
	"github.com/cxnet/cxnet/kpi"
	"github.com/cxnet/cxnet/simulations/synth"
)

func generate(t *testing.T, cfg Config) *Dataset {
	t.Helper()
	d, err := Generate(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func digest(d *Dataset) string {
	h := sha256.New()
	for _, o := range d.Orgs {
		for _, e := range d.Exports[o.ID] {
			fmt.Fprintf(h, "%s/%s %d\n", o.ID, e.Name, len(e.Body))
			h.Write(e.Body)
		}
	}
	return fmt.Sprintf("%x", h.Sum(nil))
}

func TestGenerateDeterministic(t *testing.T) {
	a, b := generate(t, Config{Responses: 300, Seed: 7}), generate(t, Config{Responses: 300, Seed: 7})
	if digest(a) != digest(b) {
		t.Fatal("the same config gave different bytes")
	}
	if c := generate(t, Config{Responses: 300, Seed: 8}); digest(c) == digest(a) {
		t.Fatal("another seed gave the same bytes")
	}
}

func TestConfigRejected(t *testing.T) {
	for _, n := range []int{0, 99, 1_000_001} {
		if _, err := Generate(Config{Responses: n}); err == nil || !strings.Contains(err.Error(), "100 to 1,000,000") {
			t.Errorf("%d responses: %v", n, err)
		}
	}
}

// read reads an export back with cxnet's own readers, as `cxnet data
// import` does, and returns its records as comparable lines and the
// resources the reader skipped.
func read(t *testing.T, e Export) ([]string, int64) {
	t.Helper()
	var next func(*kpi.Record) error
	var skipped func() int64
	switch e.Format {
	case "csv":
		r := ingest.NewCSVReader(bytes.NewReader(e.Body), e.Name, ingest.Options{})
		next, skipped = r.Next, func() int64 { return 0 }
	case "fhir":
		m, err := ingest.ParseMapping(e.Map, e.MapName)
		if err != nil {
			t.Fatalf("%s: %v", e.MapName, err)
		}
		r := ingest.NewFHIRReader(bytes.NewReader(e.Body), e.Name, m, ingest.Options{})
		next = r.Next
		skipped = func() int64 {
			var n int64
			for _, v := range r.Skipped() {
				n += v
			}
			return n
		}
	}
	var lines []string
	for {
		var rec kpi.Record
		err := next(&rec)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("%s: %v", e.Name, err)
		}
		dims := map[string]string{}
		for _, d := range rec.Dims {
			dims[d.Name] = d.Value
		}
		lines = append(lines, line(rec.Subject, rec.Measure, rec.Value.String(), rec.Time.Format(time.DateOnly), dims))
	}
	return lines, skipped()
}

func line(subject, measure, value, date string, dims map[string]string) string {
	return fmt.Sprintf("%s %s=%s %s %s", subject, measure, value, date, Key(dims))
}

// TestExportsReadBack reads every export (but the CMS file, which package
// cms checks against CMS's figures) with cxnet's readers and the export's
// mapping file: the records are exactly the observations Pooled computes
// from, so a wrong mapping or a malformed resource fails here.
func TestExportsReadBack(t *testing.T) {
	d := generate(t, Config{Responses: 400, Seed: 3})
	for _, org := range d.Orgs {
		var got []string
		var skipped int64
		for _, e := range d.Exports[org.ID] {
			lines, s := read(t, e)
			if len(lines) != e.Records {
				t.Errorf("%s %s: read %d records, the export says %d", org.ID, e.Name, len(lines), e.Records)
			}
			got, skipped = append(got, lines...), skipped+s
		}
		var want []string
		for _, o := range d.obs {
			if o.org == org.ID {
				want = append(want, line(o.subject, o.measure, fmt.Sprint(o.value), o.date.Format(time.DateOnly), o.dims))
			}
		}
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("%s: %d records read back, %d observations; first read %q", org.ID, len(got), len(want), got[:min(1, len(got))])
		}
		if kind := org.Kind; (kind == "hospital" || kind == "pharmacy") && skipped == 0 {
			t.Errorf("%s: no unfinished or cancelled resource was skipped: the import path for them is untested", org.ID)
		}
	}
}

func TestExportsCMS(t *testing.T) {
	d := generate(t, Config{Responses: 100, Seed: 1, CMS: true})
	total := 0
	for _, org := range []string{NorthGeneral.ID, SouthValley.ID} {
		i := slices.IndexFunc(d.Exports[org], func(e Export) bool { return e.Name == "cms-oas-cahps-2024-07.csv" })
		if i < 0 || d.Exports[org][i].Records < 300_000 {
			t.Fatalf("%s: no CMS export of its share of 664,137 records (%d exports)", org, len(d.Exports[org]))
		}
		e := d.Exports[org][i]
		total += e.Records
	}
	pub, err := CMSCompleted()
	if err != nil {
		t.Fatal(err)
	}
	var want int64
	for _, n := range pub {
		want += n
	}
	if int64(total) != want || len(pub) != 51 {
		t.Fatalf("the hospitals hold %d CMS records, CMS published %d completed surveys in %d states", total, want, len(pub))
	}
	yaml, states, err := CMSPreview()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := contracts.Parse([]byte(yaml), "cms.yaml"); err != nil || len(states) != 51 {
		t.Fatalf("%d states, %v\n%s", len(states), err, yaml)
	}
}

// TestContracts: every contract parses, has at least three participants,
// and every cell but the islands' holds records of every participant (a
// cell that one or two organisations feed would tell each its partner's
// value).
func TestContracts(t *testing.T) {
	d := generate(t, Config{Responses: 200, Seed: 1, Payer: true})
	suppressed := 0
	for _, c := range d.Contracts() {
		if _, err := contracts.Parse([]byte(c.YAML()), c.ID+".yaml"); err != nil {
			t.Errorf("%s: %v\n%s", c.ID, err, c.YAML())
		}
		if len(c.Participants) < contracts.MinReleaseInputs {
			t.Errorf("%s: %d participants", c.ID, len(c.Participants))
		}
		for _, org := range []string{c.ProposedBy, c.RunBy, c.Beside} {
			if !slices.Contains(c.Participants, org) {
				t.Errorf("%s: %s proposes, runs or is shown beside but does not participate", c.ID, org)
			}
		}
		if len(c.Readers) > 0 && !slices.Contains(c.Readers, c.ReadOn) || len(c.Readers) == 0 && !slices.Contains(c.Participants, c.ReadOn) {
			t.Errorf("%s: read on %s, which cannot read it", c.ID, c.ReadOn)
		}
		network := d.Pooled(c, c.Participants...)
		for i, cell := range network {
			if cell.Count < MinCohort {
				suppressed++
				if cell.Group[c.Dim] != "islands" {
					t.Errorf("%s %v: %d records, under the floor", c.ID, cell.Group, cell.Count)
				}
				continue
			}
			for _, org := range c.Participants {
				if own := d.Pooled(c, org)[i]; own.Count == 0 {
					t.Errorf("%s %v: no record of %s", c.ID, cell.Group, org)
				}
			}
		}
	}
	if suppressed != 1 {
		t.Errorf("%d cells under the floor, want the islands' only", suppressed)
	}
}

func TestDispenseMapCoversTheClasses(t *testing.T) {
	m, err := ingest.ParseMapping(DispenseMap, "drug-classes.yaml")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{}
	for _, c := range synth.DrugClasses {
		for _, drug := range c.Drugs {
			want[drug] = c.Name
		}
	}
	if !maps.Equal(m.DrugClasses, want) {
		t.Fatalf("drug-classes.yaml maps %v, synth has %v", m.DrugClasses, want)
	}
}

func TestAdherentPair(t *testing.T) {
	end := time.Date(Year, 12, 31, 0, 0, 0, 0, time.UTC)
	day := func(m time.Month, d int) time.Time { return time.Date(Year, m, d, 0, 0, 0, 0, time.UTC) }
	f := func(date time.Time, days int64, drug string) obs { return obs{date: date, value: days, drug: drug} }
	for _, tc := range []struct {
		name  string
		fills []obs
		want  bool
	}{
		{"one fill covers 30 of 31 days", []obs{f(day(12, 1), 30, "A")}, true},
		{"one fill covers 30 of 62 days", []obs{f(day(10, 31), 30, "A")}, false},
		{"an early refill shifts forward: 60 of 62 days", []obs{f(day(10, 31), 30, "A"), f(day(11, 20), 30, "A")}, true},
		{"two drugs overlap: their days are unioned, 40 of 62", []obs{f(day(10, 31), 30, "A"), f(day(11, 20), 20, "B")}, false},
		{"exactly 80%: 48 of 60 days", []obs{f(day(11, 2), 48, "A")}, true},
		{"just under: 47 of 60 days", []obs{f(day(11, 2), 47, "A")}, false},
		{"supply past the window end counts to the end", []obs{f(day(12, 20), 90, "A")}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := adherentPair(tc.fills, end); got != tc.want {
				t.Fatalf("adherent = %v, want %v", got, tc.want)
			}
		})
	}
}

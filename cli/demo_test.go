package cli

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/cxnet/cxnet/kpi"
	"github.com/cxnet/cxnet/simulations/journey"
)

// TestDemo runs the whole demo in this process — six organisations with
// the payer, the CMS file left out to keep it short — and checks its
// story: every kind of organisation named, the imports, the four KPIs
// agreed and released, the adherence KPI sealed to its readers, the
// tables (golden: the data is seeded), the suppressed islands cell, the
// pooled check, and the homes kept in --dir with each node's log and
// exports.
func TestDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("starts six real nodes")
	}
	dir := filepath.Join(t.TempDir(), "demo")
	out, errs, code := runCLI(t.TempDir(), "demo", "--orgs", "6", "--records", "300", "--cms=false", "--dir", dir)
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errs)
	}
	for _, want := range []string{
		"hosp-north    hospital  North General Hospital",
		"hosp-south    hospital  South Valley Hospital",
		"pharma-ridge  pharma    Ridge Therapeutics patient-support programme",
		"pharm-east    pharmacy  East Pharmacy Group",
		"pharm-bay     pharmacy  Bay Pharmacies",
		"payer-west    payer     West Health Plan",
		"$ cxnet data import --format fhir --map prem-map.yaml prem-2025.ndjson",
		"$ cxnet data import --format csv programme-survey-2025.csv",
		"$ cxnet data import --format fhir --map drug-classes.yaml dispenses-2025.ndjson",
		"9 patients moved from East to Bay during the year and filled prescriptions at both",
		"sealed to payer-west, pharma-ridge: pharm-bay's node got no cells",
		"`cxnet results adherence-pdc` on hosp-north: refused (403), as on every participant",
		"payer-west, a reader too, opens the same 3 cells on its node",
		"4 KPIs over the data of 6 organisations: 22 cells released, 1 suppressed under the floor of 11;",
		"every released cell and every own value equals the pooled computation",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	if !regexp.MustCompile(`key epoch [0-9]+ over 6 members, public key sha256:[0-9a-f]{12}…; any 4 of them must cooperate`).MatchString(out) {
		t.Error("output lacks the key over six members, four to decrypt")
	}
	if strings.Contains(out, "DIFFERS") || strings.Contains(out, "surveys add up to CMS's") {
		t.Errorf("a difference, or a CMS check without the CMS file")
	}
	golden(t, "demo-tables", demoTables(t, out))
	if t.Failed() {
		t.Log(out)
	}
	for _, org := range []string{"hosp-north", "hosp-south", "pharma-ridge", "pharm-east", "pharm-bay", "payer-west"} {
		if _, err := os.Stat(filepath.Join(dir, org, "node.log")); err != nil {
			t.Errorf("%s: %v", org, err)
		}
	}
	for _, f := range []string{"hosp-north/export/prem-2025.ndjson", "hosp-north/export/prem-map.yaml", "pharm-bay/export/drug-classes.yaml",
		"pharma-ridge/export/programme-survey-2025.csv", "contracts/adherence-pdc.yaml"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
	// The same --dir again is refused: it holds a consortium.
	if _, errs, code := runCLI(t.TempDir(), "demo", "--dir", dir); code != 1 || !strings.Contains(errs, "is not empty") {
		t.Fatalf("demo into a used --dir: exit %d: %s", code, errs)
	}
}

// demoTables is the part of the demo's output with the released tables,
// round ids replaced (they depend on the log's length).
func demoTables(t *testing.T, out string) string {
	t.Helper()
	from := regexp.MustCompile(`== \[ *[0-9.]+s\] 7\.`).FindStringIndex(out)
	to := regexp.MustCompile(`== \[ *[0-9.]+s\] summary`).FindStringIndex(out)
	if from == nil || to == nil {
		t.Fatalf("no tables in the output:\n%s", out)
	}
	tables := out[from[0]:to[0]]
	tables = regexp.MustCompile(`\[ *[0-9.]+s\]`).ReplaceAllString(tables, "[time]")
	return regexp.MustCompile(`round ([a-z-]+)/[0-9]+`).ReplaceAllString(tables, "round $1/N")
}

func TestDemoUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"demo", "--orgs", "4"},
		{"demo", "--orgs", "7"},
		{"demo", "--records", "99"},
		{"demo", "--records", "1000001"},
	} {
		if _, errs, code := runCLI(t.TempDir(), args...); code != 2 || !strings.Contains(errs, "must be") {
			t.Errorf("%v: exit %d: %s", args, code, errs)
		}
	}
}

// TestDemoCheck: the checks that make the demo exit 1 catch every way a
// released or own cell can differ from the pooled computation.
func TestDemoCheck(t *testing.T) {
	c := journey.Contract{ID: "wait-by-region", Aggregate: "mean", Dim: "region", Beside: "hosp-north"}
	n := func(v int64) *int64 { return &v }
	pooled := journey.Cell{Count: 40, Value: 37.125}
	small := journey.Cell{Count: 9, Value: 50}
	for _, tc := range []struct {
		name string
		cell kpi.Cell
		want journey.Cell
		ok   bool
	}{
		{"equal", kpi.Cell{Count: n(40), Value: 37.125}, pooled, true},
		{"rounded to 6 significant digits", kpi.Cell{Count: n(40), Value: 37.1250}, journey.Cell{Count: 40, Value: 37.12504}, true},
		{"one record more", kpi.Cell{Count: n(41), Value: 37.125}, pooled, false},
		{"another value", kpi.Cell{Count: n(40), Value: 37.2}, pooled, false},
		{"no value", kpi.Cell{Count: n(40)}, pooled, false},
		{"suppressed under the floor", kpi.Cell{Suppressed: true, Reason: "min_cohort"}, small, true},
		{"released under the floor", kpi.Cell{Count: n(9), Value: 50.0}, small, false},
		{"suppressed over the floor", kpi.Cell{Suppressed: true, Reason: "min_cohort"}, pooled, false},
		{"suppressed for differencing in a first release", kpi.Cell{Suppressed: true, Reason: "differencing"}, small, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := &demo{}
			_, check := d.checkNetwork(c, "region=north", tc.cell, tc.want)
			if ok := len(d.mismatch) == 0; ok != tc.ok || ok != strings.HasPrefix(check, "ok") {
				t.Fatalf("check %q, mismatches %q; want ok=%v", check, d.mismatch, tc.ok)
			}
		})
	}
	for _, tc := range []struct {
		name string
		cell kpi.Cell
		want journey.Cell
		ok   bool
	}{
		{"equal", kpi.Cell{Count: n(40), Value: 37.125}, pooled, true},
		{"none, and no data", kpi.Cell{}, journey.Cell{}, true},
		{"none, but data", kpi.Cell{}, pooled, false},
		{"another count", kpi.Cell{Count: n(39), Value: 37.125}, pooled, false},
		{"another value", kpi.Cell{Count: n(40), Value: 36.0}, pooled, false},
	} {
		t.Run("own "+tc.name, func(t *testing.T) {
			d := &demo{}
			d.checkOwn(c, "region=north", tc.cell, tc.want)
			if ok := len(d.mismatch) == 0; ok != tc.ok {
				t.Fatalf("mismatches %q; want ok=%v", d.mismatch, tc.ok)
			}
		})
	}
}

func TestThousandsAndWrap(t *testing.T) {
	for n, want := range map[int64]string{0: "0", 999: "999", 1000: "1,000", 690936: "690,936", -1234567: "-1,234,567"} {
		if got := thousands(n); got != want {
			t.Errorf("thousands(%d) = %q, want %q", n, got, want)
		}
	}
	if got, want := wrap("aa bb cc", 2, 7), "  aa bb\n  cc\n"; got != want {
		t.Errorf("wrap = %q, want %q", got, want)
	}
}

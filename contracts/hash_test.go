package contracts

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

func mustParse(t testing.TB, src string) *Contract {
	t.Helper()
	c, err := Parse([]byte(src), "test.yaml")
	if err != nil {
		t.Fatalf("Parse:\n%s\n%v", src, err)
	}
	return c
}

const hashBase = `id: nps-diabetes
measure: nps
aggregate: nps
precision: 1
filter: {therapeutic_area: [diabetes, prediabetes]}
group_by:
  care_setting: [inpatient, outpatient]
  age: [young, old]
window: {from: 2026-01-01, to: 2026-12-31}
period: quarter
participants: [hosp-a, hosp-b, pharma-x]
privacy: {min_cohort: 11, epsilon: 0.5, budget: 2}
`

func TestHashSameContract(t *testing.T) {
	want := mustParse(t, hashBase).Hash()
	variants := map[string]string{
		"key order, comments and block style": `# reordered
participants:
  - pharma-x
  - hosp-a
  - hosp-b
period: quarter   # calendar quarters
privacy:
  budget: 2.0
  epsilon: 0.50
  min_cohort: 11
window:
  to: 2026-12-31
  from: 2026-01-01
group_by:
  age: [young, old]
  care_setting: [inpatient, outpatient]
filter:
  therapeutic_area: [prediabetes, diabetes]
precision: 1
aggregate: nps
measure: nps
id: nps-diabetes
`,
		"defaults written out": hashBase + `version: 1
value_range: [0, 1e1]
approvals: all
min_participants: 3
readers: []
`,
		"approvals as the number they mean": hashBase + "approvals: 3\n",
		"quoted strings and dates":          strings.Replace(hashBase, "id: nps-diabetes", `id: "nps-diabetes"`, 1),
	}
	for name, src := range variants {
		if got := mustParse(t, src).Hash(); got != want {
			t.Errorf("%s: hash %s, want %s\ncanonical: %s\nbase:      %s", name, got, want, mustParse(t, src).Canonical(), mustParse(t, hashBase).Canonical())
		}
	}
}

func TestHashSemanticChange(t *testing.T) {
	changes := map[string]string{
		"id":                    strings.Replace(hashBase, "id: nps-diabetes", "id: nps-diabetes-2", 1),
		"version":               hashBase + "version: 2\n",
		"title":                 hashBase + "title: NPS\n",
		"measure":               strings.Replace(hashBase, "measure: nps", "measure: nps2", 1),
		"aggregate":             strings.Replace(hashBase, "aggregate: nps", "aggregate: count", 1),
		"value_range":           hashBase + "value_range: [1, 10]\n",
		"precision":             strings.Replace(hashBase, "precision: 1", "precision: 2", 1),
		"filter value":          strings.Replace(hashBase, "prediabetes]", "prediabetes, other]", 1),
		"filter dimension":      strings.Replace(hashBase, "therapeutic_area", "area", 1),
		"category order":        strings.Replace(hashBase, "[young, old]", "[old, young]", 1),
		"category added":        strings.Replace(hashBase, "[young, old]", "[young, old, unknown]", 1),
		"group_by dimension":    strings.Replace(hashBase, "  age:", "  age_band:", 1),
		"window":                strings.Replace(hashBase, "from: 2026-01-01", "from: 2026-01-02", 1),
		"period":                strings.Replace(hashBase, "period: quarter", "period: month", 1),
		"participant":           strings.Replace(hashBase, "pharma-x]", "pharma-x, pharma-y]", 1),
		"approvals":             hashBase + "approvals: majority\n",
		"min_participants":      hashBase + "min_participants: 2\n",
		"min_cohort":            strings.Replace(hashBase, "min_cohort: 11", "min_cohort: 10", 1),
		"epsilon":               strings.Replace(hashBase, "epsilon: 0.5", "epsilon: 0.25", 1),
		"budget":                strings.Replace(hashBase, "budget: 2", "budget: 3", 1),
		"readers":               hashBase + "readers: [hosp-a]\n",
		"schedule":              hashBase + "schedule: 7d\n",
		"another schedule":      hashBase + "schedule: 24h\n",
		"no window, no periods": strings.Replace(strings.Replace(hashBase, "window: {from: 2026-01-01, to: 2026-12-31}\n", "", 1), "period: quarter\n", "", 1),
	}
	seen := map[string]string{mustParse(t, hashBase).Hash(): "base"}
	for name, src := range changes {
		h := mustParse(t, src).Hash()
		if prev, dup := seen[h]; dup {
			t.Errorf("change %q hashes like %q", name, prev)
		}
		seen[h] = name
	}
}

// TestCanonicalGolden pins the canonical form and hash of the testdata
// contracts: a change here changes every contract's hash. Refresh with
// go test ./contracts -run Golden -update.
func TestCanonicalGolden(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.yaml")
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		c, err := Parse(data, file)
		if err != nil {
			t.Fatal(err)
		}
		got := string(c.Canonical()) + "\n" + c.Hash() + "\n"
		golden := strings.TrimSuffix(file, ".yaml") + ".golden"
		if *update {
			if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(golden)
		if err != nil {
			t.Fatalf("%v (run with -update to create it)", err)
		}
		if got != string(want) {
			t.Errorf("%s: canonical form changed:\n got %s\nwant %s", file, got, want)
		}
	}
}

package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDataImport(t *testing.T) {
	f := newFakeNode(t, map[string]string{"POST /v1/data/import": `{"batch":3,"files":["visits.csv"],"records":1000,"replaced":0,
 "measures":{"nps":800,"wait":200},"skipped":{"resourceType Patient":2},"notes":{"MedicationDispense drug without class":1},"dry_run":false,"seconds":0.25}`})
	path := filepath.Join(t.TempDir(), "visits.csv")
	os.WriteFile(path, []byte("record_id,subject,measure,value,time\n"), 0o644)
	out, errOut, code := f.run("data", "import", path, "--format", "csv")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	golden(t, "data_import", strings.ReplaceAll(out, path, "visits.csv"))
	if len(f.requests) != 1 || !strings.Contains(f.requests[0], "record_id,subject,measure,value,time") {
		t.Fatalf("the file was not streamed to the node: %q", f.requests)
	}
}

func TestDataImportRefusedSaysNothingWasImported(t *testing.T) {
	f := newFakeNode(t, map[string]string{"POST /v1/data/import": `{"error":"visits.csv:3: field value: \"nine\" is not a number","kind":"input"}`})
	f.status["POST /v1/data/import"] = 422
	path := filepath.Join(t.TempDir(), "visits.csv")
	os.WriteFile(path, []byte("x"), 0o644)
	_, errOut, code := f.run("data", "import", path)
	if code != 1 || !strings.Contains(errOut, "visits.csv:3: field value") || !strings.Contains(errOut, "nothing was imported") {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
}

func TestDataImportUsage(t *testing.T) {
	f := newFakeNode(t, nil)
	if _, _, code := f.run("data", "import"); code != 2 {
		t.Fatalf("no file: exit %d, want 2", code)
	}
	if _, _, code := f.run("data", "import", "--format", "xml", "a.xml"); code != 2 {
		t.Fatalf("bad format: exit %d, want 2", code)
	}
	if _, errOut, code := f.run("data", "import", "/no/such/file.csv"); code != 1 || !strings.Contains(errOut, "cannot read /no/such/file.csv") {
		t.Fatalf("missing file: exit %d, %q", code, errOut)
	}
}

func TestDataStats(t *testing.T) {
	f := newFakeNode(t, map[string]string{"GET /v1/data/stats": `{"records":1200,"imports":2,"measures":{
 "nps":{"records":1000,"from":"2026-01-01","to":"2026-12-31","subjects":400,"dims":{"care_setting":{"inpatient":500,"outpatient":500}}},
 "wait":{"records":200,"from":"2026-02-01","to":"2026-03-31","subjects":150,"dims":{}}}}`})
	out, errOut, code := f.run("data", "stats")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	golden(t, "data_stats", out)
}

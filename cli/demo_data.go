package cli

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/cxnet/cxnet/node/client"
	"github.com/cxnet/cxnet/simulations/journey"
)

// importAll writes each organisation's exports into its home (export/)
// and imports them into its node as `cxnet data import` does: the files
// streamed to the node's import API, a FHIR file with its mapping file.
func (d *demo) importAll(ctx context.Context) error {
	for _, m := range d.members {
		d.printf("  %-13s %s\n", m.ID, m.Holds)
		for _, e := range d.data.Exports[m.ID] {
			sum, err := d.importExport(ctx, m, e)
			if err != nil {
				return fmt.Errorf("%s: import %s: %w", m.ID, e.Name, err)
			}
			if sum.Records != int64(e.Records) {
				return fmt.Errorf("%s: import %s stored %d records, the export holds %d", m.ID, e.Name, sum.Records, e.Records)
			}
			d.records += sum.Records
			args := "--format " + e.Format
			if e.MapName != "" {
				args += " --map " + e.MapName
			}
			d.printf("  %-13s   $ cxnet data import %s %s\n", "", args, e.Name)
			d.printf("  %-13s     %s\n", "", e.What)
			d.printf("  %-13s     → %s records stored, encrypted at rest, patients pseudonymised%s\n", "", thousands(sum.Records), skippedNote(sum.Skipped))
		}
	}
	if d.data.Switchers > 0 {
		d.printf("  %d patients moved from East to Bay during the year and filled prescriptions at both: each pharmacy\n"+
			"  knows them only under its own pseudonym, so each measures their adherence over its own dispenses.\n", d.data.Switchers)
	}
	return nil
}

// importExport writes one export (and its mapping file) to the member's
// export directory and imports it.
func (d *demo) importExport(ctx context.Context, m *demoMember, e journey.Export) (*client.ImportSummary, error) {
	dir := filepath.Join(m.home, "export")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	path := filepath.Join(dir, e.Name)
	if err := os.WriteFile(path, e.Body, 0o600); err != nil {
		return nil, err
	}
	if e.MapName != "" {
		if err := os.WriteFile(filepath.Join(dir, e.MapName), e.Map, 0o600); err != nil {
			return nil, err
		}
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return m.cl.Import(ctx, client.ImportRequest{Format: e.Format}, e.Map, []client.ImportFile{{Name: e.Name, Body: f}})
}

// skippedNote says what an import skipped, if anything.
func skippedNote(skipped map[string]int64) string {
	if len(skipped) == 0 {
		return ""
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(skipped)) {
		parts = append(parts, fmt.Sprintf("%d %s", skipped[k], k))
	}
	return "; skipped " + strings.Join(parts, ", ")
}

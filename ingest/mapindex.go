package ingest

import (
	"strings"

	"github.com/cxnet/cxnet/kpi"
)

// mapIndex holds the lookups a FHIRReader derives from its Mapping.
type mapIndex struct {
	want      map[string]bool          // linkIds of mapped and dimension items
	values    []map[string]kpi.Decimal // per mapped item
	fold      []map[string]string      // per mapped item: folded answer -> key of values
	classes   map[string]string
	classFold map[string]string // folded code or name -> class
	dims      []kpi.Dim         // constant dimensions
}

func newMapIndex(m *Mapping) *mapIndex {
	ix := &mapIndex{want: map[string]bool{}}
	if m == nil {
		return ix
	}
	for _, it := range m.Items {
		ix.want[it.LinkID] = true
		ix.values = append(ix.values, it.Values)
		ix.fold = append(ix.fold, foldKeys(it.Values))
	}
	for _, d := range m.DimItems {
		ix.want[d.LinkID] = true
	}
	ix.classes = m.DrugClasses
	ix.classFold = map[string]string{}
	for k, orig := range foldKeys(m.DrugClasses) {
		ix.classFold[k] = m.DrugClasses[orig]
	}
	ix.dims = append(ix.dims, m.Dims...)
	sortDims(ix.dims)
	return ix
}

// foldKeys maps each key, trimmed and lower-cased, to the key, leaving out
// folds that two keys share.
func foldKeys[V any](m map[string]V) map[string]string {
	out := make(map[string]string, len(m))
	clash := map[string]bool{}
	for k := range m {
		f := fold(k)
		if _, ok := out[f]; ok || clash[f] {
			clash[f] = true
			delete(out, f)
			continue
		}
		out[f] = k
	}
	return out
}

func fold(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

// lookup finds an answer text in the values of mapped item i: exactly,
// else ignoring case and surrounding spaces.
func (ix *mapIndex) lookup(i int, text string) (kpi.Decimal, bool) {
	if v, ok := ix.values[i][text]; ok {
		return v, true
	}
	if k, ok := ix.fold[i][fold(text)]; ok {
		return ix.values[i][k], true
	}
	return kpi.Decimal{}, false
}

// drugClass finds the class of a drug by its codes, then its names:
// exactly, else ignoring case.
func (ix *mapIndex) drugClass(names []string) (string, bool) {
	for _, n := range names {
		if c, ok := ix.classes[n]; ok {
			return c, true
		}
	}
	for _, n := range names {
		if c, ok := ix.classFold[fold(n)]; ok {
			return c, true
		}
	}
	return "", false
}

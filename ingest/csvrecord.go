package ingest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/cxnet/cxnet/kpi"
)

// fixedColumns are the canonical columns, in the order the docs list them.
var fixedColumns = [...]string{"record_id", "subject", "measure", "value", "time"}

const headerHint = "the first line must be the header: record_id,subject,measure,value,time, then one column per dimension"

// readHeader skips a byte order mark and reads the header row.
func (r *CSVReader) readHeader() error {
	for r.w-r.r < 3 && !r.eof {
		if err := r.fill(); err != nil {
			return err
		}
	}
	if bytes.HasPrefix(r.buf[r.r:r.w], []byte("\xef\xbb\xbf")) {
		r.r += 3
	}
	start, err := r.record()
	if err == io.EOF {
		return &kpi.InputError{Pos: kpi.Position{File: r.file, Line: 1}, Msg: "the file is empty", Hint: headerHint}
	}
	if err != nil {
		return err
	}
	c := csvColumns{id: -1, subject: -1, measure: -1, value: -1, time: -1}
	c.names = make([]string, len(r.fields))
	for i, f := range r.fields {
		c.names[i] = string(trimSpace(f))
	}
	at := func(field, msg, hint string) error {
		return &kpi.InputError{Pos: kpi.Position{File: r.file, Line: start}, Field: field, Msg: msg, Hint: hint}
	}
	seen := make(map[string]int, len(c.names))
	for i, name := range c.names {
		if name == "" {
			return at("", fmt.Sprintf("column %d of the header has no name", i+1), "give every column a name; "+headerHint)
		}
		if j, ok := seen[name]; ok {
			return at(name, fmt.Sprintf("column appears twice in the header (columns %d and %d)", j+1, i+1), "column names must be unique")
		}
		seen[name] = i
		var slot *int
		switch name {
		case "record_id":
			slot = &c.id
		case "subject":
			slot = &c.subject
		case "measure":
			slot = &c.measure
		case "value":
			slot = &c.value
		case "time":
			slot = &c.time
		}
		if slot != nil {
			*slot = i
			continue
		}
		if p := kpi.NameProblem(name); p != "" {
			return at(quote(name), "column name "+p, "rename the column")
		}
		c.dims = append(c.dims, dimColumn{col: i, name: name})
	}
	for k, idx := range [...]int{c.id, c.subject, c.measure, c.value, c.time} {
		if idx >= 0 {
			continue
		}
		want := fixedColumns[k]
		hint := headerHint
		for _, name := range c.names {
			if strings.EqualFold(name, want) {
				hint = fmt.Sprintf("column names are lower case: rename %s to %s", quote(name), want)
			}
		}
		found := strings.Join(c.names, ",")
		if len(found) > 200 {
			found = found[:200] + "…"
		}
		return at(want, fmt.Sprintf("required column is missing (the header is %s)", strconv.Quote(found)), hint)
	}
	slices.SortFunc(c.dims, func(a, b dimColumn) int { return strings.Compare(a.name, b.name) })
	r.cols = c
	return nil
}

// convert turns r.fields into rec.
func (r *CSVReader) convert(rec *kpi.Record, start int64) error {
	c := &r.cols
	pos := kpi.Position{File: r.file, Line: start, Record: r.row}
	if len(r.fields) != len(c.names) {
		return &kpi.InputError{Pos: pos,
			Msg:  fmt.Sprintf("the row has %d fields but the header has %d", len(r.fields), len(c.names)),
			Hint: `quote values that contain commas: "a,b"`}
	}
	fail := func(field, msg, hint string) error {
		return &kpi.InputError{Pos: pos, Field: field, Msg: msg, Hint: hint}
	}
	id := trimSpace(r.fields[c.id])
	if len(id) == 0 {
		return fail("record_id", "is empty", "every row needs a record_id that is unique in this node")
	}
	if p := kpi.NameProblem(id); p != "" {
		return fail("record_id", quote(string(id))+" "+p, "use a short printable id")
	}
	subject := trimSpace(r.fields[c.subject])
	if len(subject) == 0 {
		return fail("subject", "is empty", "every row needs the identifier of the patient or member it is about")
	}
	measure := trimSpace(r.fields[c.measure])
	if len(measure) == 0 {
		return fail("measure", "is empty", "every row needs the name of the measure, like nps")
	}
	if p := kpi.NameProblem(measure); p != "" {
		return fail("measure", quote(string(measure))+" "+p, "use a short printable name like nps")
	}
	vtext := trimSpace(r.fields[c.value])
	value, err := kpi.ParseDecimal(string(vtext))
	if err != nil {
		if len(vtext) == 0 {
			return fail("value", "is empty", "every row needs a number, like 7 or 7.5")
		}
		if errors.Is(err, kpi.ErrDecimalRange) {
			return fail("value", quote(string(vtext))+" is out of range", "use at most 18 significant digits")
		}
		return fail("value", quote(string(vtext))+" is not a number", "use a decimal like 7 or 7.5")
	}
	ttext := trimSpace(r.fields[c.time])
	if len(ttext) == 0 {
		return fail("time", "is empty", timeHint)
	}
	t, terr := parseTime(ttext, &r.zones)
	if terr != nil {
		return fail("time", quote(string(ttext))+" "+terr.why, timeHint)
	}

	rec.ID = string(id)
	rec.Subject = string(subject)
	rec.Measure = r.measures.intern(measure, r.strs)
	rec.Value = value
	rec.Time = t
	dims := rec.Dims[:0]
	for i := range c.dims {
		d := &c.dims[i]
		v := trimSpace(r.fields[d.col])
		if len(v) == 0 {
			continue
		}
		dims = append(dims, kpi.Dim{Name: d.name, Value: d.seen.intern(v, r.strs)})
	}
	rec.Dims = dims
	rec.Pos = pos
	return nil
}

// recent holds the last few distinct values of a column: looking them up
// is cheaper than hashing, and most columns hold a handful of categories.
type recent struct {
	vals [8]string
	n    int
	next int
}

// intern returns b as a string, sharing the string with earlier equal
// values (from recent, else from the shared map strs) so that repeated
// categories do not allocate.
func (c *recent) intern(b []byte, strs map[string]string) string {
	for _, s := range c.vals[:c.n] {
		if string(b) == s {
			return s
		}
	}
	s, ok := strs[string(b)]
	if !ok {
		s = string(b)
		if len(b) > maxInternLen {
			return s
		}
		if len(strs) < maxInterned {
			strs[s] = s
		}
	}
	if c.n < len(c.vals) {
		c.vals[c.n] = s
		c.n++
	} else {
		c.vals[c.next] = s
		c.next = (c.next + 1) % len(c.vals)
	}
	return s
}

// trimSpace trims ASCII spaces and tabs.
func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

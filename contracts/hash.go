package contracts

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/cxnet/cxnet/kpi"
)

// Canonical returns the contract's canonical form: compact JSON with the
// defaults filled in and the keys of every object sorted, so that two
// files that mean the same contract give the same bytes whatever their key
// order, comments, spacing or number spelling (1.50 and 1.5).
//
//   - decimals are JSON numbers written as kpi.Decimal.String() ("1.5");
//   - dates are "YYYY-MM-DD";
//   - filter values, participants and readers are sets: sorted;
//   - group_by is an object keyed by dimension (so sorted by name), each
//     with its categories in the order written, since that order defines
//     the cell layout;
//   - approvals is the number of approvals needed;
//   - schedule is written in its largest whole unit ("7d", "36h", "90m");
//   - absent optional fields (title, value_range, threshold, bins, filter,
//     group_by, window, schedule) are left out.
//
// The canonical form is itself a valid contract file: Parse accepts it and
// gives a contract with the same canonical form.
func (c *Contract) Canonical() []byte {
	var w canonWriter
	w.open('{')
	w.key("aggregate")
	w.str(string(c.Aggregate))
	w.key("approvals")
	w.int(c.ApprovalsNeeded())
	if len(c.Bins) > 0 {
		w.key("bins")
		w.decimals(c.Bins)
	}
	if len(c.Filter) > 0 {
		w.key("filter")
		w.open('{')
		for _, dim := range sortedKeys(c.Filter) {
			w.key(dim)
			w.strs(sorted(c.Filter[dim]))
		}
		w.close('}')
	}
	if len(c.GroupBy) > 0 {
		w.key("group_by")
		w.open('{')
		dims := slices.Clone(c.GroupBy)
		slices.SortFunc(dims, func(a, b GroupDim) int { return strings.Compare(a.Name, b.Name) })
		for _, g := range dims {
			w.key(g.Name)
			w.strs(g.Categories)
		}
		w.close('}')
	}
	w.key("id")
	w.str(string(c.ID))
	w.key("measure")
	w.str(c.Measure)
	w.key("min_participants")
	w.int(c.MinParticipants)
	w.key("participants")
	w.strs(sorted(orgStrings(c.Participants)))
	w.key("period")
	w.str(string(c.Period))
	w.key("precision")
	w.int(c.Precision)
	w.key("privacy")
	w.open('{')
	w.key("budget")
	w.decimal(c.Privacy.Budget)
	w.key("epsilon")
	w.decimal(c.Privacy.Epsilon)
	w.key("min_cohort")
	w.int(c.Privacy.MinCohort)
	w.close('}')
	w.key("readers")
	w.strs(sorted(orgStrings(c.Readers)))
	if c.Schedule > 0 {
		w.key("schedule")
		w.str(FormatSchedule(c.Schedule))
	}
	if c.Threshold != nil {
		w.key("threshold")
		w.decimal(*c.Threshold)
	}
	if c.Title != "" {
		w.key("title")
		w.str(c.Title)
	}
	if c.ValueRange != nil {
		w.key("value_range")
		w.decimals([]kpi.Decimal{c.ValueRange.Lo, c.ValueRange.Hi})
	}
	w.key("version")
	w.int(c.Version)
	if c.Window != nil {
		w.key("window")
		w.open('{')
		w.key("from")
		w.str(formatDay(c.Window.FromDay))
		w.key("to")
		w.str(formatDay(c.Window.ToDay))
		w.close('}')
	}
	w.close('}')
	return w.buf.Bytes()
}

// Hash returns "sha256:" and the hex SHA-256 of the canonical form.
func (c *Contract) Hash() string {
	sum := sha256.Sum256(c.Canonical())
	return "sha256:" + hex.EncodeToString(sum[:])
}

// canonWriter writes compact JSON, tracking where commas go.
type canonWriter struct {
	buf   bytes.Buffer
	first bool // nothing written yet in the current object or array
}

func (w *canonWriter) open(b byte) {
	w.buf.WriteByte(b)
	w.first = true
}

func (w *canonWriter) close(b byte) {
	w.buf.WriteByte(b)
	w.first = false
}

func (w *canonWriter) sep() {
	if !w.first {
		w.buf.WriteByte(',')
	}
	w.first = false
}

func (w *canonWriter) key(k string) {
	w.sep()
	w.quote(k)
	w.buf.WriteByte(':')
	w.first = true // the value that follows takes no comma
}

func (w *canonWriter) str(s string) {
	w.sep()
	w.quote(s)
}

func (w *canonWriter) int(i int) {
	w.sep()
	w.buf.WriteString(strconv.Itoa(i))
}

func (w *canonWriter) decimal(d kpi.Decimal) {
	w.sep()
	w.buf.WriteString(d.String())
}

func (w *canonWriter) strs(ss []string) {
	w.sep()
	w.open('[')
	for _, s := range ss {
		w.str(s)
	}
	w.close(']')
}

func (w *canonWriter) decimals(ds []kpi.Decimal) {
	w.sep()
	w.open('[')
	for _, d := range ds {
		w.decimal(d)
	}
	w.close(']')
}

// quote writes a JSON string. Parse admits only printable text, which is
// written as is; anything else is escaped so the output stays valid JSON.
func (w *canonWriter) quote(s string) {
	const hexDigits = "0123456789abcdef"
	w.buf.WriteByte('"')
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == '"' || r == '\\':
			w.buf.WriteByte('\\')
			w.buf.WriteByte(byte(r))
		case r < 0x20 || r == 0x7f:
			w.buf.WriteString(`\u00`)
			w.buf.WriteByte(hexDigits[r>>4])
			w.buf.WriteByte(hexDigits[r&0xf])
		case r == utf8.RuneError && size == 1:
			w.buf.WriteString(`\ufffd`)
		default:
			w.buf.WriteString(s[i : i+size])
		}
		i += size
	}
	w.buf.WriteByte('"')
}

func sortedKeys(m map[string][]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func sorted(ss []string) []string {
	ss = slices.Clone(ss)
	slices.Sort(ss)
	if ss == nil {
		ss = []string{}
	}
	return ss
}

func orgStrings(ids []kpi.OrgID) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = string(id)
	}
	return out
}

package ingest

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/cxnet/cxnet/kpi"
)

// Error is what every reader and ParseMapping return for bad input: where
// (file, line, record), which field, what is wrong and what to do. It never
// contains a subject identifier.
type Error struct {
	Pos   kpi.Position
	Field string // column, JSON path (entry[3].resource.authored) or YAML path (items[1].measure); may be empty
	Msg   string // what is wrong
	Hint  string // what to do; may be empty
	Err   error  // underlying read error, if any
}

// Error renders the error the way users read it:
//
//	visits.csv:12: field value: "abc" is not a number; use a decimal like 7 or 7.5
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Pos.String())
	b.WriteString(": ")
	if e.Field != "" {
		b.WriteString("field ")
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	if e.Hint != "" {
		b.WriteString("; ")
		b.WriteString(e.Hint)
	}
	return b.String()
}

// Unwrap returns the underlying read error, if any.
func (e *Error) Unwrap() error { return e.Err }

// maxQuoted is how many characters of a value an error message repeats.
const maxQuoted = 40

// quote renders a (non-subject) value for an error message, truncated.
func quote(s string) string {
	if utf8.RuneCountInString(s) <= maxQuoted {
		return strconv.Quote(s)
	}
	n := 0
	for i := range s {
		if n == maxQuoted {
			return strconv.Quote(s[:i]) + "…"
		}
		n++
	}
	return strconv.Quote(s)
}

// sizeText renders a byte count the way a limit is usually written.
func sizeText(n int) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

// idProblem says what is wrong with a record id or measure name, or "".
func idProblem(s []byte) string {
	if len(s) > maxIDBytes {
		return fmt.Sprintf("is %d bytes long; at most %d are allowed", len(s), maxIDBytes)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c == 0x7f || (c == 0xc2 && i+1 < len(s) && s[i+1] >= 0x80 && s[i+1] <= 0x9f) {
			return fmt.Sprintf("contains a control character (byte 0x%02x at position %d)", c, i+1)
		}
	}
	return ""
}

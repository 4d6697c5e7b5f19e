package kpi

import (
	"fmt"
	"strings"
)

// InputError is one problem in what a user gave a node: a record of an
// import file, a FHIR mapping, a contract file. It says where (file, line
// or record), which field, what is wrong and what to do, and never repeats
// a subject identifier. The readers of ingest, the store and the contract
// parser all return it, so that callers (the API maps it to 422) and users
// see one shape.
type InputError struct {
	Pos Position
	// Field is the column, JSON path (entry[3].resource.authored) or YAML
	// path (group_by.care_setting) at fault; may be empty.
	Field string
	Msg   string // what is wrong
	Hint  string // what to do; may be empty
	Err   error  // underlying read error, if any
	// Path renders Field as a path ("nps.yaml:12: group_by.x: …"), as a
	// contract file's problems read, instead of "field x: …".
	Path bool
}

// Error renders the problem the way users read it:
//
//	visits.csv:12: field value: "abc" is not a number; use a decimal like 7 or 7.5
//	nps.yaml:12: group_by.care_setting: categories must be unique ("inpatient" appears twice)
func (e *InputError) Error() string {
	var b strings.Builder
	b.WriteString(e.Pos.String())
	b.WriteString(": ")
	if e.Field != "" {
		if !e.Path {
			b.WriteString("field ")
		}
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
func (e *InputError) Unwrap() error { return e.Err }

// MaxNameBytes bounds record ids, measure names and dimension names.
const MaxNameBytes = 256

// NameProblem says what is wrong with a record id, a measure name or a
// dimension name, or "" when nothing is: longer than MaxNameBytes, or a
// control character (C0, DEL or C1) in it. Readers call it on the bytes
// they read, before making strings of them.
func NameProblem[T string | []byte](s T) string {
	if len(s) > MaxNameBytes {
		return fmt.Sprintf("is %d bytes long; at most %d are allowed", len(s), MaxNameBytes)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c == 0x7f || (c == 0xc2 && i+1 < len(s) && s[i+1] >= 0x80 && s[i+1] <= 0x9f) {
			return fmt.Sprintf("contains a control character (byte 0x%02x at position %d)", c, i+1)
		}
	}
	return ""
}

// Check applies the rules every record obeys, whichever reader made it
// and before any store keeps it: a record id, a subject and a measure; ids
// and names that NameProblem accepts; a time; dimensions named, with a
// value, sorted by name and unique. It returns nil or an *InputError at
// the record's position.
func (r *Record) Check() error {
	bad := func(field, msg, hint string) error {
		return &InputError{Pos: r.Pos, Field: field, Msg: msg, Hint: hint}
	}
	switch {
	case r.ID == "":
		return bad("record_id", "is empty", "every record needs a unique id")
	case r.Subject == "":
		return bad("subject", "is empty", "every record needs a subject")
	case r.Measure == "":
		return bad("measure", "is empty", "name the measure (e.g. nps)")
	case r.Time.IsZero():
		return bad("time", "is missing", "every record needs the time it was taken")
	}
	if p := NameProblem(r.ID); p != "" {
		return bad("record_id", p, "use a short printable id")
	}
	if p := NameProblem(r.Measure); p != "" {
		return bad("measure", p, "use a short printable name like nps")
	}
	for i, d := range r.Dims {
		at := fmt.Sprintf("dimension %d", i+1)
		if p := NameProblem(d.Name); p != "" {
			return bad("dims", at+": its name "+p, "rename the dimension")
		}
		switch {
		case d.Name == "":
			return bad("dims", at+" has no name", "")
		case d.Value == "":
			return bad("dims", at+" ("+d.Name+") has an empty value", "leave the dimension out instead")
		case i > 0 && r.Dims[i-1].Name >= d.Name:
			return bad("dims", at+" ("+d.Name+") is out of order or repeated", "dimensions are sorted by name and unique")
		}
	}
	return nil
}

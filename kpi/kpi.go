// Package kpi is the shared vocabulary of cxnet: organisation, contract
// and round identifiers; records as they arrive from a source and the
// rules every record obeys (Record.Check), observations as a node keeps
// them; the error every reader of user input returns (InputError); member
// descriptors; what a round's decryptors opened, and the cells a release
// or a preview shows (Cell).
//
// It is a leaf: it imports only the standard library, so that protocol,
// contracts, privacy, store and ingest can all speak it without importing
// one another.
package kpi

import (
	"fmt"
	"time"
)

// OrgID names a member organisation of a consortium (e.g. "hosp-a").
type OrgID string

// ContractID names a KPI contract (e.g. "nps-diabetes").
type ContractID string

// Dim is one categorical attribute of a record (care_setting=outpatient).
type Dim struct {
	Name  string
	Value string
}

// Position says where a record came from, for error messages.
type Position struct {
	File   string // as the user named it
	Line   int64  // 1-based line in the file; 0 when unknown
	Record int64  // 1-based record (CSV row, NDJSON line, Bundle entry); 0 when unknown
}

// String renders the position the way users read it: "file.csv:12".
func (p Position) String() string {
	switch {
	case p.Line > 0:
		return fmt.Sprintf("%s:%d", p.File, p.Line)
	case p.Record > 0:
		return fmt.Sprintf("%s: record %d", p.File, p.Record)
	default:
		return p.File
	}
}

// Record is one observation as read from a source file, before the node
// stores it. Subject is the raw identifier from the source: it is
// pseudonymised by the store and never kept or logged as is.
type Record struct {
	ID      string // record_id, unique per node
	Subject string // raw subject identifier; secret
	Measure string
	Value   Decimal
	Time    time.Time // in the location written in the source
	Dims    []Dim     // sorted by Name, names unique
	Pos     Position
}

// Pseudonym is the keyed hash of a subject under a node-local secret
// (HMAC-SHA256, truncated to 128 bits). It never leaves the node.
type Pseudonym [16]byte

// Observation is a record as a node keeps it: the subject replaced by its
// pseudonym, the record id dropped. Day is the calendar date in the
// record's own time zone, as days since 1970-01-01; windows and periods
// are decided on it.
type Observation struct {
	Subject Pseudonym
	Measure string
	Value   Decimal
	Unix    int64 // the instant, seconds since the epoch
	Day     int32 // local calendar date, days since the epoch
	Dims    []Dim // sorted by Name
}

// Dim returns the value of the named dimension and whether it is set.
func (o *Observation) Dim(name string) (string, bool) {
	for _, d := range o.Dims {
		if d.Name == name {
			return d.Value, true
		}
	}
	return "", false
}

// DayOf returns t's calendar date in t's own location as days since
// 1970-01-01.
func DayOf(t time.Time) int32 {
	y, m, d := t.Date()
	return int32(time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Unix() / 86400)
}

// DayTime returns midnight UTC of a day number, for printing.
func DayTime(day int32) time.Time {
	return time.Unix(int64(day)*86400, 0).UTC()
}

// DayOfDate returns the day number (days since 1970-01-01) of a date in
// the proleptic Gregorian calendar, without going through time.Time
// (H. Hinnant's days_from_civil): readers call it once per record.
func DayOfDate(year, month, dom int) int32 {
	y := int64(year)
	if month <= 2 {
		y--
	}
	era := y / 400
	if y < 0 && y%400 != 0 {
		era--
	}
	yoe := y - era*400
	mp := int64((month + 9) % 12)
	doy := (153*mp+2)/5 + int64(dom) - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return int32(era*146097 + doe - 719468)
}

// DateOfDay returns the calendar date of a day number (H. Hinnant's
// civil_from_days); the inverse of DayOfDate.
func DateOfDay(day int32) (year, month, dom int) {
	z := int64(day) + 719468
	era := z / 146097
	if z < 0 && z%146097 != 0 {
		era--
	}
	doe := z - era*146097
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365
	y := yoe + era*400
	doy := doe - (365*yoe + yoe/4 - yoe/100)
	mp := (5*doy + 2) / 153
	d := doy - (153*mp+2)/5 + 1
	m := mp + 3
	if mp >= 10 {
		m = mp - 9
	}
	if m <= 2 {
		y++
	}
	return int(y), int(m), int(d)
}

package ingest

import (
	"fmt"
	"time"

	"github.com/cxnet/cxnet/kpi"
)

// timeHint is what to do about a time that does not parse.
const timeHint = "use RFC 3339 like 2026-03-14T09:30:00Z or 2026-03-14T09:30:00+01:00, or a date like 2026-03-14"

// timeError says why a time did not parse.
type timeError struct {
	partial bool   // a year or year-month: a full date is needed
	why     string // what is wrong, after the quoted value
}

// minYear is the earliest year accepted: earlier dates (0001-01-01,
// 1800-01-01) are placeholders for missing dates, not observations.
const minYear = 1900

// syntax is the error for text that is not a time at all.
var syntax = &timeError{why: "is not a time"}

// zoneCache shares one *time.Location per UTC offset, so that parsing a
// time allocates nothing.
type zoneCache map[int]*time.Location

func (z *zoneCache) get(offset int) *time.Location {
	if offset == 0 {
		return time.UTC
	}
	if loc, ok := (*z)[offset]; ok {
		return loc
	}
	if *z == nil {
		*z = make(zoneCache)
	}
	loc := time.FixedZone("", offset)
	if len(*z) < 64 {
		(*z)[offset] = loc
	}
	return loc
}

// parseTime reads an RFC 3339 time (fractional seconds optional, Z or a
// ±hh:mm offset) or a YYYY-MM-DD date (midnight UTC). The time keeps the
// offset it was written with.
func parseTime(s []byte, zones *zoneCache) (time.Time, *timeError) {
	if len(s) < 4 {
		return time.Time{}, syntax
	}
	y, ok := digits(s, 0, 4)
	if !ok {
		return time.Time{}, syntax
	}
	if len(s) == 4 {
		return time.Time{}, &timeError{partial: true, why: "is a year, not a date; a full date is needed"}
	}
	if s[4] != '-' || len(s) < 7 {
		return time.Time{}, syntax
	}
	m, ok := digits(s, 5, 2)
	if !ok {
		return time.Time{}, syntax
	}
	if m < 1 || m > 12 {
		return time.Time{}, &timeError{why: fmt.Sprintf("is not a real date: there is no month %d", m)}
	}
	if len(s) == 7 {
		return time.Time{}, &timeError{partial: true, why: "is a month, not a date; a full date is needed"}
	}
	if len(s) < 10 || s[7] != '-' {
		return time.Time{}, syntax
	}
	d, ok := digits(s, 8, 2)
	if !ok {
		return time.Time{}, syntax
	}
	if n := daysIn(y, m); d < 1 || d > n {
		return time.Time{}, &timeError{why: fmt.Sprintf("is not a real date: %s %04d has %d days", time.Month(m), y, n)}
	}
	if y < minYear {
		return time.Time{}, &timeError{why: fmt.Sprintf("is before %d: is it a placeholder for a missing date?", minYear)}
	}
	days := int64(kpi.DayOfDate(y, m, d))
	if len(s) == 10 {
		return time.Unix(days*86400, 0).UTC(), nil
	}
	if len(s) < 19 || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') || s[13] != ':' || s[16] != ':' {
		return time.Time{}, syntax
	}
	hh, ok1 := digits(s, 11, 2)
	mi, ok2 := digits(s, 14, 2)
	ss, ok3 := digits(s, 17, 2)
	if !ok1 || !ok2 || !ok3 {
		return time.Time{}, syntax
	}
	if hh > 23 || mi > 59 || ss > 59 {
		return time.Time{}, &timeError{why: fmt.Sprintf("is not a real time of day: %02d:%02d:%02d", hh, mi, ss)}
	}
	i := 19
	var nsec int64
	if i < len(s) && s[i] == '.' {
		i++
		n := 0
		scale := int64(100000000)
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			if n < 9 {
				nsec += int64(s[i]-'0') * scale
				scale /= 10
			}
			n++
			i++
		}
		if n == 0 {
			return time.Time{}, syntax
		}
	}
	if i == len(s) {
		return time.Time{}, &timeError{why: "has no time zone; add Z (UTC) or an offset like +01:00"}
	}
	offset := 0
	switch s[i] {
	case 'Z', 'z':
		i++
	case '+', '-':
		if len(s) != i+6 || s[i+3] != ':' {
			return time.Time{}, syntax
		}
		oh, ok1 := digits(s, i+1, 2)
		om, ok2 := digits(s, i+4, 2)
		if !ok1 || !ok2 || oh > 23 || om > 59 {
			return time.Time{}, &timeError{why: "has an impossible time zone offset"}
		}
		offset = oh*3600 + om*60
		if s[i] == '-' {
			offset = -offset
		}
		i += 6
	default:
		return time.Time{}, syntax
	}
	if i != len(s) {
		return time.Time{}, syntax
	}
	unix := days*86400 + int64(hh*3600+mi*60+ss) - int64(offset)
	t := time.Unix(unix, nsec)
	if offset == 0 {
		return t.UTC(), nil
	}
	return t.In(zones.get(offset)), nil
}

// digits parses s[i:i+n] as a decimal number.
func digits(s []byte, i, n int) (int, bool) {
	if i+n > len(s) {
		return 0, false
	}
	v := 0
	for _, c := range s[i : i+n] {
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + int(c-'0')
	}
	return v, true
}

func daysIn(y, m int) int {
	switch m {
	case 2:
		if y%4 == 0 && (y%100 != 0 || y%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

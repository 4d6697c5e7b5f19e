package contracts

import (
	"fmt"
	"time"

	"github.com/cxnet/cxnet/kpi"
)

// Calendar arithmetic on day numbers (days since 1970-01-01, proleptic
// Gregorian), done with integers so that the accumulator's hot path needs
// neither the time package nor allocation.

// span is one period of a window, clipped to the window.
type span struct {
	label    string
	from, to int32 // inclusive day numbers
}

// periodKey numbers the period holding a date: months, quarters or years
// since year 0.
func periodKey(p Period, year, month int) int {
	switch p {
	case PeriodMonth:
		return year*12 + month - 1
	case PeriodQuarter:
		return year*4 + (month-1)/3
	default:
		return year
	}
}

// periodOfDay returns the period key of a day number.
func periodOfDay(p Period, day int32) int {
	y, m, _ := kpi.DateOfDay(day)
	return periodKey(p, y, m)
}

// periodStart returns the first day of the period with the given key.
func periodStart(p Period, key int) int32 {
	switch p {
	case PeriodMonth:
		return kpi.DayOfDate(floorDiv(key, 12), key-floorDiv(key, 12)*12+1, 1)
	case PeriodQuarter:
		y := floorDiv(key, 4)
		return kpi.DayOfDate(y, (key-y*4)*3+1, 1)
	default:
		return kpi.DayOfDate(key, 1, 1)
	}
}

func periodLabel(p Period, key int) string {
	switch p {
	case PeriodMonth:
		y := floorDiv(key, 12)
		return fmt.Sprintf("%04d-%02d", y, key-y*12+1)
	case PeriodQuarter:
		y := floorDiv(key, 4)
		return fmt.Sprintf("%04d-Q%d", y, key-y*4+1)
	default:
		return fmt.Sprintf("%04d", key)
	}
}

func floorDiv(a, b int) int {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// periodCount returns the number of periods from..to touches.
func periodCount(p Period, from, to int32) int {
	return periodOfDay(p, to) - periodOfDay(p, from) + 1
}

// periodSpans splits [from, to] into periods, each clipped to the range.
func periodSpans(p Period, from, to int32) []span {
	first, last := periodOfDay(p, from), periodOfDay(p, to)
	spans := make([]span, 0, last-first+1)
	for k := first; k <= last; k++ {
		s := span{label: periodLabel(p, k), from: periodStart(p, k), to: periodStart(p, k+1) - 1}
		s.from = max(s.from, from)
		s.to = min(s.to, to)
		spans = append(spans, s)
	}
	return spans
}

// formatDay renders a day number as YYYY-MM-DD.
func formatDay(day int32) string {
	y, m, d := kpi.DateOfDay(day)
	return fmt.Sprintf("%04d-%02d-%02d", y, m, d)
}

// parseDate parses YYYY-MM-DD strictly (four-digit year, real calendar
// date) and returns its day number.
func parseDate(s string) (int32, bool) {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil || len(s) != len(time.DateOnly) {
		return 0, false
	}
	return kpi.DayOf(t), true
}

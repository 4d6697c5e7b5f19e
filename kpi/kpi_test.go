package kpi

import "testing"

func TestDayOfDateAgreesWithTime(t *testing.T) {
	for day := int32(-800000); day <= 800000; day += 7 {
		tm := DayTime(day)
		y, m, d := DateOfDay(day)
		if y != tm.Year() || m != int(tm.Month()) || d != tm.Day() {
			t.Fatalf("DateOfDay(%d) = %d-%d-%d, want %s", day, y, m, d, tm.Format("2006-01-02"))
		}
		if got := DayOfDate(y, m, d); got != day || got != DayOf(tm) {
			t.Fatalf("DayOfDate(%d-%d-%d) = %d, want %d", y, m, d, got, day)
		}
	}
}

// Package synth writes deterministic synthetic patient-experience data in
// cxnet's canonical CSV: survey answers (nps, wait_minutes, prem_score) for
// load tests and benchmarks, and pharmacy dispenses (dispense.days_supply)
// for adherence (pdc_rate) tests.
//
// The same Config always gives the same bytes, on every platform: the random
// source is a seeded PCG and nothing depends on the clock or map order.
// It is test and benchmark tooling; it imports nothing of cxnet.
package synth

import (
	"bufio"
	"fmt"
	"io"
	"math/rand/v2"
	"strconv"
	"time"
)

// SurveyHeader is the header row WriteSurvey writes.
const SurveyHeader = "record_id,subject,measure,value,time,care_setting,therapeutic_area,region,age_band"

// DispenseHeader is the header row WriteDispenses writes.
const DispenseHeader = "record_id,subject,measure,value,time,drug,drug_class"

// The categories of the survey dimensions, in the order contracts list them.
var (
	CareSettings     = []string{"inpatient", "outpatient", "pharmacy"}
	TherapeuticAreas = []string{"diabetes", "oncology", "cardiology", "respiratory"}
	Regions          = []string{"north", "south", "east", "west"}
	AgeBands         = []string{"18-44", "45-64", "65+"}
)

// Config describes one synthetic file.
type Config struct {
	Rows     int    // data rows to write (not counting the header)
	Seed     uint64 // same seed, same bytes
	Subjects int    // distinct subjects; 0 means 200,000
	Year     int    // calendar year the records fall in; 0 means 2026
}

func (c *Config) validate() error {
	if c.Rows < 0 {
		return fmt.Errorf("synth: rows %d: must be >= 0", c.Rows)
	}
	if c.Rows > 9_999_999_999 {
		return fmt.Errorf("synth: rows %d: at most 9,999,999,999", c.Rows)
	}
	if c.Subjects == 0 {
		c.Subjects = 200_000
	}
	if c.Subjects < 1 || c.Subjects > 9_999_999 {
		return fmt.Errorf("synth: subjects %d: must be 1..9,999,999", c.Subjects)
	}
	if c.Year == 0 {
		c.Year = 2026
	}
	if c.Year < 1971 || c.Year > 9999 {
		return fmt.Errorf("synth: year %d: must be 1971..9999", c.Year)
	}
	return nil
}

// weighted picks an index with probability proportional to its weight.
type weighted struct {
	cum   []uint32
	total uint32
}

func newWeighted(w ...uint32) weighted {
	var t uint32
	cum := make([]uint32, len(w))
	for i, x := range w {
		t += x
		cum[i] = t
	}
	return weighted{cum: cum, total: t}
}

func (w weighted) pick(r *rand.Rand) int {
	x := r.Uint32N(w.total)
	for i, c := range w.cum {
		if x < c {
			return i
		}
	}
	return len(w.cum) - 1
}

// npsByCare holds the 0..10 answer distribution per care setting (per
// mille): a left-skewed likelihood-to-recommend, most answers 8–10, a long
// tail of detractors, pharmacy best and inpatient worst.
var npsByCare = [3]weighted{
	newWeighted(25, 10, 12, 18, 20, 45, 60, 110, 190, 220, 290), // inpatient: NPS ~ +32
	newWeighted(18, 7, 9, 13, 15, 35, 48, 100, 185, 240, 330),   // outpatient: NPS ~ +42
	newWeighted(12, 5, 6, 9, 11, 25, 37, 95, 180, 250, 370),     // pharmacy: NPS ~ +52
}

var (
	measureMix = newWeighted(80, 10, 10)     // nps, wait_minutes, prem_score
	careMix    = newWeighted(25, 50, 25)     // inpatient, outpatient, pharmacy
	areaMix    = newWeighted(35, 15, 30, 20) // diabetes, oncology, cardiology, respiratory
	regionMix  = newWeighted(30, 25, 25, 20)
	ageMix     = newWeighted(30, 40, 30)
)

// subjectAttrs derives a subject's fixed attributes (therapeutic area,
// region, age band) from its number, so that every record of a subject
// agrees.
func subjectAttrs(seed uint64, subject int) (area, region, age int) {
	r := rand.New(rand.NewPCG(seed^0x9e3779b97f4a7c15, uint64(subject)))
	return areaMix.pick(r), regionMix.pick(r), ageMix.pick(r)
}

// permute maps 0..n-1 onto itself one to one (i*p+q mod n with p prime to
// n), so that the first n rows name every subject once.
type permute struct{ n, p, q uint64 }

func newPermute(n int, seed uint64) permute {
	p := uint64(7919) // prime; prime to n unless n is a multiple of it
	for gcd(p, uint64(n)) != 1 {
		p += 2
	}
	return permute{n: uint64(n), p: p, q: seed % uint64(n)}
}

func (m permute) at(i int) int { return int((uint64(i)*m.p + m.q) % m.n) }

func gcd(a, b uint64) uint64 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// calendar precomputes, for each day of the year, the "YYYY-MM-DDT" prefix
// and the UTC offset suffix of a Central European clock (+01:00 in winter,
// +02:00 from the last Sunday of March to the last Sunday of October).
type calendar struct {
	prefix [][]byte
	suffix [][]byte
}

func newCalendar(year int) calendar {
	start := time.Date(year, 1, 1, 0, 0, 0, 0, time.UTC)
	days := time.Date(year+1, 1, 1, 0, 0, 0, 0, time.UTC).Sub(start).Hours() / 24
	summerFrom, summerTo := lastSunday(year, time.March), lastSunday(year, time.October)
	c := calendar{prefix: make([][]byte, int(days)), suffix: make([][]byte, int(days))}
	for d := range c.prefix {
		t := start.AddDate(0, 0, d)
		c.prefix[d] = t.AppendFormat(nil, "2006-01-02T")
		if !t.Before(summerFrom) && t.Before(summerTo) {
			c.suffix[d] = []byte("+02:00")
		} else {
			c.suffix[d] = []byte("+01:00")
		}
	}
	return c
}

func lastSunday(year int, month time.Month) time.Time {
	t := time.Date(year, month+1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, -1)
	for t.Weekday() != time.Sunday {
		t = t.AddDate(0, 0, -1)
	}
	return t
}

// appendTime appends "YYYY-MM-DDThh:mm:ss+01:00" for day d at second s of
// the day.
func (c calendar) appendTime(b []byte, d, s int) []byte {
	b = append(b, c.prefix[d]...)
	b = append2(b, s/3600)
	b = append(b, ':')
	b = append2(b, s/60%60)
	b = append(b, ':')
	b = append2(b, s%60)
	return append(b, c.suffix[d]...)
}

func append2(b []byte, v int) []byte { return append(b, byte('0'+v/10), byte('0'+v%10)) }

// appendPadded appends v in decimal, zero-padded to width digits.
func appendPadded(b []byte, v, width int) []byte {
	var tmp [20]byte
	i := len(tmp)
	for v > 0 || i > len(tmp)-width {
		i--
		tmp[i] = byte('0' + v%10)
		v /= 10
	}
	return append(b, tmp[i:]...)
}

// appendTenths appends t/10 with one decimal ("37.5").
func appendTenths(b []byte, t int) []byte {
	b = strconv.AppendInt(b, int64(t/10), 10)
	return append(b, '.', byte('0'+t%10))
}

// WriteSurvey writes the header and cfg.Rows survey records to w.
//
// Rows are `rec-0000000001,subj-00012345,nps,9,2026-03-14T09:31:27+01:00,
// outpatient,diabetes,north,45-64` (about 95 bytes each). About 80% are
// measure nps (integers 0..10, skewed towards 9–10, by care setting), 10%
// wait_minutes (decimals with one place, median about 23) and 10%
// prem_score (integers 0..100, skewed high). Times are spread uniformly
// over the days of cfg.Year, between 07:00 and 21:00 local time. When
// cfg.Rows >= cfg.Subjects every subject occurs at least once. A
// subject's therapeutic area, region and age band are fixed; the care
// setting varies by record.
func WriteSurvey(w io.Writer, cfg Config) error {
	if err := cfg.validate(); err != nil {
		return err
	}
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x5eed))
	cal := newCalendar(cfg.Year)
	perm := newPermute(cfg.Subjects, cfg.Seed)
	type attrs struct{ area, region, age uint8 }
	subj := make([]attrs, cfg.Subjects)
	for s := range subj {
		a, r, g := subjectAttrs(cfg.Seed, s)
		subj[s] = attrs{uint8(a), uint8(r), uint8(g)}
	}

	bw := bufio.NewWriterSize(w, 1<<20)
	bw.WriteString(SurveyHeader + "\n")
	line := make([]byte, 0, 160)
	for i := range cfg.Rows {
		s := rng.IntN(cfg.Subjects)
		if i < cfg.Subjects {
			s = perm.at(i)
		}
		care := careMix.pick(rng)
		day := rng.IntN(len(cal.prefix))
		sec := 7*3600 + rng.IntN(14*3600)

		line = append(line[:0], "rec-"...)
		line = appendPadded(line, i+1, 10)
		line = append(line, ",subj-"...)
		line = appendPadded(line, s, 8)
		switch measureMix.pick(rng) {
		case 0:
			line = append(line, ",nps,"...)
			line = strconv.AppendInt(line, int64(npsByCare[care].pick(rng)), 10)
		case 1:
			// Waits: exponential-ish with a floor, one decimal, capped at 6 h.
			t := 20 + int(rng.ExpFloat64()*300)
			line = append(line, ",wait_minutes,"...)
			line = appendTenths(line, min(t, 3600))
		default:
			v := 100 - int(rng.ExpFloat64()*14)
			line = append(line, ",prem_score,"...)
			line = strconv.AppendInt(line, int64(max(v, 0)), 10)
		}
		line = append(line, ',')
		line = cal.appendTime(line, day, sec)
		a := subj[s]
		line = append(line, ',')
		line = append(line, CareSettings[care]...)
		line = append(line, ',')
		line = append(line, TherapeuticAreas[a.area]...)
		line = append(line, ',')
		line = append(line, Regions[a.region]...)
		line = append(line, ',')
		line = append(line, AgeBands[a.age]...)
		line = append(line, '\n')
		if _, err := bw.Write(line); err != nil {
			return fmt.Errorf("synth: write row %d: %w", i+1, err)
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("synth: write: %w", err)
	}
	return nil
}

package cms

import (
	"bufio"
	"fmt"
	"hash/fnv"
	"io"
	"math/rand/v2"
	"strconv"
	"time"
)

// Header is the canonical CSV header WriteRecords writes: dimensions
// state (two-letter code) and facility (CMS facility id).
const Header = "record_id,subject,measure,value,time,state,facility"

// Measures WriteRecords writes.
const (
	// MeasureRating is one respondent's overall rating of the facility, 0..10.
	MeasureRating = "rating"
	// MeasureTopBoxPct is a facility's published % of 9–10 ratings, one
	// record per facility (only with Options.FacilityMeans).
	MeasureTopBoxPct = "rating_9_10_pct"
)

// Survey period of the July 2024 release.
var (
	PeriodStart = time.Date(2022, 10, 1, 0, 0, 0, 0, time.UTC)
	PeriodEnd   = time.Date(2023, 9, 30, 0, 0, 0, 0, time.UTC)
)

// Options select what WriteRecords writes.
type Options struct {
	// Split and Part keep only the Reported facilities whose index (0-based,
	// in file order, counting Reported facilities only) is Part modulo
	// Split, so that Split hospital nodes each hold a disjoint share.
	// Split 0 or 1 keeps them all.
	Split, Part int
	// FacilityMeans adds one MeasureTopBoxPct record per facility, so that
	// a contract "mean of rating_9_10_pct by state" reproduces CMS's state
	// table, which is (close to) the plain mean of facility percents.
	FacilityMeans bool
}

// Summary counts what WriteRecords wrote.
type Summary struct {
	Facilities int
	Records    int
}

// Share returns the Reported facilities that the given split part holds,
// in file order.
func Share(fs []Facility, split, part int) []Facility {
	var out []Facility
	i := 0
	for _, f := range fs {
		if !f.Reported {
			continue
		}
		if split <= 1 || i%split == part {
			out = append(out, f)
		}
		i++
	}
	return out
}

// WriteRecords writes the header and the records of the Reported
// facilities of fs that opt selects.
//
// CMS publishes only percentages, so each facility's N = Completed
// respondents are reconstructed as synthetic answers of measure "rating"
// (0..10): Answers() of them are 10, 8 and 5 — one value standing for each
// published band (9–10, 7–8, 0–6). A contract "proportion >= 9" over them
// gives the facility's published 9–10 share up to rounding of N × percent;
// means and NPS over these values are not CMS figures.
//
// Respondent i (1-based) of facility F has record_id "F-i" and subject
// "F-resp-i"; the answers are in a fixed pseudo-random order seeded by the
// facility id, and the dates are spread evenly over the survey period
// 2022-10-01..2023-09-30 (respondent i on day ⌊(i−1)·365/N⌋), so the
// output is the same on every run.
func WriteRecords(w io.Writer, fs []Facility, opt Options) (Summary, error) {
	if opt.Split < 0 || (opt.Split > 1 && (opt.Part < 0 || opt.Part >= opt.Split)) {
		return Summary{}, fmt.Errorf("cms: part %d of split %d: part must be 0..split-1", opt.Part, opt.Split)
	}
	days := int(PeriodEnd.Sub(PeriodStart).Hours()/24) + 1
	dates := make([][]byte, days)
	for d := range dates {
		dates[d] = PeriodStart.AddDate(0, 0, d).AppendFormat(nil, "2006-01-02")
	}

	bw := bufio.NewWriterSize(w, 1<<20)
	bw.WriteString(Header + "\n")
	var sum Summary
	var line []byte
	var values []byte
	for _, f := range Share(fs, opt.Split, opt.Part) {
		sum.Facilities++
		values = answers(values[:0], f)
		for i, v := range values {
			line = append(line[:0], f.ID...)
			line = append(line, '-')
			line = strconv.AppendInt(line, int64(i+1), 10)
			line = append(line, ',')
			line = append(line, f.ID...)
			line = append(line, "-resp-"...)
			line = strconv.AppendInt(line, int64(i+1), 10)
			line = append(line, ","+MeasureRating+","...)
			line = strconv.AppendInt(line, int64(v), 10)
			line = append(line, ',')
			line = append(line, dates[i*days/len(values)]...)
			line = appendDims(line, f)
			bw.Write(line)
		}
		sum.Records += len(values)
		if opt.FacilityMeans {
			line = append(line[:0], f.ID...)
			line = append(line, "-rating-9-10-pct,"...)
			line = append(line, f.ID...)
			line = append(line, ","+MeasureTopBoxPct+","...)
			line = strconv.AppendInt(line, int64(f.Rating9to10), 10)
			line = append(line, ',')
			line = append(line, dates[days-1]...)
			line = appendDims(line, f)
			bw.Write(line)
			sum.Records++
		}
	}
	if err := bw.Flush(); err != nil {
		return sum, fmt.Errorf("cms: write records: %w", err)
	}
	return sum, nil
}

func appendDims(line []byte, f Facility) []byte {
	line = append(line, ',')
	line = append(line, f.State...)
	line = append(line, ',')
	line = append(line, f.ID...)
	return append(line, '\n')
}

// answers appends the facility's answers (10s, 8s, 5s) to b and shuffles
// them with a PCG seeded by the facility id (a plain Fisher–Yates written
// out here, so the order never depends on the standard library's choice of
// algorithm).
func answers(b []byte, f Facility) []byte {
	tens, eights, fives := f.Answers()
	for range tens {
		b = append(b, 10)
	}
	for range eights {
		b = append(b, 8)
	}
	for range fives {
		b = append(b, 5)
	}
	h := fnv.New64a()
	h.Write([]byte(f.ID))
	rng := rand.NewPCG(h.Sum64(), 0xca4b5)
	for i := len(b) - 1; i > 0; i-- {
		j := int(rng.Uint64() % uint64(i+1))
		b[i], b[j] = b[j], b[i]
	}
	return b
}

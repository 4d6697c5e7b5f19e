package cms

import (
	"bytes"
	"encoding/csv"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// tally is what a federated count/proportion over the written records
// gives per state.
type tally struct {
	records, topBox int // rating records, those >= 9
	pctSum, pctN    int // rating_9_10_pct records: sum of values, count
}

// writeAndTally writes the records of every facility (split 1) and reads
// them back, the way a node would see them.
func writeAndTally(t *testing.T, opt Options) (map[string]*tally, Summary) {
	t.Helper()
	fs, err := Facilities()
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	sum, err := WriteRecords(&b, fs, opt)
	if err != nil {
		t.Fatal(err)
	}
	r := csv.NewReader(&b)
	r.ReuseRecord = true
	head, err := r.Read()
	if err != nil || strings.Join(head, ",") != Header {
		t.Fatalf("header %q (%v), want %q", head, err, Header)
	}
	got := map[string]*tally{}
	for line := 2; ; line++ {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("line %d: %v", line, err)
		}
		v, err := strconv.Atoi(rec[3])
		if err != nil {
			t.Fatalf("line %d: value %q", line, rec[3])
		}
		st := got[rec[5]]
		if st == nil {
			st = &tally{}
			got[rec[5]] = st
		}
		switch rec[2] {
		case MeasureRating:
			st.records++
			if v >= 9 {
				st.topBox++
			}
		case MeasureTopBoxPct:
			st.pctSum += v
			st.pctN++
		default:
			t.Fatalf("line %d: measure %q", line, rec[2])
		}
	}
	return got, sum
}

// TestKnownAnswerCompletedSurveys checks CMS's first known answer: per
// state, the number of completed surveys is the sum over its facilities,
// exactly; the records carry one "rating" per completed survey.
func TestKnownAnswerCompletedSurveys(t *testing.T) {
	states, err := States()
	if err != nil {
		t.Fatal(err)
	}
	fs, err := Facilities()
	if err != nil {
		t.Fatal(err)
	}
	sampled := map[string]int{}
	for _, f := range fs {
		sampled[f.State] += f.Sampled
	}
	got, sum := writeAndTally(t, Options{})
	if sum.Facilities != 1049 {
		t.Errorf("%d facilities with data, want 1049", sum.Facilities)
	}

	var matched int
	var noData []string
	for _, s := range states {
		if !s.Reported {
			// The five territories: CMS publishes blanks, and the hospital
			// file has no facility there.
			noData = append(noData, s.Code)
			if got[s.Code] != nil {
				t.Errorf("%s (%s): no published figures but %d records", s.Code, s.Name, got[s.Code].records)
			}
			continue
		}
		g := got[s.Code]
		switch {
		case g == nil:
			t.Errorf("%s (%s): published %d completed surveys, no facility records", s.Code, s.Name, s.Completed)
		case g.records != s.Completed:
			t.Errorf("%s (%s): %d records, CMS published %d completed surveys", s.Code, s.Name, g.records, s.Completed)
		case sampled[s.Code] != s.Sampled:
			t.Errorf("%s (%s): facilities sampled %d patients, CMS published %d", s.Code, s.Name, sampled[s.Code], s.Sampled)
		default:
			matched++
		}
	}
	t.Logf("completed surveys and sampled patients equal CMS's state figures exactly in %d of %d states with data; no data published for %v", matched, len(states)-len(noData), noData)
	if matched != 51 {
		t.Errorf("%d states and DC match, want 51", matched)
	}
	if want := []string{"AS", "GU", "MP", "PR", "VI"}; !slices.Equal(slices.Sorted(slices.Values(noData)), want) {
		t.Errorf("states without data %v, want %v", noData, want)
	}

	nat, err := National()
	if err != nil {
		t.Fatal(err)
	}
	if sum.Records != nat.Completed {
		t.Errorf("%d records in all, CMS national completed surveys %d", sum.Records, nat.Completed)
	}
}

// TestKnownAnswerTopBoxShare compares the share of 9–10 ratings per state
// with CMS's published state percent, two ways:
//
//   - pooled: the share over all respondents of the state, which is what a
//     federated "proportion >= 9" over the rating records gives;
//   - facility mean: the mean of the facilities' published percents, what
//     a federated "mean" over rating_9_10_pct records gives.
//
// CMS's state figure is (about) the plain mean of its facilities' scores,
// so the facility mean is within ±1 point in every state, while the
// pooled share weights big facilities more and is within ±1 point in only
// about two states out of three.
func TestKnownAnswerTopBoxShare(t *testing.T) {
	pub, err := Published()
	if err != nil {
		t.Fatal(err)
	}
	got, _ := writeAndTally(t, Options{FacilityMeans: true})
	codes := slices.Sorted(func(yield func(string) bool) {
		for c := range pub {
			if !yield(c) {
				return
			}
		}
	})
	var pooledOK, meanOK int
	var b strings.Builder
	b.WriteString("state  CMS 9-10%  pooled  facility-mean  surveys\n")
	var allRec, allTop int
	for _, c := range codes {
		g := got[c]
		if g == nil {
			t.Fatalf("%s: no records", c)
		}
		allRec += g.records
		allTop += g.topBox
		pooled := 100 * float64(g.topBox) / float64(g.records)
		mean := float64(g.pctSum) / float64(g.pctN)
		want := float64(pub[c].Rating9to10)
		mark := ""
		if math.Abs(pooled-want) <= 1 {
			pooledOK++
		} else {
			mark = "  pooled off by " + strconv.FormatFloat(pooled-want, 'f', 1, 64)
		}
		if math.Abs(mean-want) <= 1 {
			meanOK++
		} else {
			mark += "  mean off"
		}
		b.WriteString(c + "     " + strconv.Itoa(pub[c].Rating9to10) + "         " +
			strconv.FormatFloat(pooled, 'f', 2, 64) + "   " +
			strconv.FormatFloat(mean, 'f', 2, 64) + "          " +
			strconv.Itoa(g.records) + mark + "\n")
	}
	t.Logf("rating 9–10, cxnet records vs CMS state table:\n%s", b.String())
	t.Logf("within ±1 point of CMS: pooled share %d of %d states, facility mean %d of %d", pooledOK, len(codes), meanOK, len(codes))

	if frac := float64(meanOK) / float64(len(codes)); frac < 0.9 {
		t.Errorf("facility mean within ±1 point in %d of %d states (%.0f%%), want >= 90%%", meanOK, len(codes), 100*frac)
	}
	// The pooled share is not CMS's definition; this only guards against
	// the reconstruction getting worse (it is 33 of 51 today).
	if pooledOK < 30 {
		t.Errorf("pooled share within ±1 point in %d of %d states, was 33", pooledOK, len(codes))
	}
	nat, err := National()
	if err != nil {
		t.Fatal(err)
	}
	if share := 100 * float64(allTop) / float64(allRec); math.Abs(share-float64(nat.Rating9to10)) > 1 {
		t.Errorf("national pooled share %.2f, CMS %d", share, nat.Rating9to10)
	} else {
		t.Logf("national: pooled share %.2f%%, CMS %d%%", share, nat.Rating9to10)
	}
}

func TestAnswers(t *testing.T) {
	tests := []struct {
		name                string
		f                   Facility
		tens, eights, fives int
	}{
		{"Marshall Medical Centers", fac(643, 88, 11, 1), 566, 71, 6},
		{"halves round up", fac(10, 45, 35, 20), 5, 4, 1},
		{"rounding past N takes from eights", fac(50, 51, 49, 0), 26, 24, 0},
		{"percents over 100 clamp eights", fac(1, 50, 50, 0), 1, 0, 0},
		{"all top box", fac(120, 100, 0, 0), 120, 0, 0},
		{"no surveys", fac(0, 80, 15, 5), 0, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tens, eights, fives := tt.f.Answers()
			if tens != tt.tens || eights != tt.eights || fives != tt.fives {
				t.Errorf("Answers() = %d, %d, %d; want %d, %d, %d", tens, eights, fives, tt.tens, tt.eights, tt.fives)
			}
		})
	}
}

func fac(n, p910, p78, p06 int) Facility {
	return Facility{ID: "X", State: "AL", Figures: Figures{Completed: n, Rating9to10: p910, Rating7to8: p78, Rating0to6: p06, Reported: true}}
}

// TestSplit checks that the parts of a split are disjoint and together
// hold every record once.
func TestSplit(t *testing.T) {
	fs, err := Facilities()
	if err != nil {
		t.Fatal(err)
	}
	var whole bytes.Buffer
	all, err := WriteRecords(&whole, fs, Options{})
	if err != nil {
		t.Fatal(err)
	}
	const k = 3
	seen := map[string]int{}
	var records int
	for part := range k {
		var b bytes.Buffer
		s, err := WriteRecords(&b, fs, Options{Split: k, Part: part})
		if err != nil {
			t.Fatal(err)
		}
		records += s.Records
		if s.Facilities < all.Facilities/k-1 || s.Facilities > all.Facilities/k+1 {
			t.Errorf("part %d holds %d facilities of %d", part, s.Facilities, all.Facilities)
		}
		for _, f := range Share(fs, k, part) {
			if p, dup := seen[f.ID]; dup {
				t.Fatalf("facility %s in parts %d and %d", f.ID, p, part)
			}
			seen[f.ID] = part
		}
	}
	if records != all.Records || len(seen) != all.Facilities {
		t.Errorf("parts hold %d records of %d facilities; whole %d of %d", records, len(seen), all.Records, all.Facilities)
	}
	for _, opt := range []Options{{Split: 3, Part: 3}, {Split: 3, Part: -1}, {Split: -2}} {
		if _, err := WriteRecords(io.Discard, fs, opt); err == nil {
			t.Errorf("WriteRecords accepted %+v", opt)
		}
	}
}

// TestWriteRecordsGolden pins the first records, so that reruns and other
// machines give the same file.
func TestWriteRecordsGolden(t *testing.T) {
	fs, err := Facilities()
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if _, err := WriteRecords(&b, fs[:1], Options{FacilityMeans: true}); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(b.String(), "\n")
	if len(lines) != 1+643+1+1 {
		t.Fatalf("%d lines, want header + 643 answers + 1 facility mean", len(lines)-1)
	}
	want := []string{
		Header,
		"010005-1,010005-resp-1,rating,10,2022-10-01,AL,010005",
	}
	for i, w := range want {
		if lines[i] != w {
			t.Errorf("line %d: %q, want %q", i+1, lines[i], w)
		}
	}
	if got, want := lines[643], "010005-643,010005-resp-643,rating,"; !strings.HasPrefix(got, want) || !strings.HasSuffix(got, ",2023-09-30,AL,010005") {
		t.Errorf("last answer %q, want %s…,2023-09-30,AL,010005", got, want)
	}
	if got, want := lines[644], "010005-rating-9-10-pct,010005,rating_9_10_pct,88,2023-09-30,AL,010005"; got != want {
		t.Errorf("facility mean %q, want %q", got, want)
	}
}

// TestEmbeddedFilesAreTheSharedCopy checks the embedded CMS files are
// byte for byte the ones in the shared data folder, when it is there.
func TestEmbeddedFilesAreTheSharedCopy(t *testing.T) {
	// ../shared beside the repository, as on developer machines and in CI
	dir := "../../../shared/data/cms_hospital_compare_2024_07"
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("no shared data folder: %v", err)
	}
	for name, embedded := range map[string][]byte{
		"OQR_OAS_CAHPS_BY_HOSPITAL.csv": byHospitalCSV,
		"OQR_OAS_CAHPS_STATE.csv":       stateCSV,
		"OQR_OAS_CAHPS_NATIONAL.csv":    nationalCSV,
	} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(b, embedded) {
			t.Errorf("%s: embedded copy differs from %s", name, dir)
		}
	}
}

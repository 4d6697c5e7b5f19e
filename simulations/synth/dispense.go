package synth

import (
	"bufio"
	"fmt"
	"io"
	"math/rand/v2"
	"strconv"
)

// DrugClass is one adherence class and the drugs dispensed under it.
type DrugClass struct {
	Name  string
	Drugs []string
}

// DrugClasses are the classes WriteDispenses uses: the three classes of
// the CMS Part D adherence measures, a few common drugs each.
var DrugClasses = []DrugClass{
	{"RASA", []string{"LISINOPRIL", "LOSARTAN", "VALSARTAN", "ENALAPRIL"}},
	{"STATIN", []string{"ATORVASTATIN", "ROSUVASTATIN", "SIMVASTATIN"}},
	{"DIABETES", []string{"METFORMIN", "GLIPIZIDE", "SITAGLIPTIN"}},
}

var (
	classMix  = newWeighted(40, 35, 25) // RASA, STATIN, DIABETES
	supplyMix = newWeighted(60, 10, 30) // 30, 60, 90 days
	supplies  = [3]int{30, 60, 90}
)

// WriteDispenses writes the header and cfg.Rows pharmacy dispenses to w:
// `disp-0000000001,subj-00012345,dispense.days_supply,30,2026-02-03T10:12:44+01:00,LISINOPRIL,RASA`.
//
// Patients (the same subject numbering as WriteSurvey) are on one drug
// class, a fifth of them on two. Each therapy starts on a random day in
// the first 200 days of cfg.Year and refills 30-, 60- or 90-day supplies
// until the year ends or the patient stops. About two thirds of therapies
// are adherent (refills from 5 days early to 3 days late, 2% chance to stop
// after each fill); the rest refill 3 to 42 days late and stop with 8%
// chance. Early refills overlap the previous supply; 5% of refills switch
// to another drug of the same class. Rows stop at cfg.Rows, possibly in the
// middle of a patient.
func WriteDispenses(w io.Writer, cfg Config) error {
	if err := cfg.validate(); err != nil {
		return err
	}
	rng := rand.New(rand.NewPCG(cfg.Seed, 0xd15e))
	cal := newCalendar(cfg.Year)
	days := len(cal.prefix)
	perm := newPermute(cfg.Subjects, cfg.Seed)

	bw := bufio.NewWriterSize(w, 1<<20)
	bw.WriteString(DispenseHeader + "\n")
	line := make([]byte, 0, 128)
	row := 0
	emit := func(subject, day int, drug, class string, supply int) error {
		row++
		line = append(line[:0], "disp-"...)
		line = appendPadded(line, row, 10)
		line = append(line, ",subj-"...)
		line = appendPadded(line, subject, 8)
		line = append(line, ",dispense.days_supply,"...)
		line = strconv.AppendInt(line, int64(supply), 10)
		line = append(line, ',')
		line = cal.appendTime(line, day, 8*3600+rng.IntN(12*3600))
		line = append(line, ',')
		line = append(line, drug...)
		line = append(line, ',')
		line = append(line, class...)
		line = append(line, '\n')
		if _, err := bw.Write(line); err != nil {
			return fmt.Errorf("synth: write row %d: %w", row, err)
		}
		return nil
	}

	for p := 0; row < cfg.Rows; p++ {
		subject := perm.at(p % cfg.Subjects)
		first := classMix.pick(rng)
		classes := []int{first}
		if rng.IntN(5) == 0 {
			classes = append(classes, (first+1+rng.IntN(len(DrugClasses)-1))%len(DrugClasses))
		}
		for _, ci := range classes {
			class := DrugClasses[ci]
			drug := rng.IntN(len(class.Drugs))
			supply := supplies[supplyMix.pick(rng)]
			adherent := rng.IntN(3) != 0
			for day := rng.IntN(200); day < days && row < cfg.Rows; {
				if err := emit(subject, day, class.Drugs[drug], class.Name, supply); err != nil {
					return err
				}
				var gap int
				var stop bool
				if adherent {
					gap = rng.IntN(9) - 5
					stop = rng.IntN(50) == 0
				} else {
					gap = 3 + rng.IntN(40)
					stop = rng.IntN(25) < 2
				}
				if stop {
					break
				}
				day += supply + gap
				if rng.IntN(20) == 0 {
					drug = (drug + 1 + rng.IntN(len(class.Drugs)-1)) % len(class.Drugs)
				}
			}
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("synth: write: %w", err)
	}
	return nil
}

package contracts

import (
	"encoding/binary"
	"math/big"
	"slices"
	"strings"
	"testing"

	"github.com/cxnet/cxnet/kpi"
)

func TestCheckInputs(t *testing.T) {
	sealed := &Round{ID: "nps/9", State: RoundSealed, Sealed: []kpi.OrgID{"a", "b", "c"},
		Inputs: map[kpi.OrgID]string{"a": "sha256:1", "b": "sha256:2", "c": "sha256:3", "d": "sha256:4"}}
	open := *sealed
	open.State, open.Sealed = RoundCollecting, nil
	for _, tc := range []struct {
		name string
		r    *Round
		orgs []kpi.OrgID
		want string
	}{
		{"exactly the sealed inputs", sealed, []kpi.OrgID{"c", "a", "b"}, ""},
		{"before the seal", &open, []kpi.OrgID{"a", "b", "c"}, "not sealed"},
		{"a subset", sealed, []kpi.OrgID{"a", "b"}, "the log fixes them"},
		{"an input registered after the seal", sealed, []kpi.OrgID{"a", "b", "c", "d"}, "the log fixes them"},
		{"an input twice", sealed, []kpi.OrgID{"a", "b", "b", "c"}, "the log fixes them"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckInputs(tc.r, tc.orgs)
			if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
}

func TestCheckDecryptors(t *testing.T) {
	k := &KeyEpoch{Epoch: 3, Members: []kpi.OrgID{"a", "b", "c", "d"}, Threshold: 3}
	for _, tc := range []struct {
		name string
		set  []kpi.OrgID
		ok   bool
	}{
		{"the threshold, sorted", []kpi.OrgID{"a", "b", "d"}, true},
		{"too few", []kpi.OrgID{"a", "b"}, false},
		{"too many", []kpi.OrgID{"a", "b", "c", "d"}, false},
		{"unsorted", []kpi.OrgID{"b", "a", "d"}, false},
		{"a repeat", []kpi.OrgID{"a", "a", "b"}, false},
		{"an outsider", []kpi.OrgID{"a", "b", "x"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := CheckDecryptors(k, tc.set); (err == nil) != tc.ok {
				t.Fatalf("got %v, want ok %v", err, tc.ok)
			}
		})
	}
}

// TestKeepAndRelease: which cells open, and what a release of them must
// satisfy: the floor, the shape, the counts withheld for readers.
func TestKeepAndRelease(t *testing.T) {
	c := govContract(t, []byte("id: nps-pol\nmeasure: nps\naggregate: nps\ngroup_by: {site: [a, b, c]}\nparticipants: [org-x, org-y, org-z]\nprivacy: {min_cohort: 11}\n"))
	ints := func(xs ...int64) []*big.Int {
		out := make([]*big.Int, len(xs))
		for i, x := range xs {
			out[i] = big.NewInt(x)
		}
		return out
	}
	// Padded sums may exceed 2^64 (n inputs of up to 2^64 each): only the
	// sum modulo 2^64 is kept.
	big1 := new(big.Int).Add(new(big.Int).Lsh(big.NewInt(1), 64), big.NewInt(5))
	o, err := Keep(c, ints(11, 10, 40), ints(3, 3, 5), append(append(ints(11, 3, 2), ints(10, 1, 1)...), big1, big.NewInt(7), big.NewInt(8)))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(o.Keep, []int{0, 2}) || !slices.Equal(o.Counts, []int64{11, 40}) || binary.LittleEndian.Uint64(o.Sums[24:]) != 5 {
		t.Fatalf("opened %+v: want cells 0 and 2 (cell 1 has 10 records, under 11), sums mod 2^64", o)
	}
	if _, err := Keep(c, ints(1), ints(1), ints(1)); err == nil {
		t.Fatal("a short opening kept")
	}
	for _, tc := range []struct {
		name string
		o    kpi.Opened
		want string
	}{
		{"as opened", *o, ""},
		{"a cell under the floor", kpi.Opened{Keep: []int{1}, Counts: []int64{10}, Sums: make([]byte, 24)}, "under the floor"},
		{"cells out of order", kpi.Opened{Keep: []int{2, 0}, Counts: []int64{40, 11}, Sums: make([]byte, 48)}, "ascending"},
		{"a cell that is not", kpi.Opened{Keep: []int{3}, Counts: []int64{40}, Sums: make([]byte, 24)}, "cells 0 to 2"},
		{"short sums", kpi.Opened{Keep: []int{0}, Counts: []int64{11}, Sums: make([]byte, 16)}, "bytes of sums"},
		{"counts withheld from a contract without readers", Withheld(o), "counts for"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckOpened(c, &tc.o)
			if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
	readers := govContract(t, []byte("id: nps-pol\nmeasure: nps\naggregate: nps\ngroup_by: {site: [a, b, c]}\nparticipants: [org-x, org-y, org-z]\nreaders: [org-r]\nprivacy: {min_cohort: 11}\n"))
	if err := CheckOpened(readers, o); err == nil || !strings.Contains(err.Error(), "withholds the counts") {
		t.Fatalf("counts in a release to readers: %v", err)
	}
	if w := Withheld(o); CheckOpened(readers, &w) != nil || CountsDigest(o.Counts) != w.CountsDigest {
		t.Fatal("a release to readers with the counts withheld refused")
	}
	// Unpadding: the pads of two inputs, and a count component that does
	// not match the opened count.
	pads := [][]uint64{make([]uint64, 9), make([]uint64, 9)}
	for i := range pads[0] {
		pads[0][i], pads[1][i] = uint64(i)*1e18, ^uint64(i)
	}
	comps := []int64{11, 3, 2, 10, 1, 1, 40, 7, 8}
	sums := make([]*big.Int, 9)
	for i, x := range comps {
		sums[i] = new(big.Int).SetUint64(uint64(x) + pads[0][i] + pads[1][i])
	}
	o, _ = Keep(c, ints(11, 10, 40), ints(3, 4, 3), sums)
	o.Counts = []int64{11, 40}
	kp := make([][]byte, 2)
	for i := range pads {
		kp[i], _ = KeptPads(c, o, pads[i])
	}
	cells, err := ReleaseOpened(c, o, kp)
	if err != nil || !cells[1].Suppressed || cells[1].Reason != SuppressedMinCohort || *cells[0].Count != 11 || *cells[2].Count != 40 {
		t.Fatalf("released %+v: %v", cells, err)
	}
	o.Counts[1] = 41
	if _, err := ReleaseOpened(c, o, kp); err == nil || !strings.Contains(err.Error(), "the inputs' count is 40 but the decryptors opened 41") {
		t.Fatalf("a count the inputs do not sum to: %v", err)
	}
}

// TestCellOfTooFewOrganisations: a cell above the floor that one or two
// organisations feed is not kept (it would be one organisation's own
// cell, or two that each learn the other's): suppressed, saying so.
func TestCellOfTooFewOrganisations(t *testing.T) {
	c := govContract(t, []byte("id: nps-few\nmeasure: nps\naggregate: nps\ngroup_by: {site: [a, b, c]}\nparticipants: [org-x, org-y, org-z]\nprivacy: {min_cohort: 11}\n"))
	n := func(xs ...int64) []*big.Int {
		out := make([]*big.Int, len(xs))
		for i, x := range xs {
			out[i] = big.NewInt(x)
		}
		return out
	}
	o, err := Keep(c, n(500, 40, 12), n(1, 2, 3), n(500, 100, 50, 40, 4, 4, 12, 2, 2))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(o.Keep, []int{2}) || !slices.Equal(o.Few, []int{0, 1}) {
		t.Fatalf("kept %v, few %v: want site c kept, a (one organisation's 500 answers) and b (two's) suppressed", o.Keep, o.Few)
	}
	if err := CheckOpened(c, o); err != nil {
		t.Fatal(err)
	}
	cells, err := ReleaseOpened(c, o, [][]byte{make([]byte, 24)})
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []string{SuppressedFewOrgs, SuppressedFewOrgs, ""} {
		if cells[i].Reason != want || cells[i].Suppressed != (want != "") {
			t.Errorf("cell %d: %+v, want reason %q", i, cells[i], want)
		}
	}
	bad := *o
	bad.Few = []int{2}
	if err := CheckOpened(c, &bad); err == nil {
		t.Error("a cell both kept and too thin accepted")
	}
}

// TestAttestNoCellKept: when no cell reaches the floor the opened counts
// are empty, and an attestation reads the same whether they cross the
// wire as [] or not at all (JSON drops an empty list).
func TestAttestNoCellKept(t *testing.T) {
	empty := kpi.Opened{Keep: []int{}, Counts: []int64{}, Sums: []byte{}}
	dropped := kpi.Opened{}
	a := AttestBytes("c", "nps/1", 1, []kpi.OrgID{"a", "b"}, &empty)
	b := AttestBytes("c", "nps/1", 1, []kpi.OrgID{"a", "b"}, &dropped)
	if string(a) != string(b) {
		t.Fatalf("attestations differ:\n%s\n%s", a, b)
	}
	w := Withheld(&empty)
	if string(AttestBytes("c", "nps/1", 1, []kpi.OrgID{"a", "b"}, &w)) != string(a) {
		t.Fatal("withholding no counts changes the attestation")
	}
}

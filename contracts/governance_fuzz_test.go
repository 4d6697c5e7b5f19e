package contracts

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"
)

// fuzzSeeds returns a consortium's state as JSON and entries that apply to
// it, or nearly.
func fuzzSeeds(f *testing.F) (state []byte, entries [][]byte) {
	g := newGovLog(f)
	g.form(orgA, orgB, orgC)
	c := govContract(f, contractYAML("nps-diabetes", 1, []*testOrg{orgA, orgB, orgC}, "all", 11))
	g.must(g.proposeContract(orgA, c))
	state = []byte(snapshotOf(f, g.s))
	v2 := govContract(f, contractYAML("nps-diabetes", 2, []*testOrg{orgA, orgB}, "majority", 11))
	entries = [][]byte{
		g.approveContract(orgB, c),
		g.rejectContract(orgC, c, "no"),
		g.retireContract(orgA, c.ID, 1),
		g.proposeContract(orgB, v2),
		g.propose(orgA, orgD),
		g.approveMember(orgB, orgD),
		g.approveContract(orgX, c),
		g.sign(EntryGenesis, Genesis{Header: hdr(), Name: "N", Founder: orgA.desc}, orgA),
		g.log[0], // the genesis
		{42, 1, '{', '}'},
		{},
	}
	return state, entries
}

// FuzzApply: arbitrary bytes never panic Apply, a refused entry leaves the
// state unchanged, and an applied one leaves a state that round-trips.
func FuzzApply(f *testing.F) {
	base, seeds := fuzzSeeds(f)
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		for _, start := range [][]byte{base, nil} {
			s := NewState()
			if start != nil {
				if err := json.Unmarshal(start, s); err != nil {
					t.Fatal(err)
				}
			}
			before := snapshotOf(t, s)
			ev, err := s.Apply(7, raw)
			after := snapshotOf(t, s)
			if ev.Index != 7 {
				t.Fatalf("event %+v", ev)
			}
			if err != nil {
				var rej *RejectError
				if !errors.As(err, &rej) && !errors.Is(err, ErrUnknownEntry) {
					t.Fatalf("error of type %T: %v", err, err)
				}
				if after != before {
					t.Fatalf("%v, yet the state changed", err)
				}
				continue
			}
			if ev.Outcome != OutcomeApplied {
				t.Fatalf("event %+v", ev)
			}
			restored := NewState()
			if err := json.Unmarshal([]byte(after), restored); err != nil || snapshotOf(t, restored) != after {
				t.Fatalf("state does not round-trip: %v", err)
			}
		}
	})
}

// FuzzDecodeEntry: arbitrary bytes never panic the decoder, and what it
// accepts re-encodes to an entry that decodes the same.
func FuzzDecodeEntry(f *testing.F) {
	_, seeds := fuzzSeeds(f)
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		e, err := DecodeEntry(raw)
		if err != nil {
			if e != nil {
				t.Fatal("an entry and an error")
			}
			return
		}
		if e.Type != EntryType(raw[0]) || e.Version != raw[1] {
			t.Fatalf("entry %+v", e)
		}
		if !e.Known() {
			if e.Value != nil || e.Org != "" {
				t.Fatalf("unknown entry with a body: %+v", e)
			}
			return
		}
		if e.Value == nil {
			t.Fatal("known entry without a body")
		}
		again, err := DecodeEntry(encodeEntry(t, e))
		if err != nil {
			t.Fatalf("re-encoded entry: %v", err)
		}
		v1, err1 := json.Marshal(e.Value)
		v2, err2 := json.Marshal(again.Value)
		if again.Org != e.Org || !bytes.Equal(again.Sig, e.Sig) || err1 != nil || err2 != nil || !bytes.Equal(v1, v2) {
			t.Fatalf("re-encoded entry differs: %+v (%v %v)", again, err1, err2)
		}
	})
}

package contracts

import (
	"crypto/ed25519"
	"encoding/binary"
	"math/big"
	"slices"
	"strings"
	"testing"

	"github.com/cxnet/cxnet/kpi"
)

// padSummed turns a release's pads into their sum and each input's signed
// fingerprint against it (as an honest aggregator and participants make
// them); edit, when set, changes the sum before the fingerprints are drawn
// and signed.
func (g *govLog) padSummed(inputs []*testOrg, edit func(sum []byte)) func(*RoundRelease) {
	return func(rel *RoundRelease) {
		r, _ := g.s.Round(rel.Round)
		attest := AttestBytes(g.s.ID(), rel.Round, r.Epoch, rel.Decryptors, &rel.Opened)
		var pads [][]byte
		for _, o := range inputs {
			pads = append(pads, rel.Pads[o.id].Pads)
		}
		sum, err := SumPads(pads)
		if err != nil {
			g.t.Fatal(err)
		}
		if edit != nil {
			edit(sum)
		}
		digest := PadSumDigest(g.s.ID(), rel.Round, sum)
		rel.PadSum, rel.PadPrints = sum, map[kpi.OrgID]SignedPadPrint{}
		for i, o := range inputs {
			f := PadPrint(digest, pads[i], 8)
			rel.PadPrints[o.id] = SignedPadPrint{Print: f.String(), Sig: ed25519.Sign(o.key, PadPrintBytes(g.s.ID(), rel.Round, attest, digest, f))}
		}
		rel.Pads = nil
	}
}

// TestReleaseWithPadSum: a release may carry the sum of the inputs' pads
// with each input's signed fingerprint of its pads in place of every
// input's pads; it releases the same cells. A sum that is not the pads'
// (off by one, off by 2^64 — the same modulo 2^64 — or beyond what the
// inputs' pads can add up to), a fingerprint missing or signed by another
// member, or a sum beside the pads themselves is refused.
func TestReleaseWithPadSum(t *testing.T) {
	g, c := keyedConsortium(t)
	abc := []*testOrg{orgA, orgB, orgC}
	total := []int64{15, 6, 5}
	open := func() kpi.RoundID {
		id := kpi.RoundID(g.must(g.openRound(orgA, c)).Object)
		for _, o := range abc {
			g.must(g.roundInput(o, id, nextDigest()))
		}
		g.must(g.seal(orgA, id))
		return id
	}
	id := open()
	good := testRelease{round: id, c: c, decryptors: []*testOrg{orgA, orgB, orgC}, inputs: abc, total: total}
	add := func(j int, hi bool, by uint64) func([]byte) {
		return func(sum []byte) {
			at := j*PadSumSize + map[bool]int{false: 0, true: 8}[hi]
			binary.LittleEndian.PutUint64(sum[at:], binary.LittleEndian.Uint64(sum[at:])+by)
		}
	}
	for _, tc := range []struct {
		name, want string
		tamper     func(*RoundRelease)
	}{
		{"a sum off by one", "not the sum", g.padSummed(abc, add(1, false, 1))},
		{"a sum off by 2^64", "not the sum", g.padSummed(abc, add(0, true, 1))},
		{"a sum beyond three inputs' pads", "exceeds", g.padSummed(abc, add(2, true, 3))},
		{"a fingerprint missing", "lacks the fingerprint of " + string(orgC.id), func(r *RoundRelease) {
			g.padSummed(abc, nil)(r)
			r.PadPrints["hosp-x"] = r.PadPrints[orgC.id]
			delete(r.PadPrints, orgC.id)
		}},
		{"a fingerprint signed by another", "not the one it signed", func(r *RoundRelease) {
			g.padSummed(abc, nil)(r)
			p := r.PadPrints[orgB.id]
			p.Sig = r.PadPrints[orgA.id].Sig
			r.PadPrints[orgB.id] = p
		}},
		{"a fingerprint changed", "not the one it signed", func(r *RoundRelease) {
			g.padSummed(abc, nil)(r)
			p := r.PadPrints[orgB.id]
			f, _ := new(big.Int).SetString(p.Print, 10)
			p.Print = f.Add(f, big.NewInt(1)).String()
			r.PadPrints[orgB.id] = p
		}},
		{"a sum beside the pads", "in place of the inputs' pads", func(r *RoundRelease) {
			pads := r.Pads
			g.padSummed(abc, nil)(r)
			r.Pads = pads
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := g.refused(g.release(orgA, good, tc.tamper)); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
	g.must(g.release(orgA, good, g.padSummed(abc, nil)))
	summed, _ := g.s.Round(id)
	// The same round released with every input's pads gives the same cells.
	id2 := open()
	g.must(g.release(orgA, testRelease{round: id2, c: c, decryptors: []*testOrg{orgA, orgB, orgC}, inputs: abc, total: total}, nil))
	plain, _ := g.s.Round(id2)
	if summed.State != RoundReleased || !slices.Equal(summed.Release.Cells, plain.Release.Cells) {
		t.Fatalf("released with a pad sum: %s %s; with the pads: %s", summed.State, summed.Release.Cells, plain.Release.Cells)
	}
}

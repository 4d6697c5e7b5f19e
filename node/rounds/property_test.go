package rounds

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/cxnet/cxnet/contracts"
	"github.com/cxnet/cxnet/kpi"
	"github.com/cxnet/cxnet/privacy"
	"github.com/cxnet/cxnet/protocol/round"
)

// TestReleasedEqualsPooled is the round's arithmetic end to end, at the
// production parameters: for random inputs of 3 to 10 participants and
// any threshold set, what the state machine releases from the opened
// padded sums and the revealed pads equals the computation over every
// participant's records pooled, cells under the floor suppressed.
func TestReleasedEqualsPooled(t *testing.T) {
	p := privacy.DefaultParams()
	c, err := contracts.Parse([]byte("id: nps-prop\nmeasure: nps\naggregate: nps\ngroup_by: {site: [a, b, c, d]}\n"+
		"participants: [p0, p1, p2]\nprivacy: {min_cohort: 11}\n"), "prop.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cells, w := len(c.Cells()), c.Width()
	// Seeded cases, the seed in each name: -run 'TestReleasedEqualsPooled/seed=7'
	// repeats one. 12 cases: real keys and ciphertexts are not cheap.
	for s := range uint64(12) {
		t.Run(fmt.Sprintf("seed=%d", s), func(rt *testing.T) { releasedEqualsPooled(rt, p, c, cells, w, s) })
	}
}

func releasedEqualsPooled(rt *testing.T, p privacy.Params, c *contracts.Contract, cells, w int, s uint64) {
	rng := rand.New(rand.NewPCG(s, 1))
	n := 3 + rng.IntN(8)
	threshold := contracts.DefaultThreshold(n)
	active := rng.Perm(n)[:threshold]
	slices.Sort(active)

	// A key epoch of n members.
	seed := make([]byte, privacy.SeedSize)
	var shares [][]byte
	dealt := make([][][]byte, n)
	for i := range n {
		sk, err := privacy.NewSecretKey(p)
		if err != nil {
			rt.Fatal(err)
		}
		pub, _ := privacy.PublicKeyShare(p, sk, seed)
		shares = append(shares, pub)
		if dealt[i], err = privacy.Deal(p, sk, threshold, n); err != nil {
			rt.Fatal(err)
		}
	}
	pk, err := privacy.CollectivePublicKey(p, seed, shares)
	if err != nil {
		rt.Fatal(err)
	}

	// Each participant's components: a few NPS answers per site, the
	// last site often under the floor network-wide.
	pooled := make([]int64, cells*w)
	feeders := make([]int, cells) // organisations with records in each cell
	inputs := map[kpi.OrgID]round.Input{}
	var pads [][]uint64
	for i := range n {
		comps := make([]int64, cells*w)
		for k := range cells {
			answers := rng.IntN(12)
			if k == cells-1 {
				answers = rng.IntN(3)
			}
			for range answers {
				v := rng.IntN(11)
				comps[k*w]++
				if v >= 9 {
					comps[k*w+1]++
				} else if v <= 6 {
					comps[k*w+2]++
				}
			}
		}
		for k := range cells {
			if comps[k*w] > 0 {
				feeders[k]++
			}
		}
		pad := make([]uint64, len(comps))
		padded := make([]int64, len(comps))
		for j, x := range comps {
			pooled[j] += x
			pad[j] = rng.Uint64()
			padded[j] = int64(uint64(x) + pad[j])
		}
		var in round.Input
		vec := append(append(c.CellCounts(comps), contracts.Contributes(c.CellCounts(comps))...), padded...)
		if in.Ciphertexts, err = privacy.Encrypt(p, pk, vec); err != nil {
			rt.Fatal(err)
		}
		inputs[kpi.OrgID(fmt.Sprintf("p%d", i))] = in
		pads = append(pads, pad)
	}
	sum, err := sumInputs(p, inputs)
	if err != nil {
		rt.Fatal(err)
	}
	var roundShares []privacy.Ciphertexts
	for _, a := range active {
		var mine [][]byte
		for d := range n {
			mine = append(mine, dealt[d][a])
		}
		tk, err := privacy.CombineDealt(p, mine)
		if err != nil {
			rt.Fatal(err)
		}
		d, err := privacy.NewDecryptor(p, tk, a, n, threshold, active)
		if err != nil {
			rt.Fatal(err)
		}
		s, err := d.Share(sum)
		if err != nil {
			rt.Fatal(err)
		}
		roundShares = append(roundShares, s)
	}
	opened, err := openShares(p, c, sum, roundShares)
	if err != nil {
		rt.Fatal(err)
	}
	revealed := make([][]byte, n)
	for i := range n {
		if revealed[i], err = contracts.KeptPads(c, opened, pads[i]); err != nil {
			rt.Fatal(err)
		}
	}
	got, err := contracts.ReleaseOpened(c, opened, revealed)
	if err != nil {
		rt.Fatal(err)
	}
	want, _ := c.Release(pooled)
	for k, cell := range got {
		if pooled[k*w] < 11 || feeders[k] < contracts.MinContributors {
			if !cell.Suppressed || cell.Count != nil {
				rt.Fatalf("cell %d (%d records from %d organisations) released: %+v", k, pooled[k*w], feeders[k], cell)
			}
			if want := contracts.SuppressedMinCohort; pooled[k*w] >= 11 && cell.Reason == want {
				rt.Fatalf("cell %d: %d records from %d organisations suppressed for %s", k, pooled[k*w], feeders[k], want)
			}
			if slices.Contains(opened.Keep, k) || len(opened.Sums) != 8*w*len(opened.Keep) {
				rt.Fatalf("cell %d under the floor opened", k)
			}
			continue
		}
		if cell.Suppressed || *cell.Count != want[k].Count || fmt.Sprint(cell.Value) != fmt.Sprint(want[k].Value) {
			rt.Fatalf("cell %d: released %v %v, pooled %d %v", k, cell.Count, cell.Value, want[k].Count, want[k].Value)
		}
	}
	// An opened sum without the pads says nothing: it is the pooled
	// sum plus the pads, modulo 2^64.
	for i, k := range opened.Keep {
		sum := binary.LittleEndian.Uint64(opened.Sums[8*i*w:])
		for _, pad := range pads {
			sum -= pad[k*w]
		}
		if int64(sum) != pooled[k*w] {
			rt.Fatalf("cell %d: padded count minus the pads is %d, pooled %d", k, int64(sum), pooled[k*w])
		}
	}
}

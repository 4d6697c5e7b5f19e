package contracts

// The round's policy, pure: what a decryptor checks of the inputs it is
// asked to sum, which opened cells are kept, and (rounds_release.go) what
// a release must satisfy. Node applies it; the tests here are its table.

import (
	"encoding/binary"
	"fmt"
	"math/big"
	"slices"

	"github.com/cxnet/cxnet/kpi"
)

// CheckInputs checks the inputs whose sum a decryptor is asked to
// decrypt, given by the participants that fingerprinted theirs against it:
// exactly the inputs round r sealed. The aggregator cannot leave one out
// (to release a subset) or add one. (That each is the input its
// participant registered is the fingerprints' business: node.)
func CheckInputs(r *Round, orgs []kpi.OrgID) error {
	if r.State != RoundSealed {
		return fmt.Errorf("round %s is %s, not sealed: its inputs are not fixed yet", r.ID, r.State)
	}
	if got := slices.Sorted(slices.Values(orgs)); !slices.Equal(got, r.Sealed) {
		return fmt.Errorf("round %s sums the inputs of {%s}, not {%s}: the log fixes them", r.ID, joinOrgs(r.Sealed), joinOrgs(got))
	}
	return nil
}

// MinContributors is the fewest organisations whose records a released
// cell must hold: with one, the cell is that organisation's own; with
// two, each learns the other's by subtracting its own.
const MinContributors = MinReleaseInputs

// Contributes says, for an organisation's own cell counts, which cells it
// feeds (1) and which not (0): summed over the inputs, how many
// organisations feed each cell.
func Contributes(counts []int64) []int64 {
	out := make([]int64, len(counts))
	for i, n := range counts {
		if n > 0 {
			out[i] = 1
		}
	}
	return out
}

// Keep opens what the decryptors of a round of c opened: the cells whose
// count reaches the cohort floor and that at least MinContributors
// organisations feed, their counts, and their components' padded sums
// modulo 2^64 (counts, contributors and sums as opened, in cell and
// component order); and the cells that reach the floor but too few
// organisations feed.
func Keep(c *Contract, counts, contributors, sums []*big.Int) (*kpi.Opened, error) {
	n, w := len(c.Cells()), c.Width()
	if len(counts) != n || len(contributors) != n || len(sums) != n*w {
		return nil, fmt.Errorf("%d counts, %d contributor counts and %d sums for %d cells of %d components", len(counts), len(contributors), len(sums), n, w)
	}
	floor := big.NewInt(int64(c.Privacy.MinCohort))
	enough := big.NewInt(MinContributors)
	mask := new(big.Int).SetUint64(^uint64(0))
	o := &kpi.Opened{Keep: []int{}, Counts: []int64{}, Sums: []byte{}}
	for i, cnt := range counts {
		if cnt.Cmp(floor) < 0 || !cnt.IsInt64() {
			continue
		}
		if contributors[i].Cmp(enough) < 0 {
			o.Few = append(o.Few, i)
			continue
		}
		o.Keep = append(o.Keep, i)
		o.Counts = append(o.Counts, cnt.Int64())
		for j := range w {
			o.Sums = binary.LittleEndian.AppendUint64(o.Sums, new(big.Int).And(sums[i*w+j], mask).Uint64())
		}
	}
	return o, nil
}

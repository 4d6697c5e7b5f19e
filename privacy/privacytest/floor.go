// Package privacytest measures the cryptography of a round in one
// goroutine, for benchmarks that set a round over the network against
// it (node.BenchmarkRound, the root package's BenchmarkE2ERound, the
// simulations): what a round cannot go below.
package privacytest

import (
	"fmt"
	"time"

	"github.com/cxnet/cxnet/privacy"
)

// Floor is the cryptography of a round, measured in one goroutine.
type Floor struct {
	// Round is the mean time of a round; Encrypt, Sum, Share and Open
	// are where it goes: the members' encryptions, the aggregate, the
	// threshold's decryption shares, their combination.
	Round, Encrypt, Sum, Share, Open time.Duration
	// Ciphertexts is how many ciphertexts one input takes; InputBytes
	// their size; ShareBytes one decryptor's decryption share of the
	// sum.
	Ciphertexts, InputBytes, ShareBytes int
}

// PerParticipant is the fewest bytes a participant sends in a round on
// average: its input, plus its share when it is one of the threshold
// decryptors.
func (f Floor) PerParticipant(members, threshold int) float64 {
	return float64(f.InputBytes) + float64(threshold)/float64(members)*float64(f.ShareBytes)
}

// RoundFloor runs rounds rounds' cryptography at parameters p, as the
// nodes do but without network, storage or checks: members participants
// each encrypt a vector of components components (the node's input
// encoding: node/rounds input.go); the aggregate is computed; threshold
// members each give a decryption share of it; the shares are combined,
// and the opened sum is checked. Keys are generated and dealt first,
// untimed (only the threshold members' dealt shares are kept: all of
// them would be members² shares).
func RoundFloor(p privacy.Params, rounds, members, threshold, components int) (Floor, error) {
	seed := make([]byte, privacy.SeedSize)
	sks := make([]*privacy.SecretKey, members)
	var pubs [][]byte
	for i := range sks {
		var err error
		if sks[i], err = privacy.NewSecretKey(p); err != nil {
			return Floor{}, err
		}
		s, err := privacy.PublicKeyShare(p, sks[i], seed)
		if err != nil {
			return Floor{}, err
		}
		pubs = append(pubs, s)
	}
	pk, err := privacy.CollectivePublicKey(p, seed, pubs)
	if err != nil {
		return Floor{}, err
	}
	active := make([]int, threshold)
	dealt := make([][][]byte, threshold)
	for _, sk := range sks {
		shares, err := privacy.Deal(p, sk, threshold, members)
		if err != nil {
			return Floor{}, err
		}
		for j := range active {
			active[j] = j
			dealt[j] = append(dealt[j], shares[j])
		}
	}
	tks := make([]*privacy.ThresholdKey, threshold)
	for j := range active {
		if tks[j], err = privacy.CombineDealt(p, dealt[j]); err != nil {
			return Floor{}, err
		}
	}
	// Components span 64 bits, as padded ones do; the first is 1, so the
	// opened sum's first component is the number of members.
	vec := make([]int64, components)
	for i := range vec {
		vec[i] = int64(uint64(i+1) * 0x9e3779b97f4a7c15)
	}
	if len(vec) > 0 {
		vec[0] = 1
	}
	var f Floor
	lap := func(d *time.Duration, since time.Time) time.Time {
		now := time.Now()
		*d += now.Sub(since)
		return now
	}
	start := time.Now()
	for range rounds {
		t0 := time.Now()
		inputs := make([]privacy.Ciphertexts, members)
		for i := range inputs {
			if inputs[i], err = privacy.Encrypt(p, pk, vec); err != nil {
				return Floor{}, err
			}
		}
		t0 = lap(&f.Encrypt, t0)
		sum, err := privacy.Aggregate(p, inputs)
		if err != nil {
			return Floor{}, err
		}
		t0 = lap(&f.Sum, t0)
		shares := make([]privacy.Ciphertexts, threshold)
		for j, a := range active {
			d, err := privacy.NewDecryptor(p, tks[j], a, members, threshold, active)
			if err != nil {
				return Floor{}, err
			}
			if shares[j], err = d.Share(sum); err != nil {
				return Floor{}, err
			}
		}
		t0 = lap(&f.Share, t0)
		out, err := privacy.Open(p, sum, shares, components)
		if err != nil {
			return Floor{}, err
		}
		lap(&f.Open, t0)
		if len(out) > 0 && out[0].Int64() != int64(members) {
			return Floor{}, fmt.Errorf("privacytest: the floor's sum opened %v, want %d", out[0], members)
		}
		f.Ciphertexts, f.InputBytes, f.ShareBytes = len(inputs[0]), size(inputs[0]), size(shares[0])
	}
	n := time.Duration(max(rounds, 1))
	f.Round = time.Since(start) / n
	f.Encrypt, f.Sum, f.Share, f.Open = f.Encrypt/n, f.Sum/n, f.Share/n, f.Open/n
	return f, nil
}

func size(v privacy.Ciphertexts) int {
	n := 0
	for _, c := range v {
		n += len(c)
	}
	return n
}

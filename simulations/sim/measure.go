package sim

import (
	"bufio"
	"crypto/rand"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/cxnet/cxnet/privacy"
)

// Floor is the cryptography of one round in one goroutine: what a round
// cannot go below.
type Floor struct {
	Seconds float64
	// InputBytes is one participant's encrypted input; ShareBytes one
	// decryptor's decryption shares of the sums.
	InputBytes, ShareBytes int
	// Ciphertexts is how many ciphertexts one input takes.
	Ciphertexts int
}

// PerParticipant is the fewest bytes a participant sends in the round on
// average: its input, plus its shares when it is one of the threshold
// decryptors.
func (f Floor) PerParticipant(members, threshold int) float64 {
	return float64(f.InputBytes) + float64(threshold)/float64(members)*float64(f.ShareBytes)
}

// CryptoFloor times the cryptography of one round of an NPS contract of
// cells cells among members members with a decryption threshold of
// threshold, at the production parameters, with the node's encoding
// (node/round_serve.go newInput): each participant encrypts one vector —
// its cells' counts and whether it feeds each (2 components a cell), then
// its padded components (3 a cell for NPS); the aggregator adds the
// inputs; threshold members each give a decryption share of the sum; the
// shares are combined. Key generation and dealing are done first and not timed.
func CryptoFloor(members, threshold, cells int) (Floor, error) {
	const width = 3 // nps: count, promoters, detractors
	p := privacy.DefaultParams()
	seed := make([]byte, privacy.SeedSize)
	_, _ = rand.Read(seed)
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
	for i := range active {
		active[i] = i
	}
	// Only the active members' threshold keys are needed: keep their
	// dealt shares only (all of them would be members² × 196 KB).
	dealt := make([][][]byte, threshold)
	for _, sk := range sks {
		shares, err := privacy.Deal(p, sk, threshold, members)
		if err != nil {
			return Floor{}, err
		}
		for j := range active {
			dealt[j] = append(dealt[j], shares[j])
		}
	}
	tks := make([]*privacy.ThresholdKey, threshold)
	for j := range active {
		if tks[j], err = privacy.CombineDealt(p, dealt[j]); err != nil {
			return Floor{}, err
		}
	}
	dealt = nil

	vec := make([]int64, 2*cells+width*cells)
	for i := range cells {
		vec[i], vec[cells+i] = 1, 1 // a count of 1, fed
		vec[2*cells+i*width] = 1
	}
	var f Floor
	start := time.Now()
	var inputs []privacy.Ciphertexts
	for range members {
		c, err := privacy.Encrypt(p, pk, vec)
		if err != nil {
			return Floor{}, err
		}
		inputs = append(inputs, c)
	}
	for _, ct := range inputs[0] {
		f.InputBytes += len(ct)
	}
	f.Ciphertexts = len(inputs[0])
	sum, err := privacy.Aggregate(p, inputs)
	if err != nil {
		return Floor{}, err
	}
	var shares []privacy.Ciphertexts
	for j, a := range active {
		d, err := privacy.NewDecryptor(p, tks[j], a, members, threshold, active)
		if err != nil {
			return Floor{}, err
		}
		s, err := d.Share(sum)
		if err != nil {
			return Floor{}, err
		}
		shares = append(shares, s)
		if j == 0 {
			for _, b := range s {
				f.ShareBytes += len(b)
			}
		}
	}
	out, err := privacy.Open(p, sum, shares, len(vec))
	if err != nil {
		return Floor{}, err
	}
	f.Seconds = time.Since(start).Seconds()
	if out[0].Int64() != int64(members) || out[2*cells].Int64() != int64(members) {
		return Floor{}, fmt.Errorf("sim: crypto floor: opened %v and %v, want %d", out[0], out[2*cells], members)
	}
	return f, nil
}

// PeakRSS is the process's peak resident set size (VmHWM), in bytes.
func PeakRSS() (int64, error) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, fmt.Errorf("sim: peak RSS: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("sim: peak RSS: %q: %w", rest, err)
			}
			return kb << 10, nil
		}
	}
	return 0, fmt.Errorf("sim: peak RSS: no VmHWM in /proc/self/status")
}

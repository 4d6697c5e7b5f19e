package privacy

import (
	"fmt"
	"testing"
)

// BenchmarkKeyEpoch is the pure crypto of a whole key epoch among n
// members, one after the other in one goroutine: every secret key, public
// share, collective key (computed by each member, as nodes do), Shamir
// dealing and threshold key. node.BenchmarkKeyEpoch is the same epoch
// over the network; its ratio to this is the protocol's overhead.
func BenchmarkKeyEpoch(b *testing.B) {
	for _, n := range []int{3, 4, 5} {
		b.Run(fmt.Sprintf("members=%d", n), func(b *testing.B) {
			p := DefaultParams()
			seed := make([]byte, SeedSize)
			for b.Loop() {
				sks := make([]*SecretKey, n)
				shares := make([][]byte, n)
				for i := range n {
					sks[i], _ = NewSecretKey(p)
					shares[i], _ = PublicKeyShare(p, sks[i], seed)
				}
				received := make([][][]byte, n)
				for i := range n {
					if _, err := CollectivePublicKey(p, seed, shares); err != nil {
						b.Fatal(err)
					}
					dealt, err := Deal(p, sks[i], n/2+1, n)
					if err != nil {
						b.Fatal(err)
					}
					for j := range n {
						received[j] = append(received[j], dealt[j])
					}
				}
				for j := range n {
					if _, err := CombineDealt(p, received[j]); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}

// BenchmarkRound is the crypto of one round over components cells (one
// ciphertext up to 2048): every member encrypts, the aggregator adds, a
// threshold of members give decryption shares, the shares are combined.
func BenchmarkRound(b *testing.B) {
	for _, n := range []int{3, 5} {
		b.Run(fmt.Sprintf("members=%d", n), func(b *testing.B) {
			e := newEpoch(b, DefaultParams(), n, n/2+1)
			comp := make([]int64, 1024)
			for i := range comp {
				comp[i] = int64(i * 1000)
			}
			active := make([]int, e.t)
			for i := range active {
				active[i] = i
			}
			for b.Loop() {
				inputs := make([]Ciphertexts, n)
				for m := range n {
					var err error
					if inputs[m], err = Encrypt(e.p, e.pk, comp); err != nil {
						b.Fatal(err)
					}
				}
				sum, err := Aggregate(e.p, inputs)
				if err != nil {
					b.Fatal(err)
				}
				e.openWith(b, sum, active, len(comp))
			}
		})
	}
}

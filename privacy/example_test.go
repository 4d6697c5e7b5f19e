package privacy_test

import (
	"crypto/rand"
	"fmt"

	"github.com/cxnet/cxnet/privacy"
)

// Three members set up a key epoch: each draws a secret key share and
// publishes a public-key share computed from the epoch's seed; anyone can
// then aggregate the collective public key, and every member gets the same.
func ExampleCollectivePublicKey() {
	p := privacy.DefaultParams()
	seed := make([]byte, privacy.SeedSize)
	rand.Read(seed)
	var shares [][]byte
	for range 3 {
		sk, _ := privacy.NewSecretKey(p) // stays on its member's node
		share, _ := privacy.PublicKeyShare(p, sk, seed)
		shares = append(shares, share)
	}
	a, _ := privacy.CollectivePublicKey(p, seed, shares)
	b, _ := privacy.CollectivePublicKey(p, seed, [][]byte{shares[2], shares[0], shares[1]})
	fmt.Println(a.Digest() == b.Digest(), privacy.PublicKeyShareSize(p), privacy.DealtShareSize(p))
	// Output: true 196648 196648
}

// Three hospitals add up their cell counts without showing them to anyone:
// each encrypts under the collective key, the aggregator adds the
// ciphertexts, and any two of the three (the threshold) open the sum.
func ExampleOpen() {
	p := privacy.DefaultParams()
	seed := make([]byte, privacy.SeedSize)
	rand.Read(seed)
	const n, t = 3, 2
	sks := make([]*privacy.SecretKey, n)
	var pubShares [][]byte
	for i := range n {
		sks[i], _ = privacy.NewSecretKey(p)
		s, _ := privacy.PublicKeyShare(p, sks[i], seed)
		pubShares = append(pubShares, s)
	}
	pk, _ := privacy.CollectivePublicKey(p, seed, pubShares)
	dealt := make([][][]byte, n) // dealt[j]: the shares member j received
	for i := range n {
		shares, _ := privacy.Deal(p, sks[i], t, n)
		for j := range n {
			dealt[j] = append(dealt[j], shares[j])
		}
	}

	counts := [][]int64{{310, 12}, {402, 7}, {522, 30}} // each hospital's cells
	var inputs []privacy.Ciphertexts
	for _, c := range counts {
		ct, _ := privacy.Encrypt(p, pk, c)
		inputs = append(inputs, ct)
	}
	sum, _ := privacy.Aggregate(p, inputs)

	active := []int{0, 2} // members 0 and 2 decrypt together
	var decShares []privacy.Ciphertexts
	for _, m := range active {
		tk, _ := privacy.CombineDealt(p, dealt[m])
		d, _ := privacy.NewDecryptor(p, tk, m, n, t, active)
		s, _ := d.Share(sum)
		decShares = append(decShares, s)
	}
	total, _ := privacy.Open(p, sum, decShares, 2)
	fmt.Println(total)
	// Output: [1234 49]
}

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

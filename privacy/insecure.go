package privacy

import (
	"fmt"

	"github.com/tuneinsight/lattigo/v5/schemes/bgv"
)

// insecureTestLiteral is DefaultLiteral at ring degree 2^11: the same
// moduli (log QP = 180, where 128-bit security at 2^11 allows about 54),
// the same plaintext modulus (≡ 1 mod 2^12: full packing, 2048 slots).
// It breaks in seconds to minutes. It keeps every code path of the real
// parameters (two ciphertext primes, one special prime, the same value
// range) at about a quarter of the cost, for unit tests.
var insecureTestLiteral = bgv.ParametersLiteral{
	LogN:             11,
	LogQ:             []int{60, 60},
	LogP:             []int{60},
	PlaintextModulus: 0x200080001,
}

// insecureTestPrefix starts the Name of the insecure parameters: a key
// epoch records its parameters' name, and a node (which uses
// DefaultParams) refuses an epoch under any other.
const insecureTestPrefix = "insecure-test/"

// TestInsecureParams returns fast parameters far below 128-bit security,
// for unit tests only (as lattigo's mhe test parameters): anyone can
// decrypt what is encrypted under them. NewParams refuses them
// (ErrInsecure), so no configuration can reach them; their Name starts
// with "insecure-test/", so no node shares a key epoch under them. Tests
// of the real parameters' properties (security, flooding margins),
// integration tests and benchmarks use DefaultParams.
func TestInsecureParams() Params {
	p, err := bgv.NewParametersFromLiteral(insecureTestLiteral)
	if err != nil {
		panic(fmt.Sprintf("privacy: the insecure test parameters do not build: %v", err)) // a programming error, caught by every test
	}
	return Params{Parameters: p, insecure: true}
}

// Insecure reports whether p are TestInsecureParams.
func (p Params) Insecure() bool { return p.insecure }

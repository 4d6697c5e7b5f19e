// Package privacy is cxnet's homomorphic-encryption engine: multiparty BGV
// (lattigo v5 mhe) over the consortium's members. It works on values, like
// lattigo's mhe: no sockets, no disk, no clock. node moves its outputs
// between members and keeps its secrets in the store.
//
// A key epoch gives the members of the consortium one collective public
// key. Every member draws a secret key share s_i; the ideal secret key is
// s = Σ s_i and nobody holds it. From a common random string fixed in the
// governance log (the epoch's seed) every member computes a public-key
// share; the sum of all shares and the common random polynomial make the
// collective public key, under which every member encrypts its aggregates.
// Each member also deals Shamir shares of its s_i, so that any t members
// can later decrypt together (t-of-N), while fewer than t learn nothing.
//
// A decryption reveals, with the sum, the ciphertext's noise, which
// depends on every member's secrets. So each decryption share carries
// flooding noise, uniform and at least 2^MinFloodingMargin times an
// analytic bound on the noise of a sum of fresh encryptions; the t
// shares' floods still fit, with a factor of 2 to spare, under what
// decryption tolerates. FloodingMargin computes the margin, NewDecryptor
// refuses a decryption below it, and NewParams parameters that cannot
// give it to a decryption by all of MaxMembers members (flooding.go).
//
// Parameters: a node uses DefaultParams (2^13, 128-bit). Unit tests that
// do not depend on the real parameters use TestInsecureParams (2^11, far
// below 128 bits, about four times faster), which NewParams refuses and
// whose Name no node's key epoch matches; tests of the real parameters'
// security and flooding margins, integration tests and benchmarks use
// DefaultParams.
//
// privacy must not import protocol, contracts or store: shared types come
// from kpi, and node wires the parts.
package privacy

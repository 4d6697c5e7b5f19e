package privacy

// Results for readers. A contract with readers releases its values to
// them only: each participant seals its pads of the kept cells (and the
// aggregator the opened counts) to every reader's public key, so the log
// holds padded sums — uniformly random to anyone else — and ciphertexts
// only a reader opens. The sealing is HPKE (RFC 9180, crypto/hpke) with a
// hybrid post-quantum KEM: ML-KEM-768 with P-256, HKDF-SHA256 and
// AES-256-GCM, all approved algorithms, so it also runs under
// GODEBUG=fips140=only.

import (
	"crypto/hpke"
	"fmt"
)

// readerSuite is the HPKE suite results are sealed with.
func readerSuite() (hpke.KEM, hpke.KDF, hpke.AEAD) {
	return hpke.MLKEM768P256(), hpke.HKDFSHA256(), hpke.AES256GCM()
}

// ReaderKey is a member's key for results sealed to it.
type ReaderKey struct{ k hpke.PrivateKey }

// NewReaderKey draws a reader key.
func NewReaderKey() (*ReaderKey, error) {
	kem, _, _ := readerSuite()
	k, err := kem.GenerateKey()
	if err != nil {
		return nil, fmt.Errorf("privacy: reader key: %w", err)
	}
	return &ReaderKey{k}, nil
}

// UnmarshalReaderKey decodes a reader key from MarshalBinary's bytes.
func UnmarshalReaderKey(b []byte) (*ReaderKey, error) {
	kem, _, _ := readerSuite()
	k, err := kem.NewPrivateKey(b)
	if err != nil {
		return nil, fmt.Errorf("privacy: reader key: %w", err)
	}
	return &ReaderKey{k}, nil
}

// MarshalBinary encodes the private key (keep it secret).
func (r *ReaderKey) MarshalBinary() ([]byte, error) { return r.k.Bytes() }

// Public is the key others seal results to.
func (r *ReaderKey) Public() []byte { return r.k.PublicKey().Bytes() }

// CheckReaderPublicKey reports whether b is a reader public key.
func CheckReaderPublicKey(b []byte) error {
	kem, _, _ := readerSuite()
	if _, err := kem.NewPublicKey(b); err != nil {
		return fmt.Errorf("privacy: not a reader public key: %w", err)
	}
	return nil
}

// SealTo seals plaintext to the reader whose public key is pub; info binds
// the ciphertext to its context (consortium, round, sender).
func SealTo(pub, info, plaintext []byte) ([]byte, error) {
	kem, kdf, aead := readerSuite()
	pk, err := kem.NewPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("privacy: seal: %w", err)
	}
	ct, err := hpke.Seal(pk, kdf, aead, info, plaintext)
	if err != nil {
		return nil, fmt.Errorf("privacy: seal: %w", err)
	}
	return ct, nil
}

// Open opens a ciphertext sealed to this reader with the same info.
func (r *ReaderKey) Open(info, ciphertext []byte) ([]byte, error) {
	_, kdf, aead := readerSuite()
	pt, err := hpke.Open(r.k, kdf, aead, info, ciphertext)
	if err != nil {
		return nil, fmt.Errorf("privacy: open sealed result: %w", err)
	}
	return pt, nil
}

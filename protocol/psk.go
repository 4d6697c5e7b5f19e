package protocol

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/libp2p/go-libp2p/core/pnet"
)

// PSKSize is the length of a private-network pre-shared key.
const PSKSize = 32

// A private-network PSK encrypts every connection with a key the whole
// consortium shares. It is defence in depth only: one secret for all, no
// per-member revocation, TCP only. The allow-list and TLS identities do the
// real access control.

// GeneratePSK returns a fresh random PSK.
func GeneratePSK() ([]byte, error) {
	psk := make([]byte, PSKSize)
	if _, err := rand.Read(psk); err != nil {
		return nil, fmt.Errorf("protocol: generate psk: %w", err)
	}
	return psk, nil
}

// EncodePSK renders psk as 64 hex digits, the form ParsePSK reads.
func EncodePSK(psk []byte) string { return hex.EncodeToString(psk) }

// ParsePSK reads a PSK written as 64 hex digits or as a libp2p swarm.key
// file ("/key/swarm/psk/1.0.0/" header). Surrounding white space is ignored.
func ParsePSK(s string) ([]byte, error) {
	t := strings.TrimSpace(s)
	if strings.HasPrefix(t, "/key/swarm/psk/") {
		psk, err := pnet.DecodeV1PSK(bytes.NewReader([]byte(t)))
		if err != nil {
			return nil, fmt.Errorf("protocol: psk: not a valid swarm.key: %w", err)
		}
		if len(psk) != PSKSize {
			return nil, fmt.Errorf("protocol: psk: swarm.key holds %d bytes, want %d", len(psk), PSKSize)
		}
		return psk, nil
	}
	psk, err := hex.DecodeString(t)
	if err != nil || len(psk) != PSKSize {
		return nil, errors.New("protocol: psk: want 64 hex digits (as printed by `cxnet consortium create --psk`) or a swarm.key file")
	}
	return psk, nil
}

// PSKFingerprint is a short, non-secret digest of psk that operators can
// compare between nodes (logs, error messages) without revealing the key.
func PSKFingerprint(psk []byte) string {
	if len(psk) == 0 {
		return "none"
	}
	sum := sha256.Sum256(append([]byte("cxnet/psk-fingerprint/v1\x00"), psk...))
	return hex.EncodeToString(sum[:4])
}

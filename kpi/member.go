package kpi

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
)

// Member is an organisation's member descriptor: who it is, the libp2p
// peer its node runs as, where to reach it, and the public key its
// governance board signs with. `cxnet identity --json` prints it and
// `cxnet consortium admit` reads it. Signature is the governance key's
// Ed25519 signature over SigningBytes.
type Member struct {
	Org           OrgID    `json:"org"`
	Name          string   `json:"name"`
	Kind          string   `json:"kind"`
	PeerID        string   `json:"peer_id"`
	Addrs         []string `json:"addrs"`
	GovernanceKey string   `json:"governance_key"` // base64 (std) of the Ed25519 public key
	Signature     string   `json:"signature"`      // base64 (std)
}

// memberSigningContext separates descriptor signatures from any other
// signature made with a governance key.
const memberSigningContext = "cxnet/member/v1\x00"

// SigningBytes is what the signature covers: a context string and the
// descriptor's JSON without the signature.
func (m Member) SigningBytes() []byte {
	m.Signature = ""
	b, _ := json.Marshal(m) // struct fields in fixed order: deterministic
	return append([]byte(memberSigningContext), b...)
}

// PublicKey decodes the governance key.
func (m Member) PublicKey() (ed25519.PublicKey, error) {
	k, err := base64.StdEncoding.DecodeString(m.GovernanceKey)
	if err != nil || len(k) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("member %s: governance_key is not a base64 Ed25519 public key", m.Org)
	}
	return ed25519.PublicKey(k), nil
}

// Sign fills the governance key and signature from priv.
func (m *Member) Sign(priv ed25519.PrivateKey) {
	m.GovernanceKey = base64.StdEncoding.EncodeToString(priv.Public().(ed25519.PublicKey))
	m.Signature = base64.StdEncoding.EncodeToString(ed25519.Sign(priv, m.SigningBytes()))
}

// ErrBadSignature is returned when a signature does not verify.
var ErrBadSignature = errors.New("signature does not verify")

// Verify checks the descriptor's signature against its own governance key.
func (m Member) Verify() error {
	pub, err := m.PublicKey()
	if err != nil {
		return err
	}
	sig, err := base64.StdEncoding.DecodeString(m.Signature)
	if err != nil || !ed25519.Verify(pub, m.SigningBytes(), sig) {
		return fmt.Errorf("member %s: descriptor %w (was it edited after `cxnet identity`?)", m.Org, ErrBadSignature)
	}
	return nil
}

package contracts

import (
	"crypto/ed25519"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"

	"github.com/cxnet/cxnet/kpi"
)

// ParseGovernanceKey reads a governance private key as a node's home and
// `cxnet init` keep it: PKCS#8 PEM ("PRIVATE KEY") of an Ed25519 key.
func ParseGovernanceKey(keyPEM []byte) (ed25519.PrivateKey, error) {
	blk, _ := pem.Decode(keyPEM)
	if blk == nil || blk.Type != "PRIVATE KEY" {
		return nil, errors.New("not a PEM PRIVATE KEY (PKCS#8)")
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("not a PKCS#8 private key: %w", err)
	}
	ek, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("the key is %T; a governance key is Ed25519", k)
	}
	return ek, nil
}

// SignContractApproval signs, outside any daemon, org's approval of a
// contract version with a board member's own governance key (keyPEM, as
// ParseGovernanceKey reads it): the entry `cxnet contract approve --key`
// hands the node to submit. The key must be the one the consortium knows
// for org, or the state machine refuses the entry.
func SignContractApproval(keyPEM []byte, org kpi.OrgID, consortiumID string, approval ContractApprove) ([]byte, error) {
	key, err := ParseGovernanceKey(keyPEM)
	if err != nil {
		return nil, fmt.Errorf("governance key: %w", err)
	}
	return Sign(EntryContractApprove, approval, org, key, consortiumID)
}

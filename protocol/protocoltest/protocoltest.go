// Package protocoltest has helpers for tests of cxnet's wire protocols:
// real libp2p hosts on loopback, closed when the test ends. It is for tests
// only and imports protocol.
package protocoltest

import (
	"crypto/rand"
	"testing"

	"github.com/libp2p/go-libp2p/core/crypto"

	"github.com/cxnet/cxnet/protocol"
)

// NewHost starts a host with a fresh Ed25519 identity on a free loopback
// port, admitting the peers members allows.
func NewHost(t testing.TB, members protocol.Members) *protocol.Host {
	t.Helper()
	key, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	h, err := protocol.NewHost(protocol.HostConfig{Key: key, Listen: []string{"/ip4/127.0.0.1/tcp/0"}, Members: members}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Close() })
	return h
}

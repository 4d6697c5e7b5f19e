// Package home is a node's home directory on disk and the secrets in it:
// the libp2p identity key, the governance key, the store's encryption
// and pseudonym keys, the API token, the reader key and the consortium's
// private-network key, each 0600 in a 0700 directory and checked for it
// when loaded. The config file beside them is package node's.
package home

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/cxnet/cxnet/node/client"
	"github.com/cxnet/cxnet/privacy"
)

// Files in a node's home. Keys are 0600 in a 0700 directory.
const (
	keysDir           = "keys"
	nodeKeyFile       = "keys/node.key"       // Ed25519, PKCS#8 PEM: the libp2p identity
	governanceKeyFile = "keys/governance.key" // Ed25519, PKCS#8 PEM: signs governance entries
	storeKeyFile      = "keys/store.key"      // AES-256 key Badger encrypts with (hex)
	subjectKeyFile    = "keys/subject.key"    // HMAC key subjects are pseudonymised with (hex)
	pskFile           = "keys/consortium.psk" // optional private-network key of the consortium (hex)
	readerKeyFile     = "keys/reader.key"     // HPKE key results for this organisation are sealed to (hex)
	// DataDir holds the node's store.
	DataDir = "data"
)

// Home is a node's home directory with its keys loaded.
type Home struct {
	Dir           string
	NodeKey       crypto.PrivKey
	PeerID        peer.ID
	GovernanceKey ed25519.PrivateKey
	StoreKey      []byte
	SubjectKey    []byte
	// ReaderKey opens results of contracts this organisation reads,
	// sealed to it (privacy.SealTo).
	ReaderKey *privacy.ReaderKey
	Token     string
}

// Create makes dir a node's home: it draws the node identity key, the
// governance key, the store encryption key, the pseudonym key and the
// API token, and loads them. dir must be new or empty.
func Create(dir string) (*Home, error) {
	if entries, err := os.ReadDir(dir); err == nil && len(entries) > 0 {
		return nil, fmt.Errorf("%s exists and is not empty; give cxnet init a new or empty directory", dir)
	}
	if err := os.MkdirAll(filepath.Join(dir, keysDir), 0o700); err != nil {
		return nil, fmt.Errorf("create home: %w", err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return nil, err
	}
	_, nodePriv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	_, govPriv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	files := []struct {
		name string
		data []byte
	}{
		{nodeKeyFile, pemKey(nodePriv)},
		{governanceKeyFile, pemKey(govPriv)},
		{storeKeyFile, hexSecret(32)},
		{subjectKeyFile, hexSecret(32)},
		{client.TokenFile, hexSecret(32)},
	}
	for _, f := range files {
		if err := writeSecret(filepath.Join(dir, f.name), f.data); err != nil {
			return nil, err
		}
	}
	return Load(dir)
}

// Load reads a home's keys, checking that secrets are not readable by
// others.
func Load(dir string) (*Home, error) {
	h := &Home{Dir: dir}
	read := func(name string) ([]byte, error) {
		path := filepath.Join(dir, name)
		fi, err := os.Stat(path)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return nil, fmt.Errorf("%s is missing: is %s a cxnet home? (create one with `cxnet init`)", path, dir)
			}
			return nil, err
		}
		if fi.Mode().Perm()&0o077 != 0 {
			return nil, fmt.Errorf("%s is readable by others (mode %v); run `chmod 600 %s`", path, fi.Mode().Perm(), path)
		}
		return os.ReadFile(path)
	}
	b, err := read(nodeKeyFile)
	if err != nil {
		return nil, err
	}
	nodePriv, err := ParseKey(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", nodeKeyFile, err)
	}
	if h.NodeKey, err = crypto.UnmarshalEd25519PrivateKey(nodePriv); err != nil {
		return nil, fmt.Errorf("%s: %w", nodeKeyFile, err)
	}
	if h.PeerID, err = peer.IDFromPrivateKey(h.NodeKey); err != nil {
		return nil, err
	}
	if b, err = read(governanceKeyFile); err != nil {
		return nil, err
	}
	if h.GovernanceKey, err = ParseKey(b); err != nil {
		return nil, fmt.Errorf("%s: %w", governanceKeyFile, err)
	}
	if h.StoreKey, err = readHexSecret(read, storeKeyFile); err != nil {
		return nil, err
	}
	if h.SubjectKey, err = readHexSecret(read, subjectKeyFile); err != nil {
		return nil, err
	}
	tok, err := read(client.TokenFile)
	if err != nil {
		return nil, err
	}
	h.Token = strings.TrimSpace(string(tok))
	if h.ReaderKey, err = loadReaderKey(dir, read); err != nil {
		return nil, err
	}
	return h, nil
}

// loadReaderKey reads the home's reader key, drawing one the first time
// (a home made before reader keys existed gets one on its next start).
func loadReaderKey(dir string, read func(string) ([]byte, error)) (*privacy.ReaderKey, error) {
	if _, err := os.Stat(filepath.Join(dir, readerKeyFile)); errors.Is(err, os.ErrNotExist) {
		k, err := privacy.NewReaderKey()
		if err != nil {
			return nil, err
		}
		b, err := k.MarshalBinary()
		if err != nil {
			return nil, err
		}
		if err := writeSecret(filepath.Join(dir, readerKeyFile), []byte(hex.EncodeToString(b)+"\n")); err != nil {
			return nil, fmt.Errorf("%s: %w", readerKeyFile, err)
		}
	}
	b, err := read(readerKeyFile)
	if err != nil {
		return nil, err
	}
	raw, err := hex.DecodeString(strings.TrimSpace(string(b)))
	if err != nil {
		return nil, fmt.Errorf("%s: not hex", readerKeyFile)
	}
	k, err := privacy.UnmarshalReaderKey(raw)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", readerKeyFile, err)
	}
	return k, nil
}

func pemKey(k ed25519.PrivateKey) []byte {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		panic(err) // ed25519 keys always marshal
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

// ParseKey parses an Ed25519 private key in PKCS#8 PEM, as the home
// keeps its keys.
func ParseKey(b []byte) (ed25519.PrivateKey, error) {
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "PRIVATE KEY" {
		return nil, errors.New("not a PEM PRIVATE KEY")
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, err
	}
	ek, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("key is %T, want Ed25519", k)
	}
	return ek, nil
}

func hexSecret(n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return []byte(hex.EncodeToString(b) + "\n")
}

func readHexSecret(read func(string) ([]byte, error), name string) ([]byte, error) {
	b, err := read(name)
	if err != nil {
		return nil, err
	}
	k, err := hex.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(k) < 32 {
		return nil, fmt.Errorf("%s: want 32 bytes in hex", name)
	}
	return k, nil
}

func writeSecret(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// PSK returns the consortium's private-network key, nil when the
// consortium uses none.
func (h *Home) PSK() ([]byte, error) {
	path := filepath.Join(h.Dir, pskFile)
	fi, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("%s is readable by others (mode %v); run `chmod 600 %s`", path, fi.Mode().Perm(), path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	k, err := hex.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(k) != 32 {
		return nil, fmt.Errorf("%s: want a 32-byte key in hex (as `cxnet consortium create --psk` prints)", path)
	}
	return k, nil
}

// SetPSK stores the consortium's private-network key.
func (h *Home) SetPSK(psk []byte) error {
	path := filepath.Join(h.Dir, pskFile)
	os.Remove(path)
	return writeSecret(path, []byte(hex.EncodeToString(psk)+"\n"))
}

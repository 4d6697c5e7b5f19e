package contracts

// Governance log entries: what a board member signs and the raft log
// carries. An entry is
//
//	type:1 | version:1 | payload
//
// where payload is the JSON of a Signed envelope. The type byte comes
// first so that a node can tell an entry kind it does not know (written by
// a newer node) and skip it; types are never renumbered. The bytes of
// every type, and of a snapshot (snapshot.go), are pinned by golden files
// in testdata (TestEntryGolden, TestSnapshotGolden; refresh with -update,
// deliberately: running consortiums hold these bytes).

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strconv"
	"time"

	"github.com/cxnet/cxnet/kpi"
)

// EntryType is the first byte of a governance entry.
type EntryType uint8

// The entry types. They are written to the replicated log: never renumber
// them, only add new ones.
const (
	EntryGenesis         EntryType = 1  // Genesis: founds the consortium
	EntryAdmitPropose    EntryType = 2  // AdmitPropose: propose admitting a member
	EntryAdmitApprove    EntryType = 3  // AdmitApprove: approve a pending member
	EntryContractPropose EntryType = 4  // ContractPropose: propose a contract or a new version
	EntryContractApprove EntryType = 5  // ContractApprove: a participant approves
	EntryContractReject  EntryType = 6  // ContractReject: a participant rejects
	EntryContractRetire  EntryType = 7  // ContractRetire: retire a contract
	EntryKeysOpen        EntryType = 8  // KeysOpen: open a key epoch
	EntryKeysShare       EntryType = 9  // KeysShare: a member's public-key share
	EntryRoundOpen       EntryType = 10 // RoundOpen: open a KPI round
	EntryRoundInput      EntryType = 11 // RoundInput: a participant's encrypted input is registered
	EntryRoundRelease    EntryType = 12 // RoundRelease: a round's released result
	EntryKeysCommit      EntryType = 13 // KeysCommit: a member commits to its public-key share
	EntryRoundSeal       EntryType = 14 // RoundSeal: a round's set of inputs is fixed
	EntryRoundFail       EntryType = 15 // RoundFail: a round failed, and why
)

// EntryVersion is the envelope version this node writes and understands.
// An entry of a known type with another version is treated like an entry
// of an unknown type: this node is too old for it and skips it.
const EntryVersion = 1

// Limits on entries.
const (
	MaxEntrySize  = 4 << 20 // bytes of an encoded entry
	MaxNonceLen   = 128     // bytes of a nonce
	MaxReasonLen  = 1000    // bytes of a rejection reason
	MaxKeyShare   = 1 << 20 // bytes of a public-key share
	maxGovNameLen = 200     // bytes of a consortium or member name
	maxPeerIDLen  = 128
	maxAddrs      = 32
	maxAddrLen    = 512
	nonceBytes    = 16
	signedContext = "cxnet/gov/v1\x00"
)

// entryKinds names every known entry type and makes its zero body.
var entryKinds = map[EntryType]struct {
	name    string
	newBody func() entryBody
}{
	EntryGenesis:         {"consortium.genesis", func() entryBody { return new(Genesis) }},
	EntryAdmitPropose:    {"member.propose", func() entryBody { return new(AdmitPropose) }},
	EntryAdmitApprove:    {"member.approve", func() entryBody { return new(AdmitApprove) }},
	EntryContractPropose: {"contract.propose", func() entryBody { return new(ContractPropose) }},
	EntryContractApprove: {"contract.approve", func() entryBody { return new(ContractApprove) }},
	EntryContractReject:  {"contract.reject", func() entryBody { return new(ContractReject) }},
	EntryContractRetire:  {"contract.retire", func() entryBody { return new(ContractRetire) }},
	EntryKeysOpen:        {"keys.open", func() entryBody { return new(KeysOpen) }},
	EntryKeysShare:       {"keys.share", func() entryBody { return new(KeysShare) }},
	EntryRoundOpen:       {"round.open", func() entryBody { return new(RoundOpen) }},
	EntryRoundInput:      {"round.input", func() entryBody { return new(RoundInput) }},
	EntryRoundRelease:    {"round.release", func() entryBody { return new(RoundRelease) }},
	EntryKeysCommit:      {"keys.commit", func() entryBody { return new(KeysCommit) }},
	EntryRoundSeal:       {"round.seal", func() entryBody { return new(RoundSeal) }},
	EntryRoundFail:       {"round.fail", func() entryBody { return new(RoundFail) }},
}

// entryBody is what every entry body is: it carries a Header and names the
// object it is about (for the audit log).
type entryBody interface {
	header() *Header
	object() string
}

// String names the entry type as the audit log does ("contract.approve"),
// or "unknown(9)".
func (t EntryType) String() string {
	if k, ok := entryKinds[t]; ok {
		return k.name
	}
	return "unknown(" + strconv.Itoa(int(t)) + ")"
}

// Known reports whether this node understands entries of type t.
func (t EntryType) Known() bool {
	_, ok := entryKinds[t]
	return ok
}

// Header is carried by every entry body.
type Header struct {
	// Time is the signer's clock when it signed. It is informative only
	// (shown in the audit log); the state machine never reads a clock.
	Time time.Time `json:"time"`
	// Nonce is random, so that two entries with the same content have
	// different signatures.
	Nonce string `json:"nonce"`
}

func (h *Header) header() *Header { return h }

func (b *Genesis) object() string         { return b.Name }
func (b *AdmitPropose) object() string    { return string(b.Member.Org) }
func (b *AdmitApprove) object() string    { return string(b.Org) }
func (b *ContractApprove) object() string { return string(b.ID) }
func (b *ContractReject) object() string  { return string(b.ID) }
func (b *ContractRetire) object() string  { return string(b.ID) }
func (b *KeysOpen) object() string        { return "epoch " + strconv.FormatUint(b.Epoch, 10) }
func (b *KeysShare) object() string       { return "epoch " + strconv.FormatUint(b.Epoch, 10) }
func (b *KeysCommit) object() string      { return "epoch " + strconv.FormatUint(b.Epoch, 10) }
func (b *RoundSeal) object() string       { return string(b.Round) }
func (b *RoundFail) object() string       { return string(b.Round) }
func (b *RoundOpen) object() string       { return string(b.Contract) }
func (b *RoundInput) object() string      { return string(b.Round) }
func (b *RoundRelease) object() string    { return string(b.Round) }

// object is the proposed contract's id, read best effort from its
// canonical form (the entry may be refused for not parsing).
func (b *ContractPropose) object() string {
	var c struct{ ID string }
	_ = json.Unmarshal(b.Contract, &c)
	return c.ID
}

// Genesis founds a consortium. It is the first entry of the log, signed by
// the founder's governance key. The consortium's creation time is the
// entry's Time.
type Genesis struct {
	Header
	Name          string     `json:"name"`
	MinCohort     int        `json:"min_cohort"`     // floor for every contract's privacy.min_cohort; 0: DefaultMinCohort
	AdmissionRule string     `json:"admission_rule"` // "majority" (the only rule); "": majority
	Founder       kpi.Member `json:"founder"`
}

// AdmitPropose proposes admitting a member. It counts as the proposer's
// approval.
type AdmitPropose struct {
	Header
	Member kpi.Member `json:"member"`
}

// AdmitApprove approves a pending member. DescriptorHash is
// DescriptorHash of the descriptor the approver reviewed.
type AdmitApprove struct {
	Header
	Org            kpi.OrgID `json:"org"`
	DescriptorHash string    `json:"descriptor_hash"`
}

// ContractPropose proposes a contract, or a new version of one. Contract
// is the contract's canonical form (Contract.Canonical) and Hash its
// Contract.Hash. It counts as the proposer's approval when the proposer is
// a participant.
type ContractPropose struct {
	Header
	Contract json.RawMessage `json:"contract"`
	Hash     string          `json:"hash"`
}

// ContractApprove approves the current version of a contract. Version and
// Hash must name the current version: an approval of an older version is
// refused.
type ContractApprove struct {
	Header
	ID      kpi.ContractID `json:"id"`
	Version int            `json:"version"`
	Hash    string         `json:"hash"`
}

// ContractReject rejects the current version of a contract, saying why.
type ContractReject struct {
	Header
	ID      kpi.ContractID `json:"id"`
	Version int            `json:"version"`
	Hash    string         `json:"hash"`
	Reason  string         `json:"reason"`
}

// ContractRetire retires the current version of a contract.
type ContractRetire struct {
	Header
	ID      kpi.ContractID `json:"id"`
	Version int            `json:"version"`
}

// KeysOpen opens key epoch Epoch for Members, every admitted member in
// sorted order: each of them is to publish a public-key share computed
// from Seed (hex, 32 bytes: the key of the common random string) under the
// homomorphic parameters named Params, and to deal Shamir shares of
// threshold Threshold to the others. A member's Shamir point is its
// position in Members plus one.
type KeysOpen struct {
	Header
	Epoch     uint64      `json:"epoch"`
	Members   []kpi.OrgID `json:"members"`
	Threshold int         `json:"threshold"`
	Seed      string      `json:"seed"`
	Params    string      `json:"params"`
}

// KeysCommit commits the signer to its public-key share for key epoch
// Epoch before any share of the epoch is revealed: Digest is
// KeyShareDigest of the share. A member that saw the others' shares could
// otherwise choose its own so that the collective key is one it alone
// holds (a rogue-key attack); bound by a commitment made before any share
// is seen, its share cannot depend on the others'.
//
// ReaderKey is the member's public key for results sealed to it (results
// of contracts it reads: privacy.SealTo). It is public; the state records
// it with the epoch.
type KeysCommit struct {
	Header
	Epoch     uint64 `json:"epoch"`
	Digest    string `json:"digest"`
	ReaderKey []byte `json:"reader_key"`
}

// KeysShare is the signer's public-key share for key epoch Epoch. It is
// public: it reveals nothing of the signer's secret key share. It is
// accepted only once every member has committed (KeysCommit), and only
// when it matches the signer's commitment.
type KeysShare struct {
	Header
	Epoch uint64 `json:"epoch"`
	Share []byte `json:"share"`
}

// Signed is the payload of an entry: who signed, the body's JSON as
// signed, and the Ed25519 signature over SigningBytes.
type Signed struct {
	Org  kpi.OrgID       `json:"org"`
	Body json.RawMessage `json:"body"`
	Sig  []byte          `json:"sig"`
}

// Entry is a decoded governance entry.
type Entry struct {
	Type    EntryType
	Version uint8
	Signed
	// Value is the decoded body: *Genesis, *AdmitPropose, *AdmitApprove,
	// *ContractPropose, *ContractApprove, *ContractReject,
	// *ContractRetire, *KeysOpen, *KeysCommit, *KeysShare, *RoundOpen,
	// *RoundInput, *RoundSeal, *RoundRelease or *RoundFail. It is nil when the type or version is unknown
	// (Known reports false); Signed is then empty too.
	Value any
}

// Known reports whether this node understands the entry.
func (e *Entry) Known() bool { return e.Type.Known() && e.Version == EntryVersion }

// SigningBytes is what a governance signature covers:
//
//	"cxnet/gov/v1\x00" | type:1 | consortium id | body
//
// consortiumID is "" for the genesis and the consortium's id (the hex
// SHA-256 of the genesis entry) otherwise, so that an entry signed for one
// consortium does not verify in another. The id is empty or 64 hex digits
// and the body a JSON object, so the concatenation is unambiguous.
func SigningBytes(t EntryType, consortiumID string, body []byte) []byte {
	b := make([]byte, 0, len(signedContext)+1+len(consortiumID)+len(body))
	b = append(b, signedContext...)
	b = append(b, byte(t))
	b = append(b, consortiumID...)
	return append(b, body...)
}

// Sign encodes and signs a governance entry for the consortium
// consortiumID ("" for a genesis). For a known type, body must be that
// type's body (Genesis for EntryGenesis …, as a value or a pointer); its
// Time and Nonce are filled from the clock and crypto/rand when zero (set
// them to control them). The caller's body is not modified. For an unknown
// type (only useful in tests) body is encoded as is.
func Sign(t EntryType, body any, org kpi.OrgID, key ed25519.PrivateKey, consortiumID string) ([]byte, error) {
	if t == 0 {
		return nil, errors.New("contracts: sign entry: type 0 is reserved")
	}
	if len(key) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("contracts: sign %s: the key is not an Ed25519 private key (%d bytes)", t, len(key))
	}
	if t.Known() {
		v, err := bodyCopy(t, body)
		if err != nil {
			return nil, err
		}
		h := v.(entryBody).header()
		if h.Time.IsZero() {
			h.Time = time.Now().UTC().Truncate(time.Millisecond)
		}
		if h.Nonce == "" {
			var n [nonceBytes]byte
			_, _ = rand.Read(n[:]) // never fails (crypto/rand, Go 1.24+)
			h.Nonce = hex.EncodeToString(n[:])
		}
		body = v
	}
	bodyJSON, err := json.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("contracts: sign %s: %w", t, err)
	}
	sig := ed25519.Sign(key, SigningBytes(t, consortiumID, bodyJSON))
	payload, err := json.Marshal(Signed{Org: org, Body: bodyJSON, Sig: sig})
	if err != nil {
		return nil, fmt.Errorf("contracts: sign %s: %w", t, err)
	}
	out := append([]byte{byte(t), EntryVersion}, payload...)
	if len(out) > MaxEntrySize {
		return nil, fmt.Errorf("contracts: sign %s: the entry is %d bytes; at most %d fit the log", t, len(out), MaxEntrySize)
	}
	return out, nil
}

// newBody returns a pointer to a zero body of a known type, or nil.
func newBody(t EntryType) any {
	if k, ok := entryKinds[t]; ok {
		return k.newBody()
	}
	return nil
}

// bodyCopy returns a pointer to a copy of body (a value or a pointer),
// checking it is the body of type t.
func bodyCopy(t EntryType, body any) (any, error) {
	want := newBody(t)
	v := reflect.ValueOf(body)
	if v.Kind() == reflect.Pointer && !v.IsNil() {
		v = v.Elem()
	}
	if want == nil || !v.IsValid() || v.Type() != reflect.TypeOf(want).Elem() {
		return nil, fmt.Errorf("contracts: sign %s: body is %T, want %T", t, body, want)
	}
	reflect.ValueOf(want).Elem().Set(v)
	return want, nil
}

// DecodeEntry decodes a governance entry. It checks the form only (sizes,
// JSON, a signature of the right length); signatures and rules are checked
// by State.Apply. An entry of an unknown type or version decodes to an
// Entry with Type and Version set and nothing else (Known reports false),
// not to an error. It never panics.
func DecodeEntry(b []byte) (*Entry, error) {
	switch {
	case len(b) > MaxEntrySize:
		return nil, fmt.Errorf("entry is %d bytes; at most %d are allowed", len(b), MaxEntrySize)
	case len(b) < 2:
		return nil, errors.New("entry is too short: it needs a type and a version byte")
	case b[0] == 0:
		return nil, errors.New("entry type 0 is reserved")
	}
	e := &Entry{Type: EntryType(b[0]), Version: b[1]}
	if !e.Known() {
		return e, nil
	}
	if err := decodeStrict(b[2:], &e.Signed); err != nil {
		return nil, fmt.Errorf("%s entry: %w", e.Type, err)
	}
	switch {
	case e.Org == "":
		return nil, fmt.Errorf("%s entry: org is missing", e.Type)
	case len(e.Sig) != ed25519.SignatureSize:
		return nil, fmt.Errorf("%s entry: sig is %d bytes, not an Ed25519 signature", e.Type, len(e.Sig))
	}
	v := newBody(e.Type)
	if err := decodeStrict(e.Body, v); err != nil {
		return nil, fmt.Errorf("%s entry: body: %w", e.Type, err)
	}
	h := v.(entryBody).header()
	if h.Nonce == "" || len(h.Nonce) > MaxNonceLen {
		return nil, fmt.Errorf("%s entry: body: nonce must have 1 to %d bytes (got %d)", e.Type, MaxNonceLen, len(h.Nonce))
	}
	e.Value = v
	return e, nil
}

// decodeStrict decodes one JSON object into v, refusing unknown fields and
// trailing data.
func decodeStrict(data []byte, v any) error {
	data = bytes.TrimSpace(data)
	if len(data) == 0 || data[0] != '{' {
		return errors.New("not a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("trailing data after the JSON object")
	}
	return nil
}

// DescriptorHash returns "sha256:" and the hex SHA-256 of a member
// descriptor's JSON (signature included). An AdmitApprove names it, so an
// approval applies to exactly the descriptor its signer reviewed.
func DescriptorHash(m kpi.Member) string {
	b, _ := json.Marshal(m) // fixed fields: never fails, deterministic
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

package contracts

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/cxnet/cxnet/kpi"
)

func TestSignDecodeRoundTrip(t *testing.T) {
	c := govContract(t, contractYAML("nps-diabetes", 1, []*testOrg{orgA, orgB}, "all", 11))
	tests := []struct {
		name string
		typ  EntryType
		body any
	}{
		{"genesis", EntryGenesis, Genesis{Name: "N", MinCohort: 11, AdmissionRule: AdmissionMajority, Founder: orgA.desc}},
		{"admit propose", EntryAdmitPropose, &AdmitPropose{Member: orgB.desc}},
		{"admit approve", EntryAdmitApprove, AdmitApprove{Org: orgB.id, DescriptorHash: DescriptorHash(orgB.desc)}},
		{"contract propose", EntryContractPropose, ContractPropose{Contract: c.Canonical(), Hash: c.Hash()}},
		{"contract approve", EntryContractApprove, ContractApprove{ID: c.ID, Version: 1, Hash: c.Hash()}},
		{"contract reject with characters JSON escapes", EntryContractReject,
			ContractReject{ID: c.ID, Version: 1, Hash: c.Hash(), Reason: "<b>&amp;\u2028\"quoted\"\x01 é"}},
		{"contract retire", EntryContractRetire, &ContractRetire{ID: c.ID, Version: 1}},
	}
	const cid = "3f2c1e0b9a8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d9c8b7a6f5e4d3c2b"
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			orig := fmt.Sprintf("%+v", tc.body)
			raw, err := Sign(tc.typ, tc.body, orgA.id, orgA.key, cid)
			if err != nil {
				t.Fatal(err)
			}
			if got := fmt.Sprintf("%+v", tc.body); got != orig {
				t.Fatalf("Sign changed the caller's body: %s", got)
			}
			if raw[0] != byte(tc.typ) || raw[1] != EntryVersion {
				t.Fatalf("header % x", raw[:2])
			}
			e, err := DecodeEntry(raw)
			if err != nil {
				t.Fatal(err)
			}
			if !e.Known() || e.Org != orgA.id || reflect.TypeOf(e.Value) != reflect.TypeOf(newBody(tc.typ)) {
				t.Fatalf("entry %+v", e)
			}
			if !ed25519.Verify(orgA.key.Public().(ed25519.PublicKey), SigningBytes(tc.typ, cid, e.Body), e.Sig) {
				t.Fatal("the signature does not verify over the body as decoded")
			}
			h := e.Value.(interface{ header() *Header }).header()
			if len(h.Nonce) != 2*nonceBytes || h.Time.IsZero() || time.Since(h.Time) > time.Hour {
				t.Fatalf("header not stamped: %+v", h)
			}
			// The decoded body is the signed body.
			want := reflect.ValueOf(tc.body)
			if want.Kind() == reflect.Pointer {
				want = want.Elem()
			}
			got := reflect.New(want.Type())
			got.Elem().Set(want)
			got.Elem().FieldByName("Header").Set(reflect.ValueOf(*h))
			if tc.typ == EntryContractPropose { // RawMessage: compare as bytes
				if !bytes.Equal(e.Value.(*ContractPropose).Contract, c.Canonical()) {
					t.Fatalf("contract bytes changed:\n%s\n%s", e.Value.(*ContractPropose).Contract, c.Canonical())
				}
				return
			}
			if !reflect.DeepEqual(got.Interface(), e.Value) {
				t.Fatalf("decoded %+v\nwant    %+v", e.Value, got.Interface())
			}
		})
	}
}

func TestSignKeepsGivenHeader(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	raw, err := Sign(EntryContractRetire, ContractRetire{Header: Header{Time: at, Nonce: "n-1"}, ID: "x-y-z", Version: 1}, orgA.id, orgA.key, "")
	if err != nil {
		t.Fatal(err)
	}
	e, _ := DecodeEntry(raw)
	if h := e.Value.(*ContractRetire).Header; !h.Time.Equal(at) || h.Nonce != "n-1" {
		t.Fatalf("header %+v", h)
	}
	again, _ := Sign(EntryContractRetire, ContractRetire{Header: Header{Time: at, Nonce: "n-1"}, ID: "x-y-z", Version: 1}, orgA.id, orgA.key, "")
	if !bytes.Equal(raw, again) {
		t.Fatal("signing is not deterministic for a fixed header")
	}
}

func TestSignErrors(t *testing.T) {
	tests := []struct {
		name string
		typ  EntryType
		body any
		key  ed25519.PrivateKey
		want string
	}{
		{"type 0", 0, ContractRetire{}, orgA.key, "type 0 is reserved"},
		{"short key", EntryContractRetire, ContractRetire{}, orgA.key[:10], "not an Ed25519 private key"},
		{"body of another type", EntryContractApprove, ContractRetire{}, orgA.key, "body is contracts.ContractRetire, want *contracts.ContractApprove"},
		{"no body", EntryGenesis, nil, orgA.key, "body is <nil>"},
		{"invalid contract JSON", EntryContractPropose, ContractPropose{Contract: []byte("{")}, orgA.key, "sign contract.propose"},
		{"too large", EntryContractReject, ContractReject{Reason: strings.Repeat("x", MaxEntrySize)}, orgA.key, "at most"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Sign(tc.typ, tc.body, orgA.id, tc.key, "")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
		})
	}
}

func TestDecodeEntry(t *testing.T) {
	valid, _ := Sign(EntryContractRetire, ContractRetire{ID: "abc", Version: 1}, orgA.id, orgA.key, "")
	e, _ := DecodeEntry(valid)
	envelope := func(org kpi.OrgID, body string, sig []byte) []byte {
		b, _ := json.Marshal(Signed{Org: org, Body: json.RawMessage(body), Sig: sig})
		return append([]byte{byte(EntryContractRetire), EntryVersion}, b...)
	}
	body := string(e.Body)
	tests := []struct {
		name    string
		raw     []byte
		want    string // error; "" = decodes
		known   bool
		typ     EntryType
		version uint8
	}{
		{"valid", valid, "", true, EntryContractRetire, 1},
		{"empty", nil, "too short", false, 0, 0},
		{"type only", []byte{4}, "too short", false, 0, 0},
		{"type 0", []byte{0, 1, '{', '}'}, "type 0 is reserved", false, 0, 0},
		{"too large", make([]byte, MaxEntrySize+1), "at most", false, 0, 0},
		{"unknown type", []byte{200, 1, 0xff}, "", false, 200, 1},
		{"unknown version", append([]byte{byte(EntryContractRetire), 9}, valid[2:]...), "", false, EntryContractRetire, 9},
		{"not JSON", []byte{byte(EntryContractRetire), 1, 'x'}, "not a JSON object", false, 0, 0},
		{"JSON array", []byte{byte(EntryContractRetire), 1, '[', ']'}, "not a JSON object", false, 0, 0},
		{"trailing data", append(bytes.Clone(valid), " {}"...), "trailing data", false, 0, 0},
		{"unknown envelope field", []byte(`..{"org":"a","body":{},"sig":"","extra":1}`), "unknown field", false, 0, 0},
		{"no org", envelope("", body, e.Sig), "org is missing", false, 0, 0},
		{"short signature", envelope("a", body, e.Sig[:10]), "not an Ed25519 signature", false, 0, 0},
		{"unknown body field", envelope("a", `{"id":"abc","version":1,"nonce":"n","extra":true}`, e.Sig), "body: json: unknown field", false, 0, 0},
		{"body of wrong shape", envelope("a", `{"id":"abc","version":"one","nonce":"n"}`, e.Sig), "body: json: cannot unmarshal", false, 0, 0},
		{"no nonce", envelope("a", `{"id":"abc","version":1}`, e.Sig), "nonce must have 1 to 128 bytes", false, 0, 0},
		{"long nonce", envelope("a", `{"id":"abc","version":1,"nonce":"`+strings.Repeat("n", MaxNonceLen+1)+`"}`, e.Sig), "nonce must have", false, 0, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.name == "unknown envelope field" {
				tc.raw[0], tc.raw[1] = byte(EntryContractRetire), EntryVersion
			}
			e, err := DecodeEntry(tc.raw)
			if tc.want != "" {
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("error %v, want %q", err, tc.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if e.Known() != tc.known || e.Type != tc.typ || e.Version != tc.version || (e.Value == nil) == tc.known {
				t.Fatalf("entry %+v", e)
			}
		})
	}
}

func TestEntryTypeNames(t *testing.T) {
	want := map[EntryType]string{1: "consortium.genesis", 2: "member.propose", 3: "member.approve",
		4: "contract.propose", 5: "contract.approve", 6: "contract.reject", 7: "contract.retire", 8: "keys.open", 9: "keys.share", 10: "round.open", 11: "round.input", 12: "round.release", 13: "keys.commit", 14: "round.seal", 15: "round.fail", 16: "unknown(16)"}
	for typ, name := range want {
		if typ.String() != name || typ.Known() != (typ <= 15) {
			t.Errorf("%d: %s %v", typ, typ, typ.Known())
		}
	}
}

func TestDescriptorHash(t *testing.T) {
	h := DescriptorHash(orgA.desc)
	if !strings.HasPrefix(h, "sha256:") || len(h) != 7+64 || h == DescriptorHash(orgB.desc) || h != DescriptorHash(orgA.desc) {
		t.Fatalf("hash %s", h)
	}
}

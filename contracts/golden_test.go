package contracts

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/cxnet/cxnet/kpi"
)

// Golden files of the replicated formats: every governance entry type and
// the snapshot. The raft log and the snapshots of running consortiums hold
// these bytes; a change that alters them breaks nodes that replay an old
// log, so it must be deliberate: refresh with
//
//	go test ./contracts -run Golden -update
//
// and say in the commit why the format changed (and bump EntryVersion or
// SnapshotFormat when an older node could not read the new bytes).

// goldenConsortium is the consortium id the golden entries are signed for.
const goldenConsortium = "3f2c1e0b9a8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d9c8b7a6f5e4d3c2b"

// goldenHeader is the fixed header of every golden entry.
func goldenHeader() Header {
	return Header{Time: testTime, Nonce: "00112233445566778899aabbccddeeff"}
}

// goldenBodies returns one body of every entry type, every field set,
// fixed: signing them gives the same bytes on every run.
func goldenBodies(t *testing.T) map[EntryType]any {
	t.Helper()
	c := govContract(t, contractYAML("nps-golden", 1, []*testOrg{orgA, orgB, orgC}, "all", 11))
	h := goldenHeader()
	opened := kpi.Opened{Keep: []int{0, 2}, Few: []int{1}, Counts: []int64{12, 40},
		Sums: bytes.Repeat([]byte{0x5a}, 16)}
	round := kpi.RoundID("nps-golden/9")
	return map[EntryType]any{
		EntryGenesis:         Genesis{Header: h, Name: "Golden consortium", MinCohort: 11, AdmissionRule: AdmissionMajority, Founder: orgA.desc},
		EntryAdmitPropose:    AdmitPropose{Header: h, Member: orgB.desc},
		EntryAdmitApprove:    AdmitApprove{Header: h, Org: orgB.id, DescriptorHash: DescriptorHash(orgB.desc)},
		EntryContractPropose: ContractPropose{Header: h, Contract: c.Canonical(), Hash: c.Hash()},
		EntryContractApprove: ContractApprove{Header: h, ID: c.ID, Version: 1, Hash: c.Hash()},
		EntryContractReject:  ContractReject{Header: h, ID: c.ID, Version: 1, Hash: c.Hash(), Reason: "the window is too short <&> é"},
		EntryContractRetire:  ContractRetire{Header: h, ID: c.ID, Version: 1},
		EntryKeysOpen: KeysOpen{Header: h, Epoch: 2, Members: []kpi.OrgID{orgA.id, orgB.id, orgC.id}, Threshold: 2,
			Seed: strings.Repeat("ab", 32), Params: "bgv/logn=13/q=60,60/p=61/t=0x200080001"},
		EntryKeysCommit: KeysCommit{Header: h, Epoch: 2, Digest: "sha256:" + strings.Repeat("cd", 32), ReaderKey: []byte("reader public key of hosp-a")},
		EntryKeysShare:  KeysShare{Header: h, Epoch: 2, Share: bytes.Repeat([]byte{1, 2, 3}, 8)},
		EntryRoundOpen:  RoundOpen{Header: h, Contract: c.ID, Version: 1, Hash: c.Hash(), Epoch: 2},
		EntryRoundInput: RoundInput{Header: h, Round: round, Digest: "sha256:" + strings.Repeat("ef", 32)},
		EntryRoundSeal:  RoundSeal{Header: h, Round: round},
		EntryRoundRelease: RoundRelease{Header: h, Round: round, Decryptors: []kpi.OrgID{orgA.id, orgB.id}, Opened: opened,
			Attest: map[kpi.OrgID][]byte{orgA.id: []byte("attestation of hosp-a"), orgB.id: []byte("attestation of hosp-b")},
			Pads: map[kpi.OrgID]SignedPads{
				orgA.id: {Pads: bytes.Repeat([]byte{7}, 16), Sig: []byte("pads signature of hosp-a")},
				orgC.id: {Sealed: map[kpi.OrgID][]byte{orgB.id: []byte("pads sealed to hosp-b")}, Sig: []byte("pads signature of pharma-x")},
			},
			SealedCounts: map[kpi.OrgID][]byte{orgB.id: []byte("counts sealed to hosp-b")}},
		EntryRoundFail: RoundFail{Header: h, Round: round, Reason: "aggregator hosp-a stopped answering", Blame: []kpi.OrgID{orgA.id}},
	}
}

// goldenEntries signs every golden body, in type order.
func goldenEntries(t *testing.T) ([]EntryType, [][]byte) {
	t.Helper()
	bodies := goldenBodies(t)
	var types []EntryType
	var raws [][]byte
	for typ := EntryType(1); int(typ) <= len(entryKinds); typ++ {
		body, ok := bodies[typ]
		if !ok {
			t.Fatalf("entry type %d (%s) has no golden body: add one to goldenBodies", typ, typ)
		}
		raw, err := Sign(typ, body, orgA.id, orgA.key, goldenConsortium)
		if err != nil {
			t.Fatalf("sign %s: %v", typ, err)
		}
		types, raws = append(types, typ), append(raws, raw)
	}
	if len(bodies) != len(entryKinds) {
		t.Fatalf("%d golden bodies for %d entry types", len(bodies), len(entryKinds))
	}
	return types, raws
}

// checkGolden compares got with testdata/name, or rewrites it with -update.
func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run `go test ./contracts -run Golden -update` to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s changed: the replicated format differs from the golden file\n got %q\nwant %q", path, got, want)
	}
}

// TestEntryGolden pins the bytes of every entry type (type byte, version
// byte, then the signed envelope's JSON: testdata/entries/<type>.golden,
// one line of text for the two bytes, then the JSON), and checks that the
// golden bytes still decode to the same body under a valid signature.
func TestEntryGolden(t *testing.T) {
	types, raws := goldenEntries(t)
	bodies := goldenBodies(t)
	for i, typ := range types {
		raw := raws[i]
		t.Run(typ.String(), func(t *testing.T) {
			name := filepath.Join("entries", typ.String()+".golden")
			checkGolden(t, name, []byte(fmt.Sprintf("type %d, version %d\n%s\n", raw[0], raw[1], raw[2:])))
			if *update {
				return
			}
			golden, _ := os.ReadFile(filepath.Join("testdata", name))
			head, payload, _ := bytes.Cut(golden, []byte("\n"))
			var gt, gv int
			if _, err := fmt.Sscanf(string(head), "type %d, version %d", &gt, &gv); err != nil {
				t.Fatalf("golden head %q: %v", head, err)
			}
			old := append([]byte{byte(gt), byte(gv)}, bytes.TrimSuffix(payload, []byte("\n"))...)
			e, err := DecodeEntry(old)
			if err != nil {
				t.Fatalf("the golden entry no longer decodes: %v", err)
			}
			if !e.Known() || e.Type != typ || e.Org != orgA.id {
				t.Fatalf("golden entry decodes to %+v", e)
			}
			if err := verifyGolden(e); err != nil {
				t.Fatal(err)
			}
			want := reflect.New(reflect.TypeOf(bodies[typ]))
			want.Elem().Set(reflect.ValueOf(bodies[typ]))
			if typ == EntryContractPropose { // RawMessage: compare as JSON bytes
				got, _ := json.Marshal(e.Value)
				w, _ := json.Marshal(want.Interface())
				if !bytes.Equal(got, w) {
					t.Fatalf("decoded %s\nwant    %s", got, w)
				}
				return
			}
			if !reflect.DeepEqual(e.Value, want.Interface()) {
				t.Fatalf("decoded %+v\nwant    %+v", e.Value, want.Interface())
			}
		})
	}
}

// verifyGolden checks a golden entry's signature by orgA, over the
// golden consortium (Sign signs a genesis for the id it is given too).
func verifyGolden(e *Entry) error {
	if !ed25519.Verify(orgA.key.Public().(ed25519.PublicKey), SigningBytes(e.Type, goldenConsortium, e.Body), e.Sig) {
		return errors.New("the golden entry's signature does not verify over its body")
	}
	return nil
}

// TestSnapshotGolden pins the snapshot encoding (format 2: a JSON header
// line, then each entry's log index, length and bytes) over one entry of
// every type, and checks that the golden snapshot still reads back to
// them.
func TestSnapshotGolden(t *testing.T) {
	_, raws := goldenEntries(t)
	entries := make([]loggedEntry, len(raws))
	for i, raw := range raws {
		entries[i] = loggedEntry{index: uint64(3*i + 1), raw: raw} // indexes with gaps, as non-command entries leave
	}
	const last = 50
	var buf bytes.Buffer
	if err := writeSnapshot(&buf, last, entries); err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "snapshot.golden", buf.Bytes())
	if *update {
		return
	}
	golden, _ := os.ReadFile(filepath.Join("testdata", "snapshot.golden"))
	index, got, err := readSnapshot(bytes.NewReader(golden))
	if err != nil {
		t.Fatalf("the golden snapshot no longer reads: %v", err)
	}
	if index != last || !reflect.DeepEqual(got, entries) {
		t.Fatalf("golden snapshot reads as index %d and %d entries, want %d and %d", index, len(got), last, len(entries))
	}
}

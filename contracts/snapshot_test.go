package contracts

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/cxnet/cxnet/kpi"
)

// fsmOf applies log to a new FSM at indexes 1, 2, … as raft would.
func fsmOf(t *testing.T, log [][]byte) *FSM {
	t.Helper()
	f := NewFSM()
	for i, raw := range log {
		f.Apply(&raft.Log{Index: uint64(i + 1), Type: raft.LogCommand, Data: raw})
	}
	return f
}

// entriesOf numbers log from 1, the way a snapshot carries it.
func entriesOf(log [][]byte) []loggedEntry {
	out := make([]loggedEntry, len(log))
	for i, raw := range log {
		out[i] = loggedEntry{index: uint64(i + 1), raw: raw}
	}
	return out
}

// encodeSnapshot encodes entries as they are (in any order) under a
// format-2 header naming index.
func encodeSnapshot(t *testing.T, index uint64, entries []loggedEntry) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := writeSnapshot(&b, index, entries); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func restoreBytes(f *FSM, b []byte) error { return f.Restore(io.NopCloser(bytes.NewReader(b))) }

// refuseRestore restores snap into f, which must refuse it with an error
// containing want (any error for "") and keep its state and index.
func refuseRestore(t *testing.T, f *FSM, snap []byte, want string) {
	t.Helper()
	before, index := fsmState(f), f.Index()
	err := restoreBytes(f, snap)
	if !errors.Is(err, ErrSnapshotRefused) || !strings.Contains(err.Error(), want) {
		t.Fatalf("restore: %v, want a refusal saying %q", err, want)
	}
	if fsmState(f) != before || f.Index() != index {
		t.Fatalf("a refused snapshot changed the state (index %d, was %d)", f.Index(), index)
	}
}

// TestFSMSnapshotRoundTrip: a state built from signed entries, snapshotted
// and restored into a fresh FSM (and into one that lags behind), equals
// the original, and so does what follows.
func TestFSMSnapshotRoundTrip(t *testing.T) {
	g, c := keyedConsortium(t)
	g.fullRound(c, []*testOrg{orgA, orgB, orgC}, []int64{15, 6, 5})
	rejected := g.approveContract(orgX, c)
	_, _ = g.refused(rejected)
	_, _ = g.apply([]byte{99, 1, '{', '}'}) // a newer node's entry: skipped here, kept for it
	open := kpi.RoundID(g.must(g.openRound(orgB, c)).Object)
	f := fsmOf(t, g.log)
	if fsmState(f) != snapshotOf(t, g.s) {
		t.Fatal("the FSM differs from the State applied directly")
	}
	snap := fsmSnapshotBytes(t, f)
	if bytes.Contains(snap, rejected) || !bytes.Contains(snap, []byte{99, 1, '{', '}'}) {
		t.Fatal("the snapshot must keep the skipped entry and leave out the rejected one")
	}

	want := fsmState(f)
	for _, tc := range []struct {
		name string
		into *FSM
	}{
		{"fresh", NewFSM()},
		{"zero", &FSM{}},
		{"lagging", fsmOf(t, g.log[:len(g.log)/2])},
		{"its own", fsmOf(t, g.log)}, // the same bytes as its own snapshot
	} {
		into := tc.into
		t.Run(tc.name, func(t *testing.T) {
			into.OnEvent = func(ev Event) { t.Errorf("OnEvent called during Restore: %+v", ev) }
			if err := restoreBytes(into, snap); err != nil {
				t.Fatal(err)
			}
			into.OnEvent = nil
			if fsmState(into) != want || into.Index() != uint64(len(g.log)) {
				t.Fatalf("restored state differs (index %d, want %d)", into.Index(), len(g.log))
			}
			if again := fsmSnapshotBytes(t, into); !bytes.Equal(again, snap) {
				t.Fatal("a restored FSM's snapshot differs from the one it restored")
			}
			next := g.roundInput(orgA, open, digestN(7))
			res := into.Apply(&raft.Log{Index: uint64(len(g.log) + 1), Type: raft.LogCommand, Data: next}).(*ApplyResult)
			if res.Err != nil {
				t.Fatalf("next entry: %v", res.Err)
			}
			if fsmState(into) != fsmState(fsmOf(t, append(g.log[:len(g.log):len(g.log)], next))) {
				t.Fatal("after the next entry the restored state differs")
			}
		})
	}
}

// TestFSMRestoreRefusesForgedState (ATTACK): a raft peer (a leader, or
// whoever forges an InstallSnapshot) sends a snapshot whose state was
// replaced: a contract active without its approvals, a member nobody
// admitted, a key epoch of its own. As a format-1 state blob, or as signed
// entries with a forged, altered, replayed or foreign one among them, the
// node refuses it and keeps its state, whether it starts empty or lags.
func TestFSMRestoreRefusesForgedState(t *testing.T) {
	g, _ := keyedConsortium(t)
	abc := govContract(t, contractYAML("nps-abc2", 1, []*testOrg{orgA, orgB, orgC}, "all", 11))
	g.must(g.proposeContract(orgA, abc))
	honest := g.log
	n := uint64(len(honest))

	// signAs signs body as org with the attacker's (a's) key.
	signAs := func(typ EntryType, body any, org *testOrg) []byte {
		raw, err := Sign(typ, body, org.id, orgA.key, g.s.ID())
		if err != nil {
			t.Fatal(err)
		}
		return raw
	}
	// after is a snapshot of the honest log and then extra.
	after := func(extra ...[]byte) []byte {
		return encodeSnapshot(t, n+uint64(len(extra)), entriesOf(append(honest[:n:n], extra...)))
	}
	// altered is the honest log with entry i's body changed by edit and
	// its signature kept.
	altered := func(i int, edit func(any)) []byte {
		e, err := DecodeEntry(honest[i])
		if err != nil {
			t.Fatal(err)
		}
		edit(e.Value)
		if e.Body, err = json.Marshal(e.Value); err != nil {
			t.Fatal(err)
		}
		log := append([][]byte(nil), honest...)
		log[i] = encodeEntry(t, e)
		return encodeSnapshot(t, n, entriesOf(log))
	}
	shareOfB := -1
	for i, raw := range honest {
		if e, _ := DecodeEntry(raw); e != nil && e.Type == EntryKeysShare && e.Org == orgB.id {
			shareOfB = i
		}
	}
	// Another consortium of the same organisations, where b approves
	// the same contract.
	other := newGovLog(t)
	other.form(orgA, orgB, orgC)
	other.must(other.proposeContract(orgA, abc))
	foreign := other.approveContract(orgB, abc)

	// formatOne is the honest state, as format 1 carried it, after edit.
	formatOne := func(edit func(st map[string]any)) []byte {
		var st map[string]any
		if err := json.Unmarshal([]byte(snapshotOf(t, g.s)), &st); err != nil {
			t.Fatal(err)
		}
		edit(st)
		state, err := json.Marshal(st)
		if err != nil {
			t.Fatal(err)
		}
		// The node before format 2 installed any state that decodes.
		if s := NewState(); json.Unmarshal(state, s) != nil || snapshotOf(t, s) == snapshotOf(t, g.s) {
			t.Fatalf("the forged state does not decode, or changes nothing: %s", state)
		}
		return fmt.Appendf(nil, `{"format":1,"index":%d,"state":%s}`, n, state)
	}
	obj := func(v any, path ...string) map[string]any {
		for _, p := range path {
			v = v.(map[string]any)[p]
		}
		return v.(map[string]any)
	}

	attacks := []struct {
		name, want string
		snap       []byte
	}{
		{"format 1: contract active without approvals", "format 1", formatOne(func(st map[string]any) {
			c := obj(st, "contracts", "nps-abc2")
			c["state"], c["approvals"] = "active", []string{"hosp-a", "hosp-b", "pharma-x"}
		})},
		{"format 1: member added", "format 1", formatOne(func(st map[string]any) {
			obj(st, "members")[string(orgE.id)] = map[string]any{"member": orgE.desc, "state": "admitted", "approvals": []string{"hosp-a"}}
		})},
		{"format 1: key epoch replaced", "format 1", formatOne(func(st map[string]any) {
			k := obj(st, "keys")
			k["seed"] = strings.Repeat("ff", 32)
			obj(k, "shares")["hosp-b"] = []byte("the attacker's share")
		})},
		{"contract active: approvals forged in b's and c's names", "signature does not verify with hosp-b's", after(
			signAs(EntryContractApprove, ContractApprove{Header: hdr(), ID: abc.ID, Version: 1, Hash: abc.Hash()}, orgB),
			signAs(EntryContractApprove, ContractApprove{Header: hdr(), ID: abc.ID, Version: 1, Hash: abc.Hash()}, orgC))},
		{"member added: a's proposal, b's approval forged", "signature does not verify with hosp-b's", after(
			g.propose(orgA, orgE),
			signAs(EntryAdmitApprove, AdmitApprove{Header: hdr(), Org: orgE.id, DescriptorHash: DescriptorHash(orgE.desc)}, orgB))},
		{"key epoch replaced: b's share altered, its signature kept", "signature does not verify with hosp-b's", altered(shareOfB, func(v any) {
			v.(*KeysShare).Share = []byte("the attacker's share")
		})},
		{"key epoch replaced: a new epoch with forged shares", "signature does not verify with hosp-b's", after(
			g.propose(orgA, orgE),
			g.approveMember(orgB, orgE),
			g.approveMember(orgC, orgE),
			g.openKeys(orgA, 2, orgA, orgB, orgC, orgD, orgE),
			g.commitKey(orgA, 2),
			signAs(EntryKeysCommit, KeysCommit{Header: hdr(), Epoch: 2, Digest: KeyShareDigest(2, orgB.id, []byte("the attacker's share")), ReaderKey: testReaderKey(orgB.id)}, orgB))},
		{"entry of another consortium", "signature does not verify with hosp-b's", after(foreign)},
		{"an applied entry replayed", "applied before", after(honest[len(honest)-2])},
		{"an entry the rules refuse", "not a member", after(g.approveContract(orgX, abc))},
		{"an entry that does not decode", "malformed entry", after([]byte{byte(EntryContractApprove), EntryVersion, '{'})},
	}
	for _, tc := range attacks {
		t.Run(tc.name, func(t *testing.T) {
			refuseRestore(t, NewFSM(), tc.snap, tc.want)
			// A node that applied some entries may refuse the snapshot
			// earlier, for differing from them.
			for _, victim := range []*FSM{fsmOf(t, honest[:n-3]), fsmOf(t, honest)} {
				refuseRestore(t, victim, tc.snap, "")
			}
		})
	}
}

// TestFSMRestoreRefusesRollback (ATTACK): a snapshot may bring a lagging
// node forward, never take back or rewrite what it applied, even with
// entries that are all validly signed: older than what it applied, or
// leaving out, moving or replacing an entry it applied.
func TestFSMRestoreRefusesRollback(t *testing.T) {
	g, c := keyedConsortium(t)
	n := uint64(len(g.log))
	victim := fsmOf(t, g.log)
	// Index n+1 is an entry the rules refuse (not in any snapshot), n+2
	// the retirement of the contract.
	retire := g.retireContract(orgA, c.ID, c.Version)
	for i, raw := range [][]byte{g.approveContract(orgX, c), retire} {
		victim.Apply(&raft.Log{Index: n + 1 + uint64(i), Type: raft.LogCommand, Data: raw})
	}
	if victim.Index() != n+2 || fsmState(victim) == fsmState(fsmOf(t, g.log)) {
		t.Fatal("the contract was not retired")
	}
	honest := entriesOf(g.log)
	with := func(extra ...loggedEntry) []loggedEntry { return append(honest[:n:n], extra...) }
	round := g.openRound(orgA, c)
	for _, tc := range []struct {
		name, want string
		snap       []byte
	}{
		{"the retirement left out", fmt.Sprintf("leaves out the entry at log index %d,", n+2), encodeSnapshot(t, n+2, honest)},
		{"an older snapshot, from before the retirement", fmt.Sprintf("ends at log index %d, before entry %d that this node applied", n, n+2),
			encodeSnapshot(t, n, honest)},
		{"a later snapshot without it", fmt.Sprintf("leaves out the entry at log index %d,", n+2),
			encodeSnapshot(t, n+9, with(loggedEntry{n + 9, round}))},
		{"the retirement moved later", fmt.Sprintf("leaves out the entry at log index %d,", n+2),
			encodeSnapshot(t, n+3, with(loggedEntry{n + 3, retire}))},
		{"a signed round in its place", fmt.Sprintf("log index %d differs", n+2),
			encodeSnapshot(t, n+2, with(loggedEntry{n + 2, round}))},
		{"an entry where the node applied none", fmt.Sprintf("entry at log index %d, where this node applied none", n+1),
			encodeSnapshot(t, n+2, with(loggedEntry{n + 1, round}, loggedEntry{n + 2, retire}))},
	} {
		t.Run(tc.name, func(t *testing.T) { refuseRestore(t, victim, tc.snap, tc.want) })
	}
	// The honest snapshot restores on a node that applied fewer entries,
	// and on this one.
	good := encodeSnapshot(t, n+2, with(loggedEntry{n + 2, retire}))
	for _, f := range []*FSM{fsmOf(t, g.log[:n-4]), victim} {
		if err := restoreBytes(f, good); err != nil || fsmState(f) != fsmState(victim) {
			t.Fatalf("the honest snapshot: %v", err)
		}
	}
}

// TestFSMRestoreRefusesMalformedSnapshots: entries out of order or
// duplicated, a cut or padded snapshot, an unknown format: refused, the
// state kept.
func TestFSMRestoreRefusesMalformedSnapshots(t *testing.T) {
	g, _ := keyedConsortium(t)
	log := g.log
	n := uint64(len(log))
	e := entriesOf(log)
	good := encodeSnapshot(t, n, e)
	swapped := append([]loggedEntry(nil), e...)
	swapped[3], swapped[4] = swapped[4], swapped[3]
	renumbered := append([]loggedEntry(nil), e...)
	renumbered[4].index = renumbered[3].index
	huge := fmt.Appendf(nil, "{\"format\":2,\"index\":9,\"entries\":1}\n\x01")
	huge = binary.AppendUvarint(huge, MaxEntrySize+1)

	for _, tc := range []struct {
		name, want string
		snap       []byte
	}{
		{"entries out of order", "log index 4 after 5", encodeSnapshot(t, n, swapped)},
		{"a duplicated index", "log index 4 after 4", encodeSnapshot(t, n, renumbered)},
		{"index 0", "log index 0;", encodeSnapshot(t, n, []loggedEntry{{index: 0, raw: log[0]}})},
		{"an index past the snapshot's", "past the snapshot's last applied index", encodeSnapshot(t, n-1, e)},
		{"cut inside an entry", "unexpected EOF", good[:len(good)-10]},
		{"cut between entries", "unexpected EOF", bytes.Replace(good, fmt.Appendf(nil, `"entries":%d`, n), fmt.Appendf(nil, `"entries":%d`, n+1), 1)},
		{"bytes after the last entry", "bytes after the last", append(good[:len(good):len(good)], 0)},
		{"an entry too long", "at most 4194304", huge},
		{"an entry that does not decode", "malformed entry", encodeSnapshot(t, 4, append(e[:3:3], loggedEntry{index: 4, raw: []byte{byte(EntryContractApprove), EntryVersion, '{'}}))},
		{"empty", "header", nil},
		{"header not JSON", "header", []byte("format 2\n")},
		{"header cut", "ends before the header's end of line", []byte(`{"format":2,"index":1,"entries":0}`)},
		{"header broken", "header", []byte("{\"format\":2,\"index\":x}\n")},
		{"format 0", "unknown format 0", []byte("{\"index\":1,\"entries\":0}\n")},
		{"future format", "format 3 is newer than this node reads (format 2); upgrade it", []byte("{\"format\":3,\"index\":1}\n")},
		{"format 1, long", "format 1 carries the governance state unsigned", fmt.Appendf(nil, `{"format":1,"index":7,"state":{"x":"%s"}}`, strings.Repeat("y", 100<<10))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			refuseRestore(t, fsmOf(t, log[:3]), tc.snap, tc.want)
		})
	}
	if err := restoreBytes(fsmOf(t, log[:3]), good); err != nil {
		t.Fatalf("the good snapshot: %v", err)
	}
}

// FuzzFSMRestore: arbitrary bytes never panic Restore; a refused snapshot
// leaves the state as it was, and an accepted one snapshots to itself.
func FuzzFSMRestore(f *testing.F) {
	_, seeds := fuzzSeeds(f)
	g := newGovLog(f)
	g.form(orgA, orgB, orgC)
	var b bytes.Buffer
	if err := writeSnapshot(&b, uint64(len(g.log)), entriesOf(g.log)); err != nil {
		f.Fatal(err)
	}
	f.Add(b.Bytes())
	f.Add(b.Bytes()[:b.Len()/2])
	for _, s := range seeds {
		b.Reset()
		_ = writeSnapshot(&b, 9, append(entriesOf(g.log), loggedEntry{index: 9, raw: s}))
		f.Add(b.Bytes())
	}
	f.Fuzz(func(t *testing.T, snap []byte) {
		victim := fsmOf(t, g.log[:2])
		before := fsmState(victim)
		if err := restoreBytes(victim, snap); err != nil {
			if !errors.Is(err, ErrSnapshotRefused) || fsmState(victim) != before {
				t.Fatalf("%v; state changed: %v", err, fsmState(victim) != before)
			}
			return
		}
		again := NewFSM()
		if err := restoreBytes(again, fsmSnapshotBytes(t, victim)); err != nil || fsmState(again) != fsmState(victim) {
			t.Fatalf("an accepted snapshot does not restore to itself: %v", err)
		}
	})
}

// TestSnapshotSizeOfARealisticHistory measures the snapshot of two years
// of a consortium: five members, a sixth joining after a year, a key epoch
// each time (public-key shares of 196 KB, as LogN=13 BGV makes them),
// three contracts among all, each released monthly.
func TestSnapshotSizeOfARealisticHistory(t *testing.T) {
	if testing.Short() {
		t.Skip("signs and verifies a few thousand entries")
	}
	orgF := newTestOrg("clinic-f")
	five := []*testOrg{orgA, orgB, orgC, orgD, orgE}
	g := newGovLog(t)
	g.form(five...)
	share := bytes.Repeat([]byte{0xa5}, 196<<10)
	var shareBytes int
	keyEpoch := func(epoch uint64, members []*testOrg) {
		g.must(g.openKeys(orgA, epoch, members...))
		for _, m := range members {
			g.must(g.sign(EntryKeysCommit, KeysCommit{Header: hdr(), Epoch: epoch, Digest: KeyShareDigest(epoch, m.id, share), ReaderKey: testReaderKey(m.id)}, m))
		}
		for _, m := range members {
			raw := g.sign(EntryKeysShare, KeysShare{Header: hdr(), Epoch: epoch, Share: share}, m)
			shareBytes += len(raw)
			g.must(raw)
		}
	}
	keyEpoch(1, five)
	var contracts []*Contract
	for _, name := range []string{"nps-stay", "nps-discharge", "pdc-statins"} {
		c := govContract(t, contractYAML(name, 1, five, "all", 11))
		g.must(g.proposeContract(orgA, c))
		for _, o := range five[1:] {
			g.must(g.approveContract(o, c))
		}
		contracts = append(contracts, c)
	}
	rounds := func() {
		for range 12 {
			for _, c := range contracts {
				g.fullRound(c, five, []int64{500, 60, 10}) // the contracts' participants
			}
		}
	}
	rounds()
	six := append(five[:5:5], orgF)
	ev := g.must(g.propose(orgA, orgF))
	for _, o := range five[1:] {
		if ev.Type == EventMemberAdmitted {
			break
		}
		ev = g.must(g.approveMember(o, orgF))
	}
	keyEpoch(2, six)
	rounds()

	f := fsmOf(t, g.log)
	snap := fsmSnapshotBytes(t, f)
	start := time.Now()
	if err := restoreBytes(NewFSM(), snap); err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	state := snapshotOf(t, g.s)
	t.Logf("%d entries (%d key shares of %d bytes each): snapshot %d bytes, %d of them key shares; "+
		"the state alone (format 1) %d bytes; restore %v",
		len(g.log), 11, shareBytes/11, len(snap), shareBytes, len(state), took)
	if len(snap) < shareBytes || len(snap) > shareBytes+2<<20 {
		t.Fatalf("snapshot of %d bytes; want the %d bytes of key shares and at most 2 MiB more", len(snap), shareBytes)
	}
}

package contracts

// Raft snapshots of the governance state.
//
// A snapshot does not carry the state: a raft peer could put any state in
// it (a contract active without its approvals, a member nobody admitted, a
// key epoch of its own), and a node has no signature to check a state
// against. It carries the signed command entries the state machine applied
// (and those of a type it skipped, which a newer node may understand), each
// with its log index, and the node restoring it replays them on an empty
// State: Apply checks every signature, signer and rule again, so the
// restored state is by construction one that signed entries produce. An
// entry the replay refuses is a forged or altered one, and the whole
// snapshot is refused.
//
// Encoding (format 2):
//
//	{"format":2,"index":N,"entries":K}\n       header, JSON, one line
//	K × ( uvarint index | uvarint length | entry bytes )
//
// with indexes strictly increasing and at most N, nothing after the last
// entry. The header keeps format 1's "format" and "index" fields, so a node
// of either version names the other's format in its refusal.
//
// What a malicious raft peer (a leader, or whoever forges an
// InstallSnapshot) can still do with a snapshot is what it can do with the
// log itself: leave out entries it received (censor), hold them back, or
// put them in another order (a signed entry is valid at any index; the
// rules then decide). For a node that starts empty (a new member, a lost
// disk) nothing shows the omission. It cannot make up an entry, alter
// one, bring one from another consortium (the signature covers the
// consortium id), or hand over a state that no signed log produces. Nor
// can it take back what a node already applied: Restore refuses a snapshot
// that ends before the node's last applied entry, or whose entries up to
// there differ from the ones the node applied.
//
// What it costs: the snapshot, and the FSM's memory, grow with the whole
// history, since a state is verifiable only together with every entry
// that made it. Key-share entries dominate: ~262 KB each, one per member
// and key epoch. TestSnapshotSizeOfARealisticHistory: two years of five
// members, then six (two key epochs, 11 shares), three contracts released
// monthly (72 rounds, 544 entries) make a 3.1 MB snapshot, 94% of it key
// shares, against 1.7 MB for format 1's state alone; restoring it
// (verifying every entry) takes ~0.4 s on two cores.

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// SnapshotFormat is the version of the snapshot encoding FSM writes and
// reads. Format 1 carried the state itself, unverifiable; format 2 carries
// the signed entries (see the top of snapshot.go).
const SnapshotFormat = 2

// ErrSnapshotRefused is wrapped by every error of FSM.Restore: the
// snapshot was not installed and the state machine kept its state. The
// snapshot came from a peer that sent a forged or inconsistent one, or
// from a damaged or outdated local snapshot store.
var ErrSnapshotRefused = errors.New("contracts: snapshot refused")

// loggedEntry is a command entry the state machine applied or skipped, at
// its log index. raw is the entry as raft delivered it, never modified.
type loggedEntry struct {
	index uint64
	raw   []byte
}

// snapshotHeader is the first line of a snapshot.
type snapshotHeader struct {
	Format  int    `json:"format"`
	Index   uint64 `json:"index"`   // last command entry applied
	Entries uint64 `json:"entries"` // how many entries follow
}

// writeSnapshot encodes index and entries to w.
func writeSnapshot(w io.Writer, index uint64, entries []loggedEntry) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	h, err := json.Marshal(snapshotHeader{Format: SnapshotFormat, Index: index, Entries: uint64(len(entries))})
	if err != nil {
		return err
	}
	bw.Write(h)
	bw.WriteByte('\n')
	var buf [2 * binary.MaxVarintLen64]byte
	for _, e := range entries {
		n := binary.PutUvarint(buf[:], e.index)
		n += binary.PutUvarint(buf[n:], uint64(len(e.raw)))
		bw.Write(buf[:n])
		bw.Write(e.raw)
	}
	return bw.Flush() // a bufio.Writer keeps its first error
}

// readSnapshot decodes a snapshot: its last applied index and its entries,
// checked for order and size but not yet applied.
func readSnapshot(r io.Reader) (uint64, []loggedEntry, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	h, err := readSnapshotHeader(br)
	if err != nil {
		return 0, nil, err
	}
	// The count comes from the sender: it does not size an allocation.
	entries := make([]loggedEntry, 0, min(h.Entries, 1<<12))
	var prev uint64
	for i := range h.Entries {
		index, err := binary.ReadUvarint(br)
		if err != nil {
			return 0, nil, fmt.Errorf("entry %d of %d: index: %w", i+1, h.Entries, noEOF(err))
		}
		size, err := binary.ReadUvarint(br)
		if err != nil {
			return 0, nil, fmt.Errorf("entry %d of %d (log index %d): length: %w", i+1, h.Entries, index, noEOF(err))
		}
		switch {
		case index == 0:
			return 0, nil, fmt.Errorf("entry %d of %d has log index 0; raft's log starts at 1", i+1, h.Entries)
		case index <= prev:
			return 0, nil, fmt.Errorf("entry %d of %d has log index %d after %d: entries must be in strictly increasing log order", i+1, h.Entries, index, prev)
		case index > h.Index:
			return 0, nil, fmt.Errorf("entry %d of %d has log index %d, past the snapshot's last applied index %d", i+1, h.Entries, index, h.Index)
		case size > MaxEntrySize:
			return 0, nil, fmt.Errorf("entry at log index %d has %d bytes; at most %d are allowed", index, size, MaxEntrySize)
		}
		raw := make([]byte, size)
		if _, err := io.ReadFull(br, raw); err != nil {
			return 0, nil, fmt.Errorf("entry at log index %d: %w", index, noEOF(err))
		}
		entries = append(entries, loggedEntry{index: index, raw: raw})
		prev = index
	}
	if _, err := br.ReadByte(); err == nil {
		return 0, nil, fmt.Errorf("bytes after the last of %d entries", h.Entries)
	} else if err != io.EOF {
		return 0, nil, err
	}
	return h.Index, entries, nil
}

// readSnapshotHeader reads the header line and checks the format.
func readSnapshotHeader(br *bufio.Reader) (snapshotHeader, error) {
	// The line is bounded by br's buffer: a longer one is no header.
	line, err := br.ReadSlice('\n')
	if err != nil && err != bufio.ErrBufferFull && err != io.EOF {
		return snapshotHeader{}, err
	}
	var h snapshotHeader
	if jerr := json.Unmarshal(line, &h); jerr != nil {
		// A format-1 snapshot is one JSON object without a newline,
		// cut here when it is long: its start still names its format.
		f, ok := leadingFormat(line)
		if !ok || f == SnapshotFormat {
			return snapshotHeader{}, fmt.Errorf("header: %w", jerr)
		}
		h = snapshotHeader{Format: f}
	}
	switch {
	case h.Format == 1:
		return h, errors.New("format 1 carries the governance state unsigned, and this node no longer trusts it: " +
			"it restores format 2 snapshots, the signed entries it replays and verifies, which nodes of this version write")
	case h.Format > SnapshotFormat:
		return h, fmt.Errorf("format %d is newer than this node reads (format %d); upgrade it", h.Format, SnapshotFormat)
	case h.Format != SnapshotFormat:
		return h, fmt.Errorf("unknown format %d (this node reads format %d)", h.Format, SnapshotFormat)
	case err == io.EOF:
		return h, errors.New("header: the snapshot ends before the header's end of line")
	case err != nil:
		return h, fmt.Errorf("header: no end of line within its first %d bytes", len(line))
	}
	return h, nil
}

// leadingFormat reads {"format":N from the start of a snapshot that does
// not decode as a whole (a format-1 one, cut at the header's bound).
func leadingFormat(b []byte) (int, bool) {
	var f int
	if _, err := fmt.Sscanf(string(b), `{"format":%d`, &f); err != nil {
		return 0, false
	}
	return f, true
}

// noEOF turns the end of the input inside an entry into
// io.ErrUnexpectedEOF: the snapshot is cut short.
func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

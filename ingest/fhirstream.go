package ingest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"slices"
	"unicode/utf8"
)

// readChunk bounds each read the JSON decoder makes, so that it never
// reads far past the value it is decoding.
const readChunk = 64 << 10

// errTooLong is returned by trackReader once a value outgrows the limit.
var errTooLong = errors.New("resource too long")

// binaryError is returned by trackReader for a byte that cannot appear in
// JSON text: a control character or invalid UTF-8.
type binaryError struct {
	line int64
	col  int
	b    byte
}

func (e *binaryError) Error() string { return "binary data" }

// trackReader sits between the source and the JSON decoder. It keeps the
// bytes handed to the decoder since offset base (the start of the value
// being decoded) so that the reader can turn offsets into line numbers and
// slice out a whole resource, refuses values longer than limit, and fails
// on bytes that cannot be JSON text.
type trackReader struct {
	r        *bufio.Reader
	buf      []byte // bytes from offset base on
	base     int64  // stream offset of buf[0]
	baseLine int64  // line of offset base, 1-based
	baseCol  int    // bytes between the start of that line and base
	checked  int    // buf[:checked] holds only valid JSON text bytes
	sent     int    // buf[:sent] has been handed to the decoder
	limit    int64
	err      error // sticky
}

func (t *trackReader) Read(p []byte) (int, error) {
	for range 100 {
		// Hand over only checked bytes, so that what precedes a bad byte
		// is read the same whatever the read sizes.
		if t.sent < t.checked {
			n := copy(p, t.buf[t.sent:t.checked])
			t.sent += n
			return n, nil
		}
		if t.err != nil {
			return 0, t.err
		}
		if int64(len(t.buf)) > t.limit+readChunk {
			t.err = errTooLong
			continue
		}
		t.buf = slices.Grow(t.buf, readChunk)
		m := len(t.buf)
		n, err := t.r.Read(t.buf[m : m+readChunk])
		t.buf = t.buf[:m+n]
		if berr := t.check(err == io.EOF); berr != nil {
			t.err = berr
		} else if err != nil {
			t.err = err
		}
	}
	return 0, io.ErrNoProgress
}

// check validates the bytes read since the last check. It stops before a
// bad byte, returning its error, and before an incomplete UTF-8 sequence
// at the end, which waits for more input unless atEOF.
func (t *trackReader) check(atEOF bool) error {
	b := t.buf
	i := t.checked
	defer func() { t.checked = i }()
	for i < len(b) {
		c := b[i]
		if c < utf8.RuneSelf {
			if c < 0x20 && c != '\n' && c != '\r' && c != '\t' {
				return t.binary(i)
			}
			i++
			continue
		}
		rn, size := utf8.DecodeRune(b[i:])
		if rn == utf8.RuneError && size == 1 {
			if !atEOF && !utf8.FullRune(b[i:]) {
				break
			}
			return t.binary(i)
		}
		i += size
	}
	return nil
}

func (t *trackReader) binary(i int) error {
	line, col := t.lineCol(i)
	return &binaryError{line: line, col: col, b: t.buf[i]}
}

// lineCol returns the line and 1-based byte column of buf[i].
func (t *trackReader) lineCol(i int) (int64, int) {
	line := t.baseLine + int64(bytes.Count(t.buf[:i], []byte{'\n'}))
	if j := bytes.LastIndexByte(t.buf[:i], '\n'); j >= 0 {
		return line, i - j
	}
	return line, t.baseCol + i + 1
}

// index returns the position of stream offset off in buf, clamped.
func (t *trackReader) index(off int64) int {
	k := off - t.base
	if k < 0 {
		return 0
	}
	if k > int64(len(t.buf)) {
		return len(t.buf)
	}
	return int(k)
}

// lineAt returns the line of stream offset off (at or after base).
func (t *trackReader) lineAt(off int64) int64 {
	line, _ := t.lineCol(t.index(off))
	return line
}

// skipSpace returns the offset of the first byte at or after off that is
// not white space (as far as it has been read).
func (t *trackReader) skipSpace(off int64) int64 {
	i := t.index(off)
	for i < len(t.buf) && isSpace(t.buf[i]) {
		i++
	}
	return t.base + int64(i)
}

// valueStart is skipSpace past at most one separator (a comma or colon):
// where the value after off starts.
func (t *trackReader) valueStart(off int64) int64 {
	off = t.skipSpace(off)
	if i := t.index(off); i < len(t.buf) && (t.buf[i] == ',' || t.buf[i] == ':') {
		off = t.skipSpace(off + 1)
	}
	return off
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

// drop forgets the bytes before stream offset off.
func (t *trackReader) drop(off int64) {
	k := t.index(off)
	if k == 0 {
		return
	}
	dropped := t.buf[:k]
	if j := bytes.LastIndexByte(dropped, '\n'); j >= 0 {
		t.baseLine += int64(bytes.Count(dropped, []byte{'\n'}))
		t.baseCol = k - j - 1
	} else {
		t.baseCol += k
	}
	n := copy(t.buf, t.buf[k:])
	t.buf = t.buf[:n]
	t.checked = max(t.checked-k, 0)
	t.sent = max(t.sent-k, 0)
	t.base += int64(k)
}

// slice returns the bytes between two stream offsets, if still kept.
func (t *trackReader) slice(from, to int64) ([]byte, bool) {
	if from < t.base || to < from || to-t.base > int64(len(t.buf)) {
		return nil, false
	}
	return t.buf[from-t.base : to-t.base], true
}

// syntaxOffset finds the offending byte of a syntax error met by the
// decoder at offset off (its InputOffset, past any separator it took): it
// decodes the value there again on its own, so that the error offset is
// relative to a known start.
func (t *trackReader) syntaxOffset(off int64) int64 {
	off = t.skipSpace(off)
	i := t.index(off)
	d := json.NewDecoder(bytes.NewReader(t.buf[i:]))
	var v skipValue
	var se *json.SyntaxError
	if err := d.Decode(&v); errors.As(err, &se) && se.Offset > 0 {
		return off + se.Offset - 1
	}
	return off
}

// skipValue is a decode target that checks a JSON value and keeps nothing.
type skipValue struct{}

func (*skipValue) UnmarshalJSON([]byte) error { return nil }

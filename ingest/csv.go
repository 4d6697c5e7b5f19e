package ingest

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"math/bits"
	"unicode/utf8"

	"github.com/cxnet/cxnet/kpi"
)

// CSVReader reads the canonical CSV: a header row naming the columns
// record_id, subject, measure, value and time in any order; every other
// column is a dimension.
//
// The parser follows RFC 4180: fields may be quoted, a quote inside a
// quoted field is written "", quoted fields may span lines, records end
// with LF or CRLF, and a leading UTF-8 byte order mark is ignored. Empty
// lines are skipped. Spaces and tabs around a field are trimmed. A
// dimension left empty is omitted from that record.
type CSVReader struct {
	src  io.Reader
	file string
	max  int // longest record, in bytes

	buf  []byte
	r, w int  // unread input is buf[r:w]
	eof  bool // src is exhausted

	line    int64 // physical lines consumed so far
	row     int64 // data rows returned so far
	started bool  // the header has been read

	fields  [][]byte // the current record's fields
	scratch []byte   // unquoted field text of a quoted record
	ends    []int    // field ends in scratch

	cols     csvColumns
	strs     map[string]string // interned measures and dimension values
	measures recent
	zones    zoneCache
	err      error // sticky: once failed, Next keeps failing
}

// csvColumns says where each fixed column is and which are dimensions.
type csvColumns struct {
	names                             []string // header, trimmed
	id, subject, measure, value, time int
	dims                              []dimColumn // sorted by name
}

type dimColumn struct {
	col  int
	name string
	seen recent // its last values
}

const (
	csvInitialBuf = 64 << 10
	maxInterned   = 4096 // distinct strings kept for reuse
	maxInternLen  = 64   // longer strings are not kept
)

// NewCSVReader returns a reader of canonical CSV from r. file names the
// source in error messages. It does no I/O until the first Next.
func NewCSVReader(r io.Reader, file string, opt Options) *CSVReader {
	max := opt.MaxLineBytes
	if max <= 0 {
		max = defaultCSVMax
	}
	return &CSVReader{
		src:  r,
		file: file,
		max:  max,
		strs: make(map[string]string, 64),
	}
}

// Next reads the next record into rec, reusing rec.Dims's backing array.
// It returns io.EOF after the last record, and an *kpi.InputError for bad input;
// after an error it keeps returning that error.
func (r *CSVReader) Next(rec *kpi.Record) error {
	if r.err != nil {
		return r.err
	}
	if err := r.next(rec); err != nil {
		r.err = err
		return err
	}
	return nil
}

func (r *CSVReader) next(rec *kpi.Record) error {
	if !r.started {
		r.started = true
		if err := r.readHeader(); err != nil {
			return err
		}
	}
	start, err := r.record()
	if err != nil {
		return err
	}
	r.row++
	return r.convert(rec, start)
}

// record reads the next non-empty record into r.fields and returns the
// line it starts on.
func (r *CSVReader) record() (int64, error) {
	for {
		data := r.buf[r.r:r.w]
		if len(data) == 0 {
			if r.eof {
				return 0, io.EOF
			}
			if err := r.fill(); err != nil {
				return 0, err
			}
			continue
		}
		nl := bytes.IndexByte(data, '\n')
		if nl < 0 && !r.eof {
			if len(data) > r.max {
				return 0, r.tooLong(data)
			}
			if err := r.fill(); err != nil {
				return 0, err
			}
			continue
		}
		line, adv := data, len(data)
		if nl >= 0 {
			line, adv = data[:nl], nl+1
		}
		start := r.line + 1
		if len(line) > r.max {
			return 0, r.tooLong(line)
		}
		if len(line) > 0 && line[len(line)-1] == '\r' {
			line = line[:len(line)-1]
		}
		seen := r.split(line)
		if seen&classQuote != 0 {
			n, err := r.parseQuoted(data, start)
			if err != nil {
				return 0, err
			}
			if n == 0 { // the record goes on past the buffered input
				if len(data) > r.max {
					return 0, r.tooLong(data)
				}
				if err := r.fill(); err != nil {
					return 0, err
				}
				continue
			}
			rec := data[:n]
			if len(bytes.TrimSuffix(bytes.TrimSuffix(rec, []byte{'\n'}), []byte{'\r'})) > r.max {
				return 0, r.tooLong(rec)
			}
			if err := r.checkBinary(rec, start); err != nil {
				return 0, err
			}
			r.r += n
			r.line += int64(bytes.Count(rec, []byte{'\n'}))
			return start, nil
		}
		if seen&classOdd != 0 {
			if err := r.checkBinary(line, start); err != nil {
				return 0, err
			}
		}
		r.r += adv
		r.line++
		if len(line) == 0 {
			continue
		}
		return start, nil
	}
}

// Byte classes the fast path looks for.
const (
	classComma = 1 << iota
	classQuote
	classOdd // NUL or non-ASCII: check for binary data
)

var byteClass = func() (t [256]uint8) {
	t[','] = classComma
	t['"'] = classQuote
	t[0] = classOdd
	for c := 0x80; c < 0x100; c++ {
		t[c] = classOdd
	}
	return t
}()

// split splits a line at its commas into r.fields and reports whether it
// saw a quote (classQuote) or a NUL or non-ASCII byte (classOdd). It looks
// at eight bytes at a time.
func (r *CSVReader) split(line []byte) uint8 {
	const (
		ones = 0x0101010101010101
		high = 0x8080808080808080
	)
	f := r.fields[:0]
	var quotes, odd uint64
	from, i := 0, 0
	for ; i+8 <= len(line); i += 8 {
		x := binary.LittleEndian.Uint64(line[i:])
		quotes |= zeroBytes(x ^ (ones * '"'))
		odd |= zeroBytes(x) | x&high
		for m := zeroBytes(x ^ (ones * ',')); m != 0; m &= m - 1 {
			j := i + bits.TrailingZeros64(m)>>3
			f = append(f, line[from:j])
			from = j + 1
		}
	}
	var seen uint8
	for ; i < len(line); i++ {
		if k := byteClass[line[i]]; k != 0 {
			if k == classComma {
				f = append(f, line[from:i])
				from = i + 1
			}
			seen |= k
		}
	}
	r.fields = append(f, line[from:])
	if quotes != 0 {
		seen |= classQuote
	}
	if odd != 0 {
		seen |= classOdd
	}
	return seen
}

// zeroBytes sets the high bit of each byte of x that is zero, and no
// other bit.
func zeroBytes(x uint64) uint64 {
	const low7 = 0x7f7f7f7f7f7f7f7f
	return ^((x&low7 + low7) | x | low7)
}

// parseQuoted splits the record at the start of data, which contains a
// quote, into r.fields (backed by r.scratch). It returns the number of
// bytes the record takes, line end included, or 0 when the record goes on
// past data and more input is needed.
func (r *CSVReader) parseQuoted(data []byte, start int64) (int, error) {
	r.scratch = r.scratch[:0]
	r.ends = r.ends[:0]
	p := 0
	end := func() { r.ends = append(r.ends, len(r.scratch)) }
	for {
		if p < len(data) && data[p] == '"' {
			open := p
			p++
			for {
				q := bytes.IndexByte(data[p:], '"')
				if q < 0 {
					if !r.eof {
						return 0, nil
					}
					return 0, r.syntaxErr(data, open, start, len(r.ends),
						"quoted field is not closed: a closing \" is missing",
						`a field that starts with " must end with "; write a " inside it as ""`)
				}
				r.scratch = append(r.scratch, data[p:p+q]...)
				p += q + 1
				if p == len(data) {
					if !r.eof {
						return 0, nil
					}
					end()
					return r.finishQuoted(p), nil
				}
				if data[p] != '"' {
					break
				}
				r.scratch = append(r.scratch, '"')
				p++
			}
			switch data[p] {
			case ',':
				end()
				p++
				continue
			case '\n':
				end()
				return r.finishQuoted(p + 1), nil
			case '\r':
				if p+1 < len(data) && data[p+1] == '\n' {
					end()
					return r.finishQuoted(p + 2), nil
				}
				if p+1 == len(data) && !r.eof {
					return 0, nil
				}
				if p+1 == len(data) {
					end()
					return r.finishQuoted(p + 1), nil
				}
			}
			return 0, r.syntaxErr(data, p, start, len(r.ends),
				fmt.Sprintf("unexpected %s after a closing quote", quote(string(data[p:p+1]))),
				`write a " inside a quoted field as ""`)
		}
		q := p
		for q < len(data) && data[q] != ',' && data[q] != '\n' && data[q] != '"' {
			q++
		}
		if q == len(data) {
			if !r.eof {
				return 0, nil
			}
			r.scratch = append(r.scratch, bytes.TrimSuffix(data[p:q], []byte{'\r'})...)
			end()
			return r.finishQuoted(q), nil
		}
		switch data[q] {
		case ',':
			r.scratch = append(r.scratch, data[p:q]...)
			end()
			p = q + 1
		case '\n':
			r.scratch = append(r.scratch, bytes.TrimSuffix(data[p:q], []byte{'\r'})...)
			end()
			return r.finishQuoted(q + 1), nil
		default: // '"'
			return 0, r.syntaxErr(data, q, start, len(r.ends),
				`" inside a field that is not quoted`,
				`quote the whole field and write the " as "": "say ""hi"""`)
		}
	}
}

// finishQuoted points r.fields into r.scratch and returns n.
func (r *CSVReader) finishQuoted(n int) int {
	f := r.fields[:0]
	from := 0
	for _, e := range r.ends {
		f = append(f, r.scratch[from:e])
		from = e
	}
	r.fields = f
	return n
}

// fill reads more input after the unread part, growing the buffer up to
// the record limit.
func (r *CSVReader) fill() error {
	if r.r > 0 {
		n := copy(r.buf, r.buf[r.r:r.w])
		r.r, r.w = 0, n
	}
	if r.w == len(r.buf) {
		size := 2 * len(r.buf)
		if size == 0 {
			size = csvInitialBuf
		}
		if lim := r.max + 2; size > lim && lim > len(r.buf) {
			size = lim
		}
		nb := make([]byte, size)
		copy(nb, r.buf[:r.w])
		r.buf = nb
	}
	for range 100 {
		n, err := r.src.Read(r.buf[r.w:])
		r.w += n
		if err == io.EOF {
			r.eof = true
			return nil
		}
		if err != nil {
			return &kpi.InputError{Pos: kpi.Position{File: r.file, Line: r.line + 1},
				Msg: "cannot read the file: " + err.Error(), Err: err}
		}
		if n > 0 {
			return nil
		}
	}
	return &kpi.InputError{Pos: kpi.Position{File: r.file, Line: r.line + 1},
		Msg: "cannot read the file: " + io.ErrNoProgress.Error(), Err: io.ErrNoProgress}
}

// tooLong is the error for a record longer than the limit; data is what
// has been buffered of it.
func (r *CSVReader) tooLong(data []byte) error {
	// Look only as far as the limit, so that the message does not depend
	// on how much input happens to be buffered.
	data = data[:min(len(data), r.max+1)]
	what := "line"
	hint := "is this a CSV file?"
	switch {
	case bytes.IndexByte(data, '\n') >= 0:
		what = "record"
		hint = `a quoted field may be missing its closing "`
	case bytes.IndexByte(data, '\r') >= 0:
		hint = "the file seems to end lines with CR only; convert the line endings to LF or CRLF"
	}
	return &kpi.InputError{
		Pos:  kpi.Position{File: r.file, Line: r.line + 1, Record: r.row + 1},
		Msg:  fmt.Sprintf("%s is longer than the limit of %s", what, sizeText(r.max)),
		Hint: hint,
	}
}

// checkBinary fails on a NUL byte or invalid UTF-8 in b, which starts at
// line start.
func (r *CSVReader) checkBinary(b []byte, start int64) error {
	for i := 0; i < len(b); {
		c := b[i]
		if c == 0 {
			return r.binaryErr(b, i, start)
		}
		if c < utf8.RuneSelf {
			i++
			continue
		}
		rn, size := utf8.DecodeRune(b[i:])
		if rn == utf8.RuneError && size == 1 {
			return r.binaryErr(b, i, start)
		}
		i += size
	}
	return nil
}

func (r *CSVReader) binaryErr(b []byte, i int, start int64) error {
	line, col := lineCol(b, i, start)
	e := &kpi.InputError{
		Pos: kpi.Position{File: r.file, Line: line, Record: r.row + 1},
		Msg: fmt.Sprintf("binary data (byte 0x%02x at column %d): is this a CSV file?", b[i], col),
	}
	if line == 1 && i < 2 && (bytes.HasPrefix(b, []byte{0xff, 0xfe}) || bytes.HasPrefix(b, []byte{0xfe, 0xff})) {
		e.Msg = "the file is UTF-16 text"
		e.Hint = "save it as UTF-8 (in Excel: CSV UTF-8)"
	}
	return e
}

// syntaxErr reports a quoting error at data[i] of a record starting at line
// start, in field number field (0-based).
func (r *CSVReader) syntaxErr(data []byte, i int, start int64, field int, msg, hint string) error {
	line, col := lineCol(data, i, start)
	if line != start {
		msg = fmt.Sprintf("%s (line %d, column %d)", msg, line, col)
	} else {
		msg = fmt.Sprintf("%s (column %d)", msg, col)
	}
	return &kpi.InputError{
		Pos:   kpi.Position{File: r.file, Line: start, Record: r.row + 1},
		Field: r.colName(field),
		Msg:   msg,
		Hint:  hint,
	}
}

// colName names column i once the header is known.
func (r *CSVReader) colName(i int) string {
	if i < len(r.cols.names) && r.cols.names[i] != "" {
		return r.cols.names[i]
	}
	return ""
}

// lineCol returns the line and 1-based byte column of b[i], where b starts
// at the beginning of line start.
func lineCol(b []byte, i int, start int64) (int64, int) {
	line := start + int64(bytes.Count(b[:i], []byte{'\n'}))
	col := i + 1
	if j := bytes.LastIndexByte(b[:i], '\n'); j >= 0 {
		col = i - j
	}
	return line, col
}

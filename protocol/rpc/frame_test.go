package rpc

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"testing"
)

func frame(n uint32, body []byte) []byte {
	return append(binary.BigEndian.AppendUint32(nil, n), body...)
}

func TestFrameRoundTrip(t *testing.T) {
	tests := []struct {
		name  string
		msg   []byte
		limit int
	}{
		{"empty", []byte{}, 10},
		{"small", []byte("hello"), 10},
		{"exactly the limit", bytes.Repeat([]byte{7}, 10), 10},
		{"several read chunks", bytes.Repeat([]byte("abc"), 100_000), 300_000},
		{"default limit", []byte("x"), 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := WriteMsg(&buf, tc.msg); err != nil {
				t.Fatal(err)
			}
			if buf.Len() != headerSize+len(tc.msg) {
				t.Fatalf("frame is %d bytes, want %d", buf.Len(), headerSize+len(tc.msg))
			}
			got, err := ReadMsg(&buf, tc.limit)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, tc.msg) {
				t.Fatalf("read %d bytes, want %d", len(got), len(tc.msg))
			}
			if buf.Len() != 0 {
				t.Fatalf("%d bytes left unread", buf.Len())
			}
		})
	}
}

func TestReadMsgErrors(t *testing.T) {
	tests := []struct {
		name  string
		in    []byte
		limit int
		want  error
	}{
		{"no frame", nil, 10, io.EOF},
		{"short header", []byte{0, 0}, 10, ErrTruncated},
		{"over the limit", frame(11, bytes.Repeat([]byte{1}, 11)), 10, ErrTooLarge},
		{"over the default limit", frame(DefaultMaxMsgSize+1, nil), 0, ErrTooLarge},
		{"huge claimed length", frame(0xffffffff, nil), 10, ErrTooLarge},
		{"truncated body", frame(5, []byte("abc")), 10, ErrTruncated},
		{"truncated large body", frame(200_000, make([]byte, 70_000)), 300_000, ErrTruncated},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ReadMsg(bytes.NewReader(tc.in), tc.limit)
			if !errors.Is(err, tc.want) {
				t.Fatalf("ReadMsg: %v, want %v", err, tc.want)
			}
		})
	}
}

func TestDecodeReply(t *testing.T) {
	tests := []struct {
		name    string
		payload []byte
		want    string
		remote  string
		wantErr error
	}{
		{"ok", []byte("\x00reply"), "reply", "", nil},
		{"ok empty", []byte{0}, "", "", nil},
		{"remote error", []byte("\x01not admitted"), "", "not admitted", nil},
		{"empty frame", nil, "", "", ErrBadReply},
		{"unknown status", []byte{2, 'x'}, "", "", ErrBadReply},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := decodeReply("peer", tc.payload)
			var re *RemoteError
			switch {
			case tc.remote != "":
				if !errors.As(err, &re) || re.Msg != tc.remote || re.Peer != "peer" {
					t.Fatalf("decodeReply: %v, want RemoteError %q", err, tc.remote)
				}
			case tc.wantErr != nil:
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("decodeReply: %v, want %v", err, tc.wantErr)
				}
			default:
				if err != nil || string(got) != tc.want {
					t.Fatalf("decodeReply = %q, %v; want %q", got, err, tc.want)
				}
			}
		})
	}
}

func TestWriteError(t *testing.T) {
	long := bytes.Repeat([]byte("é"), maxErrorLen) // 2 bytes a rune
	var buf bytes.Buffer
	if err := writeError(&buf, string(long)); err != nil {
		t.Fatal(err)
	}
	payload, err := ReadMsg(&buf, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, err = decodeReply("p", payload)
	var re *RemoteError
	if !errors.As(err, &re) {
		t.Fatalf("got %v", err)
	}
	if len(re.Msg) > maxErrorLen+len("…") || !bytes.HasSuffix([]byte(re.Msg), []byte("é…")) {
		t.Fatalf("truncated message is %d bytes, ends %q", len(re.Msg), re.Msg[len(re.Msg)-8:])
	}
}

// FuzzReadMsg: ReadMsg never panics, never returns more than the limit,
// and what it returns is exactly the frame's payload.
func FuzzReadMsg(f *testing.F) {
	f.Add([]byte{}, uint16(10))
	f.Add(frame(3, []byte("abc")), uint16(10))
	f.Add(frame(3, []byte("ab")), uint16(10))
	f.Add(frame(11, make([]byte, 11)), uint16(10))
	f.Add(frame(0xffffffff, []byte("x")), uint16(0))
	f.Add([]byte{0, 0, 1}, uint16(1))
	f.Fuzz(func(t *testing.T, data []byte, limit uint16) {
		msg, err := ReadMsg(bytes.NewReader(data), int(limit))
		if err != nil {
			if msg != nil {
				t.Fatal("message returned with an error")
			}
			return
		}
		max := int(limit)
		if max == 0 {
			max = DefaultMaxMsgSize
		}
		if len(msg) > max {
			t.Fatalf("read %d bytes over a limit of %d", len(msg), max)
		}
		var buf bytes.Buffer
		if err := WriteMsg(&buf, msg); err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(data, buf.Bytes()) {
			t.Fatal("re-encoded frame differs from the input")
		}
	})
}

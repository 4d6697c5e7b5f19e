// Package rpc is the request/response framing of cxnet's own node-to-node
// protocols (join, governance forwarding …): one request frame, one reply
// frame per libp2p stream, a hard size limit on every read, a deadline on
// every stream, handler errors carried back to the caller as
// [*RemoteError].
//
// A frame is a 4-byte big-endian length followed by that many bytes. A
// reply frame's first byte is its status: 0 = ok, the rest is the reply;
// 1 = error, the rest is a UTF-8 message.
//
// It imports only the standard library and go-libp2p. It must not import
// store, contracts, privacy, ingest, node or cli; the node supplies the
// handlers.
package rpc

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/libp2p/go-libp2p/core/peer"
)

// DefaultMaxMsgSize is the default limit on a frame's payload.
const DefaultMaxMsgSize = 4 << 20

// headerSize is the length prefix of a frame.
const headerSize = 4

// Reply status bytes.
const (
	statusOK    byte = 0
	statusError byte = 1
)

// Errors of the framing, for errors.Is.
var (
	// ErrTooLarge: a frame is longer than the reader's limit.
	ErrTooLarge = errors.New("message too large")
	// ErrTruncated: the stream ended inside a frame.
	ErrTruncated = errors.New("truncated message")
	// ErrBadReply: a reply frame is empty or has an unknown status byte.
	ErrBadReply = errors.New("malformed reply")
)

// WriteMsg writes msg as one frame.
func WriteMsg(w io.Writer, msg []byte) error {
	if uint64(len(msg)) > 1<<32-1 {
		return fmt.Errorf("rpc: write: %w: %d bytes do not fit a frame", ErrTooLarge, len(msg))
	}
	return writeFrame(w, nil, msg)
}

// writeFrame writes a frame whose payload is prefix followed by body,
// in one Write when it is small.
func writeFrame(w io.Writer, prefix, body []byte) error {
	n := len(prefix) + len(body)
	const small = 16 << 10
	buf := make([]byte, headerSize, headerSize+len(prefix)+min(len(body), small))
	binary.BigEndian.PutUint32(buf, uint32(n))
	buf = append(buf, prefix...)
	if len(body) <= small {
		buf = append(buf, body...)
		body = nil
	}
	if _, err := w.Write(buf); err != nil {
		return fmt.Errorf("rpc: write frame: %w", err)
	}
	if len(body) > 0 {
		if _, err := w.Write(body); err != nil {
			return fmt.Errorf("rpc: write frame: %w", err)
		}
	}
	return nil
}

// ReadMsg reads one frame whose payload is at most limit bytes (limit ≤ 0
// means DefaultMaxMsgSize). A longer frame is refused with ErrTooLarge
// before its payload is read; a frame cut short returns ErrTruncated.
// Memory grows with the bytes actually received, not with the length the
// sender claims.
func ReadMsg(r io.Reader, limit int) ([]byte, error) {
	if limit <= 0 {
		limit = DefaultMaxMsgSize
	}
	var hdr [headerSize]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("rpc: read frame header: %w: %w", ErrTruncated, err)
		}
		return nil, fmt.Errorf("rpc: read frame header: %w", err) // io.EOF: no frame at all
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if uint64(n) > uint64(limit) {
		return nil, fmt.Errorf("rpc: read frame: %w: %d bytes, limit %d", ErrTooLarge, n, limit)
	}
	const chunk = 64 << 10
	msg := make([]byte, 0, min(int(n), chunk))
	for len(msg) < int(n) {
		want := min(int(n)-len(msg), chunk)
		msg = slices.Grow(msg, want)
		got, err := io.ReadFull(r, msg[len(msg):len(msg)+want])
		msg = msg[:len(msg)+got]
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return nil, fmt.Errorf("rpc: read frame: %w: got %d of %d bytes", ErrTruncated, len(msg), n)
			}
			return nil, fmt.Errorf("rpc: read frame: %w", err)
		}
	}
	return msg, nil
}

// RemoteError is an error the remote handler returned (or a refusal by
// the remote server), as the caller receives it.
type RemoteError struct {
	Peer peer.ID
	Msg  string
}

func (e *RemoteError) Error() string {
	return fmt.Sprintf("rpc: %s replied with an error: %s", e.Peer, e.Msg)
}

// decodeReply splits a reply frame's payload into the reply or a
// RemoteError.
func decodeReply(from peer.ID, payload []byte) ([]byte, error) {
	if len(payload) == 0 {
		return nil, fmt.Errorf("rpc: reply from %s: %w: empty frame", from, ErrBadReply)
	}
	switch payload[0] {
	case statusOK:
		return payload[1:], nil
	case statusError:
		return nil, &RemoteError{Peer: from, Msg: string(payload[1:])}
	}
	return nil, fmt.Errorf("rpc: reply from %s: %w: status byte %d", from, ErrBadReply, payload[0])
}

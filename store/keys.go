package store

import (
	"encoding/binary"
	"errors"
)

// Key layout. Every key starts with a one-byte prefix and a slash.
//
//	b/<batch:8>                           batch meta (JSON): staging or committed
//	m/<measure>                           a measure with records (value empty)
//	o/<measure>\x00<batch:8><chunk:4>     a chunk of up to 256 observations (codec.go)
//	f/<batch:8><part:4>                   the batch's record-id fingerprints, sorted (16 bytes each)
//	x/<batch:8><n:4>                      a record the batch replaces: chunk key + slot
//	n/batch                               last batch number
//	L/, S/                                raft log and stable store (raft.go)
//	A/                                    audit log (audit.go)
//	K/                                    key epochs' secrets (secrets.go)
//
// Observations of one measure are contiguous, and within a measure the
// chunks of one batch are contiguous, so a failed import is undone with a
// few prefix deletions, and a scan reads large sequential values.
var (
	prefixBatch      = []byte("b/")
	measureKeyPrefix = []byte("m/")
	prefixObs        = []byte("o/")
	prefixFinger     = []byte("f/")
	prefixReplace    = []byte("x/")
	keyLastBatch     = []byte("n/batch")
	chunkKeySuffix   = 12 // batch:8 chunk:4
	fingerprintSize  = 16
)

func batchKey(b uint64) []byte {
	return binary.BigEndian.AppendUint64(append([]byte(nil), prefixBatch...), b)
}

func measureKey(m string) []byte { return append(append([]byte(nil), measureKeyPrefix...), m...) }

// obsMeasurePrefix is o/<measure>\x00.
func obsMeasurePrefix(m string) []byte {
	k := make([]byte, 0, len(prefixObs)+len(m)+1)
	return append(append(append(k, prefixObs...), m...), 0)
}

// obsBatchPrefix is o/<measure>\x00<batch>.
func obsBatchPrefix(m string, b uint64) []byte {
	return binary.BigEndian.AppendUint64(obsMeasurePrefix(m), b)
}

func chunkKey(m string, b uint64, chunk uint32) []byte {
	return binary.BigEndian.AppendUint32(obsBatchPrefix(m, b), chunk)
}

// chunkKeyBatch returns the batch of a chunk key.
func chunkKeyBatch(k []byte) uint64 { return binary.BigEndian.Uint64(k[len(k)-chunkKeySuffix:]) }

func batchPrefix(prefix []byte, b uint64) []byte {
	return binary.BigEndian.AppendUint64(append([]byte(nil), prefix...), b)
}

func fingerPartKey(b uint64, part uint32) []byte {
	return binary.BigEndian.AppendUint32(batchPrefix(prefixFinger, b), part)
}

func replaceKey(b uint64, n uint32) []byte {
	return binary.BigEndian.AppendUint32(batchPrefix(prefixReplace, b), n)
}

// slotRef names one observation: its chunk key and its slot in the chunk.
// It is the value of x/ keys.
func appendSlotRef(dst, chunk []byte, slot uint16) []byte {
	return binary.BigEndian.AppendUint16(append(dst, chunk...), slot)
}

func parseSlotRef(v []byte) (chunk []byte, slot uint16, err error) {
	if len(v) < len(prefixObs)+1+chunkKeySuffix+2 {
		return nil, 0, errors.New("store: short slot reference")
	}
	return v[:len(v)-2], binary.BigEndian.Uint16(v[len(v)-2:]), nil
}

// fingerprint is the stable 64-bit FNV-1a hash of a record id; matches are
// always confirmed against the stored id. Tests replace it to force
// collisions.
var fingerprint = fnv64a

func fnv64a(id string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(id); i++ {
		h ^= uint64(id[i])
		h *= 1099511628211
	}
	return h
}

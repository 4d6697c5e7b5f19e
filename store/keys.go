package store

import (
	"encoding/binary"
	"errors"
)

// Key layout. Every key starts with a one-byte prefix and a slash.
//
//	b/<batch:8>                          batch meta (JSON): staging or committed
//	m/<measure>                          a measure with records (value empty)
//	o/<measure>\x00<batch:8><seq:4>      an observation (see codec.go)
//	r/<record_id>                        where a record lives: <batch:8><seq:4><measure>
//	p/<batch:8><record_id>               a pending replacement by batch: old observation key
//	n/batch                              last batch number
//
// Observations of one measure are contiguous, and within a measure the
// observations of one batch are contiguous, so a failed import is undone
// with a few prefix deletions.
var (
	prefixBatch   = []byte("b/")
	prefixMeasure = []byte("m/")
	prefixObs     = []byte("o/")
	prefixRecord  = []byte("r/")
	prefixPending = []byte("p/")
	keyLastBatch  = []byte("n/batch")
)

func batchKey(b uint64) []byte {
	return binary.BigEndian.AppendUint64(append([]byte(nil), prefixBatch...), b)
}

func measureKey(m string) []byte { return append(append([]byte(nil), prefixMeasure...), m...) }

// obsMeasurePrefix is o/<measure>\x00.
func obsMeasurePrefix(m string) []byte {
	k := make([]byte, 0, len(prefixObs)+len(m)+1)
	return append(append(append(k, prefixObs...), m...), 0)
}

// obsBatchPrefix is o/<measure>\x00<batch>.
func obsBatchPrefix(m string, b uint64) []byte {
	return binary.BigEndian.AppendUint64(obsMeasurePrefix(m), b)
}

// appendObsKey appends o/<measure>\x00<batch><seq> to dst.
func appendObsKey(dst []byte, m string, b uint64, seq uint32) []byte {
	dst = append(append(append(dst, prefixObs...), m...), 0)
	dst = binary.BigEndian.AppendUint64(dst, b)
	return binary.BigEndian.AppendUint32(dst, seq)
}

// parseObsKey splits an observation key.
func parseObsKey(k []byte) (measure string, batch uint64, seq uint32, err error) {
	if len(k) < len(prefixObs)+1+12 {
		return "", 0, 0, errors.New("store: short observation key")
	}
	tail := k[len(k)-12:]
	measure = string(k[len(prefixObs) : len(k)-13])
	return measure, binary.BigEndian.Uint64(tail), binary.BigEndian.Uint32(tail[8:]), nil
}

// obsKeyBatch returns the batch of an observation key without allocating.
func obsKeyBatch(k []byte) uint64 { return binary.BigEndian.Uint64(k[len(k)-12:]) }

func appendRecordKey(dst []byte, id string) []byte {
	return append(append(dst, prefixRecord...), id...)
}

// recordLoc is the value of r/<record_id>.
type recordLoc struct {
	batch   uint64
	seq     uint32
	measure string
}

func (l recordLoc) appendTo(dst []byte) []byte {
	dst = binary.BigEndian.AppendUint64(dst, l.batch)
	dst = binary.BigEndian.AppendUint32(dst, l.seq)
	return append(dst, l.measure...)
}

func parseRecordLoc(v []byte) (recordLoc, error) {
	if len(v) < 12 {
		return recordLoc{}, errors.New("store: short record location")
	}
	return recordLoc{
		batch:   binary.BigEndian.Uint64(v),
		seq:     binary.BigEndian.Uint32(v[8:]),
		measure: string(v[12:]),
	}, nil
}

func (l recordLoc) obsKey() []byte { return appendObsKey(nil, l.measure, l.batch, l.seq) }

func pendingPrefix(b uint64) []byte {
	return binary.BigEndian.AppendUint64(append([]byte(nil), prefixPending...), b)
}

func appendPendingKey(dst []byte, b uint64, id string) []byte {
	dst = append(dst, prefixPending...)
	dst = binary.BigEndian.AppendUint64(dst, b)
	return append(dst, id...)
}

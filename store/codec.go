package store

import (
	"encoding/binary"
	"errors"

	"github.com/cxnet/cxnet/kpi"
)

// A chunk holds up to maxChunkSlots observations of one measure from one
// batch: a version byte, then per slot uvarint(len) and the observation
// (len 0: the slot's record was replaced and removed).
//
// An observation:
//
//	unix:varint tzoffset-minutes:varint subject:16 mantissa:varint scale:1
//	len(record_id):uvarint record_id ndims:uvarint { len:uvarint name len:uvarint value }
//
// The record id is kept so that a replaced record can be confirmed; it
// never leaves the store.
const (
	chunkVersion  = 2
	maxChunkSlots = 256
	maxChunkBytes = 32 << 10
)

var errCorrupt = errors.New("store: corrupt observation")

func appendObs(dst []byte, rec *kpi.Record, p kpi.Pseudonym) []byte {
	_, off := rec.Time.Zone()
	dst = binary.AppendVarint(dst, rec.Time.Unix())
	dst = binary.AppendVarint(dst, int64(off/60))
	dst = append(dst, p[:]...)
	dst = binary.AppendVarint(dst, rec.Value.Mantissa)
	dst = append(dst, rec.Value.Scale)
	dst = binary.AppendUvarint(dst, uint64(len(rec.ID)))
	dst = append(dst, rec.ID...)
	dst = binary.AppendUvarint(dst, uint64(len(rec.Dims)))
	for _, d := range rec.Dims {
		dst = binary.AppendUvarint(dst, uint64(len(d.Name)))
		dst = append(dst, d.Name...)
		dst = binary.AppendUvarint(dst, uint64(len(d.Value)))
		dst = append(dst, d.Value...)
	}
	return dst
}

// appendSlot appends one observation as a chunk slot.
func appendSlot(chunk []byte, obs []byte) []byte {
	chunk = binary.AppendUvarint(chunk, uint64(len(obs)))
	return append(chunk, obs...)
}

// eachSlot calls fn for every slot of a chunk, blank ones with an empty obs.
func eachSlot(chunk []byte, fn func(slot int, obs []byte) error) error {
	if len(chunk) < 1 || chunk[0] != chunkVersion {
		return errors.New("store: unknown chunk encoding")
	}
	v := chunk[1:]
	for slot := 0; len(v) > 0; slot++ {
		obs, rest, err := lenPrefixed(v)
		if err != nil {
			return err
		}
		if err := fn(slot, obs); err != nil {
			return err
		}
		v = rest
	}
	return nil
}

// blankSlots returns a copy of chunk with the given slots emptied.
func blankSlots(chunk []byte, slots map[uint16]bool) ([]byte, error) {
	out := make([]byte, 1, len(chunk))
	out[0] = chunkVersion
	err := eachSlot(chunk, func(slot int, obs []byte) error {
		if slots[uint16(slot)] {
			obs = nil
		}
		out = appendSlot(out, obs)
		return nil
	})
	return out, err
}

// decoder decodes observations into one reused kpi.Observation, interning
// dimension strings so a scan allocates only for new values.
type decoder struct {
	obs    kpi.Observation
	intern map[string]string
}

func newDecoder() *decoder { return &decoder{intern: map[string]string{}} }

func (d *decoder) str(b []byte) string {
	if s, ok := d.intern[string(b)]; ok {
		return s
	}
	if len(d.intern) > 1<<16 { // high-cardinality dims: stop interning
		return string(b)
	}
	s := string(b)
	d.intern[s] = s
	return s
}

// decodeTime reads only the instant and local day, to filter cheaply.
func decodeTime(v []byte) (unix int64, day int32, rest []byte, err error) {
	unix, n := binary.Varint(v)
	if n <= 0 {
		return 0, 0, nil, errCorrupt
	}
	v = v[n:]
	off, n := binary.Varint(v)
	if n <= 0 {
		return 0, 0, nil, errCorrupt
	}
	local := unix + off*60
	day = int32(local / 86400)
	if local%86400 < 0 {
		day--
	}
	return unix, day, v[n:], nil
}

// decodeRest fills d.obs from v (after decodeTime).
func (d *decoder) decodeRest(v []byte) error {
	o := &d.obs
	if len(v) < 16 {
		return errCorrupt
	}
	copy(o.Subject[:], v[:16])
	v = v[16:]
	m, n := binary.Varint(v)
	if n <= 0 || len(v) < n+1 {
		return errCorrupt
	}
	o.Value = kpi.Decimal{Mantissa: m, Scale: v[n]}
	v = v[n+1:]
	_, v, err := lenPrefixed(v) // record id
	if err != nil {
		return err
	}
	nd, n := binary.Uvarint(v)
	if n <= 0 || nd > uint64(len(v)) {
		return errCorrupt
	}
	v = v[n:]
	o.Dims = o.Dims[:0]
	for i := uint64(0); i < nd; i++ {
		var name, val []byte
		if name, v, err = lenPrefixed(v); err != nil {
			return err
		}
		if val, v, err = lenPrefixed(v); err != nil {
			return err
		}
		o.Dims = append(o.Dims, kpi.Dim{Name: d.str(name), Value: d.str(val)})
	}
	return nil
}

func lenPrefixed(v []byte) (field, rest []byte, err error) {
	l, n := binary.Uvarint(v)
	if n <= 0 || l > uint64(len(v)-n) {
		return nil, nil, errCorrupt
	}
	return v[n : n+int(l)], v[n+int(l):], nil
}

// recordIDOf returns the record id stored in an observation.
func recordIDOf(v []byte) (string, error) {
	_, _, rest, err := decodeTime(v)
	if err != nil {
		return "", err
	}
	if len(rest) < 16 {
		return "", errCorrupt
	}
	rest = rest[16:]
	_, n := binary.Varint(rest)
	if n <= 0 || len(rest) < n+1 {
		return "", errCorrupt
	}
	id, _, err := lenPrefixed(rest[n+1:])
	return string(id), err
}

package privacy

import (
	"bytes"
	"encoding"
	"fmt"
	"sync"

	"github.com/tuneinsight/lattigo/v5/ring"
)

// Lattigo's decoders trust the headers inside an encoding (ring degree,
// levels, lengths): a forged header makes them allocate wildly or recurse
// until the stack overflows, which no recover() catches. So before an
// object from another member reaches a decoder, its bytes are matched
// against the layout of a well-formed one: the same length, and every
// byte that is not a coefficient (headers, metadata) identical.

// layout is the encoding of one kind of object: a template, and which
// bytes are structure rather than coefficients.
type layout struct {
	template   []byte
	structural []bool
}

// layouts caches layouts by parameters and kind.
var layouts sync.Map // string -> *layout

// objectLayout returns the layout of the objects alloc makes: alloc
// returns a fresh object and the polynomials holding its coefficients.
func objectLayout(p Params, kind string, alloc func() (encoding.BinaryMarshaler, []ring.Poly)) (*layout, error) {
	key := p.Name() + "\x00" + kind
	if l, ok := layouts.Load(key); ok {
		return l.(*layout), nil
	}
	encode := func(fill uint64) ([]byte, error) {
		obj, polys := alloc()
		for _, pol := range polys {
			for _, row := range pol.Coeffs {
				for i := range row {
					row[i] = fill
				}
			}
		}
		return obj.MarshalBinary()
	}
	zeros, err := encode(0)
	if err != nil {
		return nil, err
	}
	ones, err := encode(^uint64(0))
	if err != nil {
		return nil, err
	}
	if len(zeros) != len(ones) {
		return nil, fmt.Errorf("privacy: %s: encodings of different lengths", kind)
	}
	l := &layout{template: zeros, structural: make([]bool, len(zeros))}
	for i := range zeros {
		l.structural[i] = zeros[i] == ones[i]
	}
	layouts.Store(key, l)
	return l, nil
}

// check reports whether b has the layout: its length and every structural
// byte.
func (l *layout) check(b []byte) error {
	if len(b) != len(l.template) {
		return fmt.Errorf("%d bytes, want %d", len(b), len(l.template))
	}
	if bytes.Equal(b, l.template) {
		return nil
	}
	for i, s := range l.structural {
		if s && b[i] != l.template[i] {
			return fmt.Errorf("byte %d is not what a well-formed encoding has there (a header or metadata)", i)
		}
	}
	return nil
}

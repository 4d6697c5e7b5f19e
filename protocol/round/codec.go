package round

import (
	"fmt"

	"github.com/fxamacker/cbor/v2"
)

// Messages are CBOR (RFC 8949): ciphertexts and shares go as byte
// strings, where JSON's base64 would add a third. Decoding is strict: no
// unknown or duplicate fields, no indefinite lengths, nothing after the
// message; the stream's size limit (rpc) bounds the rest.
var (
	encMode cbor.EncMode
	decMode cbor.DecMode
)

func init() {
	var err error
	if encMode, err = (cbor.EncOptions{Sort: cbor.SortCoreDeterministic}).EncMode(); err != nil {
		panic(err) // constant options: caught by every test
	}
	if decMode, err = (cbor.DecOptions{
		DupMapKey:         cbor.DupMapKeyEnforcedAPF,
		IndefLength:       cbor.IndefLengthForbidden,
		ExtraReturnErrors: cbor.ExtraDecErrorUnknownField,
		MaxNestedLevels:   16,
	}).DecMode(); err != nil {
		panic(err)
	}
}

// Encode encodes a request or a reply as the protocol sends it.
func Encode(v any) ([]byte, error) { return encMode.Marshal(v) }

// DecodeReply decodes a reply into out, as strictly as a request.
func DecodeReply(b []byte, out any) error {
	if err := decMode.Unmarshal(b, out); err != nil {
		return fmt.Errorf("round: reply: %w", err)
	}
	return nil
}

package rpc

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
)

// DecodeJSON decodes one JSON message into v strictly, as the wire
// protocols that speak JSON over this framing want: unknown fields and
// anything after the message are refused.
func DecodeJSON(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return fmt.Errorf("data after the message at byte %d", dec.InputOffset())
	}
	return nil
}

package protocol

import (
	"bytes"
	"strings"
	"testing"
)

func TestParsePSK(t *testing.T) {
	psk, err := GeneratePSK()
	if err != nil {
		t.Fatal(err)
	}
	hexKey := EncodePSK(psk)
	tests := []struct {
		name    string
		in      string
		wantErr string
	}{
		{"hex", hexKey, ""},
		{"hex with newline", hexKey + "\n", ""},
		{"swarm.key", "/key/swarm/psk/1.0.0/\n/base16/\n" + hexKey + "\n", ""},
		{"short hex", hexKey[:62], "64 hex digits"},
		{"not hex", strings.Repeat("z", 64), "64 hex digits"},
		{"bad swarm.key", "/key/swarm/psk/1.0.0/\n/base99/\nxx", "not a valid swarm.key"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParsePSK(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("ParsePSK: %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || !bytes.Equal(got, psk) {
				t.Fatalf("ParsePSK = %x, %v; want %x", got, err, psk)
			}
		})
	}
	if PSKFingerprint(nil) != "none" || len(PSKFingerprint(psk)) != 8 || strings.Contains(hexKey, PSKFingerprint(psk)) {
		t.Errorf("fingerprint %q", PSKFingerprint(psk))
	}
}

// FuzzParsePSK: ParsePSK never panics and accepts only 32-byte keys that
// round-trip through EncodePSK.
func FuzzParsePSK(f *testing.F) {
	f.Add(strings.Repeat("ab", 32))
	f.Add("/key/swarm/psk/1.0.0/\n/base16/\n" + strings.Repeat("ab", 32))
	f.Add("/key/swarm/psk/1.0.0/\n/base64/\nAAAA")
	f.Add("/key/swarm/psk/1.0.0/\n/bin/\n\x00\x01")
	f.Fuzz(func(t *testing.T, s string) {
		psk, err := ParsePSK(s)
		if err != nil {
			return
		}
		if len(psk) != PSKSize {
			t.Fatalf("accepted a %d-byte psk", len(psk))
		}
		again, err := ParsePSK(EncodePSK(psk))
		if err != nil || !bytes.Equal(again, psk) {
			t.Fatalf("round trip: %x, %v", again, err)
		}
	})
}

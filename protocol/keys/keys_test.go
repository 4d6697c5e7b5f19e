package keys

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// TestMessagesGolden pins the wire encoding of every message type and
// round-trips it through the strict decoder.
func TestMessagesGolden(t *testing.T) {
	tests := []struct {
		file string
		msg  any
		into func() any
	}{
		{"deal.json", Deal{Epoch: 3, Share: []byte("a Shamir share\x00\xff")}, func() any { return new(Deal) }},
		{"deal-max-epoch.json", Deal{Epoch: math.MaxUint64, Share: []byte{1}}, func() any { return new(Deal) }},
		{"ack.json", Ack{Epoch: 3}, func() any { return new(Ack) }},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			got, err := json.Marshal(tc.msg)
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("testdata", tc.file)
			if *update {
				if err := os.WriteFile(path, append(got, '\n'), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -update to write it)", err)
			}
			want = bytes.TrimSuffix(want, []byte("\n"))
			if !bytes.Equal(got, want) {
				t.Fatalf("encoding changed (a change old nodes cannot read needs a new protocol ID):\ngot  %s\nwant %s", got, want)
			}
			back := tc.into()
			if err := decodeStrict(want, back); err != nil {
				t.Fatal(err)
			}
			if v := reflect.ValueOf(back).Elem().Interface(); !reflect.DeepEqual(v, tc.msg) {
				t.Fatalf("round trip: got %+v, want %+v", v, tc.msg)
			}
		})
	}
}

// TestMaxDealSize: the longest Deal of a share of n bytes is exactly
// MaxDealSize(n) bytes long, so the frame limit admits every deal of an
// honest member and nothing longer.
func TestMaxDealSize(t *testing.T) {
	for _, n := range []int{1, 2, 3, 4, 64, 196648} {
		b, err := json.Marshal(Deal{Epoch: math.MaxUint64, Share: bytes.Repeat([]byte{0xff}, n)})
		if err != nil {
			t.Fatal(err)
		}
		if len(b) != MaxDealSize(n) {
			t.Errorf("share of %d bytes: longest deal is %d bytes, MaxDealSize says %d", n, len(b), MaxDealSize(n))
		}
	}
}

// TestDecodeDeal: what the server hands to its backend has the shape of
// a deal; everything else is refused with an error that says why.
func TestDecodeDeal(t *testing.T) {
	const max = 8
	tests := []struct {
		name string
		in   string
		want Deal
		err  error
		msg  string
	}{
		{"deal", `{"epoch":2,"share":"AQIDBA=="}`, Deal{Epoch: 2, Share: []byte{1, 2, 3, 4}}, nil, ""},
		{"share of the largest size", `{"epoch":1,"share":"AAAAAAAAAAA="}`, Deal{Epoch: 1, Share: make([]byte, 8)}, nil, ""},
		{"fields in another order", `{"share":"AQ==","epoch":7}`, Deal{Epoch: 7, Share: []byte{1}}, nil, ""},
		{"not json", `{`, Deal{}, ErrMalformed, "unexpected EOF"},
		{"empty", ``, Deal{}, ErrMalformed, "EOF"},
		{"null", `null`, Deal{}, ErrMalformed, "key epoch 0"},
		{"array", `[1,2]`, Deal{}, ErrMalformed, "cannot unmarshal"},
		{"unknown field", `{"epoch":1,"share":"AQ==","dealer":"hosp-a"}`, Deal{}, ErrMalformed, "unknown field"},
		{"a second message after it", `{"epoch":1,"share":"AQ=="}{"epoch":2,"share":"AQ=="}`, Deal{}, ErrMalformed, "data after the message"},
		{"garbage after it", `{"epoch":1,"share":"AQ=="} x`, Deal{}, ErrMalformed, "data after the message"},
		{"negative epoch", `{"epoch":-1,"share":"AQ=="}`, Deal{}, ErrMalformed, "cannot unmarshal"},
		{"epoch over 64 bits", `{"epoch":18446744073709551616,"share":"AQ=="}`, Deal{}, ErrMalformed, "cannot unmarshal"},
		{"epoch as a string", `{"epoch":"1","share":"AQ=="}`, Deal{}, ErrMalformed, "cannot unmarshal"},
		{"no epoch", `{"share":"AQ=="}`, Deal{}, ErrMalformed, "key epoch 0"},
		{"share not base64", `{"epoch":1,"share":"!!"}`, Deal{}, ErrMalformed, "illegal base64"},
		{"no share", `{"epoch":1}`, Deal{}, ErrShareSize, "0 bytes"},
		{"empty share", `{"epoch":1,"share":""}`, Deal{}, ErrShareSize, "0 bytes"},
		{"share one byte too long", `{"epoch":1,"share":"AAAAAAAAAAAA"}`, Deal{}, ErrShareSize, "9 bytes, want 1 to 8"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := decodeDeal([]byte(tc.in), max)
			if tc.err == nil {
				if err != nil || !reflect.DeepEqual(got, tc.want) {
					t.Fatalf("got %+v, %v; want %+v", got, err, tc.want)
				}
				return
			}
			if !errors.Is(err, tc.err) || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("got %+v, %v; want %v containing %q", got, err, tc.err, tc.msg)
			}
		})
	}
}

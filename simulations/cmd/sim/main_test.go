package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// TestSimJSON runs the simulation at three organisations and checks it
// prints exactly the documented fields, with a release equal to the
// pooled computation and figures that make sense.
func TestSimJSON(t *testing.T) {
	var out bytes.Buffer
	if err := run([]string{"--orgs", "3", "--records", "600", "--cells", "16", "--rounds", "2", "--json"}, &out); err != nil {
		t.Fatal(err)
	}
	t.Log(out.String())
	var fields map[string]any
	if err := json.Unmarshal(out.Bytes(), &fields); err != nil {
		t.Fatal(err)
	}
	want := []string{"orgs", "cells", "key_epoch_seconds", "governance_seconds", "round_seconds", "crypto_floor_seconds",
		"bytes_per_participant", "bytes_floor_per_participant", "peak_rss_bytes", "released_equals_pooled"}
	if len(fields) != len(want) {
		t.Errorf("%d fields, want %d: %v", len(fields), len(want), fields)
	}
	for _, k := range want {
		if _, ok := fields[k]; !ok {
			t.Errorf("no field %s", k)
		}
	}
	var r Result
	_ = json.Unmarshal(out.Bytes(), &r)
	if !r.ReleasedEqualsPooled || r.Orgs != 3 || r.Cells != 16 || r.RoundSeconds <= 0 || r.CryptoFloorSeconds <= 0 ||
		r.BytesPerParticipant < r.BytesFloorPerParticipant || r.PeakRSSBytes <= 0 || r.KeyEpochSeconds <= 0 || r.GovernanceSeconds <= 0 {
		t.Fatalf("result %+v", r)
	}
}

// TestSimFlags: bad flags are refused with a message saying which.
func TestSimFlags(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"two orgs", []string{"--orgs", "2"}, "at least 3"},
		{"no rounds", []string{"--rounds", "0"}, "at least one"},
		{"negative latency", []string{"--latency", "-1s"}, "must not be negative"},
		{"argument", []string{"extra"}, "unexpected arguments"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := run(tc.args, &bytes.Buffer{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("run %v: %v, want %q", tc.args, err, tc.want)
			}
		})
	}
}

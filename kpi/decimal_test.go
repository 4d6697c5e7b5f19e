package kpi

import (
	"math/big"
	"testing"
)

func TestParseDecimal(t *testing.T) {
	tests := []struct {
		in   string
		want Decimal
		err  error
	}{
		{"0", Decimal{}, nil},
		{"-0.000", Decimal{}, nil},
		{"42", Decimal{42, 0}, nil},
		{"-3.25", Decimal{-325, 2}, nil},
		{"+0.5", Decimal{5, 1}, nil},
		{".5", Decimal{5, 1}, nil},
		{"5.", Decimal{5, 0}, nil},
		{"1.50", Decimal{15, 1}, nil},
		{"1e3", Decimal{1000, 0}, nil},
		{"2.5E-2", Decimal{25, 3}, nil},
		{"007", Decimal{7, 0}, nil},
		{"123456789012345678", Decimal{123456789012345678, 0}, nil},
		{"1234567890123456789", Decimal{}, ErrDecimalRange},
		{"", Decimal{}, ErrDecimalSyntax},
		{"-", Decimal{}, ErrDecimalSyntax},
		{".", Decimal{}, ErrDecimalSyntax},
		{"1.2.3", Decimal{}, ErrDecimalSyntax},
		{"NaN", Decimal{}, ErrDecimalSyntax},
		{"Inf", Decimal{}, ErrDecimalSyntax},
		{"0x10", Decimal{}, ErrDecimalSyntax},
		{"1_000", Decimal{}, ErrDecimalSyntax},
		{"1e", Decimal{}, ErrDecimalSyntax},
		{"1e+", Decimal{}, ErrDecimalSyntax},
		{"1e99", Decimal{}, ErrDecimalRange},
		{" 1", Decimal{}, ErrDecimalSyntax},
		{"nine", Decimal{}, ErrDecimalSyntax},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseDecimal(tt.in)
			if err != tt.err {
				t.Fatalf("ParseDecimal(%q) error = %v, want %v", tt.in, err, tt.err)
			}
			if got != tt.want {
				t.Fatalf("ParseDecimal(%q) = %+v, want %+v", tt.in, got, tt.want)
			}
		})
	}
}

func TestDecimalFixed(t *testing.T) {
	tests := []struct {
		in        string
		precision int
		want      int64
	}{
		{"41.75", 2, 4175},
		{"41.75", 1, 418},
		{"41.74", 1, 417},
		{"-41.75", 1, -418},
		{"-41.74", 1, -417},
		{"0.5", 0, 1},
		{"-0.5", 0, -1},
		{"0.49", 0, 0},
		{"9", 3, 9000},
		{"0.000000000000000001", 0, 0},
	}
	for _, tt := range tests {
		got, ok := MustDecimal(tt.in).Fixed(tt.precision)
		if !ok || got != tt.want {
			t.Errorf("%s.Fixed(%d) = %d, %v; want %d", tt.in, tt.precision, got, ok, tt.want)
		}
	}
	if _, ok := MustDecimal("900000000000000000").Fixed(2); ok {
		t.Error("overflowing Fixed reported ok")
	}
}

func FuzzParseDecimal(f *testing.F) {
	for _, s := range []string{"0", "-3.25", "1e3", ".5", "2.5E-2", "999999999999999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDecimal(s)
		if err != nil {
			return
		}
		// The formatted value parses back to the same decimal, and agrees
		// with math/big's reading of the input.
		back, err := ParseDecimal(d.String())
		if err != nil || back != d {
			t.Fatalf("%q -> %v -> %q -> %v, %v", s, d, d.String(), back, err)
		}
		r, ok := new(big.Rat).SetString(s)
		if ok && r.Cmp(d.Rat()) != 0 {
			t.Fatalf("%q: got %v, big.Rat says %v", s, d.Rat(), r)
		}
	})
}

package kpi

import (
	"errors"
	"fmt"
	"math"
	"math/big"
	"strconv"
)

// MaxScale is the largest number of decimals a Decimal keeps.
const MaxScale = 18

// Decimal is an exact decimal number: Mantissa / 10^Scale. Values are kept
// exactly as written in the source so that fixed-point KPI arithmetic gives
// the same integers on every node.
type Decimal struct {
	Mantissa int64
	Scale    uint8
}

// ErrDecimalSyntax is returned for text that is not a decimal number.
var ErrDecimalSyntax = errors.New("not a decimal number")

// ErrDecimalRange is returned for numbers that do not fit 18 significant
// digits.
var ErrDecimalRange = errors.New("number out of range (at most 18 significant digits)")

// ParseDecimal parses "42", "-3.25", "+0.5", ".5", "1e3", "2.5E-2".
// It rejects NaN, infinities, hex, underscores and empty text.
func ParseDecimal(s string) (Decimal, error) {
	if len(s) == 0 {
		return Decimal{}, ErrDecimalSyntax
	}
	i := 0
	neg := false
	if s[0] == '+' || s[0] == '-' {
		neg = s[0] == '-'
		i++
	}
	var mant uint64
	scale := 0
	digits := 0
	sawDot := false
	sig := 0
	for ; i < len(s); i++ {
		c := s[i]
		if c == '.' {
			if sawDot {
				return Decimal{}, ErrDecimalSyntax
			}
			sawDot = true
			continue
		}
		if c < '0' || c > '9' {
			break
		}
		digits++
		if mant == 0 && c == '0' {
			if sawDot {
				scale++
			}
			continue
		}
		sig++
		if sig > 18 {
			return Decimal{}, ErrDecimalRange
		}
		mant = mant*10 + uint64(c-'0')
		if sawDot {
			scale++
		}
	}
	if digits == 0 {
		return Decimal{}, ErrDecimalSyntax
	}
	if i < len(s) {
		if s[i] != 'e' && s[i] != 'E' {
			return Decimal{}, ErrDecimalSyntax
		}
		exp, err := strconv.Atoi(s[i+1:])
		if err != nil || len(s[i+1:]) == 0 || s[i+1] == '_' {
			return Decimal{}, ErrDecimalSyntax
		}
		if exp > 40 || exp < -40 {
			return Decimal{}, ErrDecimalRange
		}
		scale -= exp
	}
	for scale < 0 {
		if mant > math.MaxInt64/10 {
			return Decimal{}, ErrDecimalRange
		}
		mant *= 10
		scale++
		sig++
		if mant != 0 && sig > 18 {
			return Decimal{}, ErrDecimalRange
		}
	}
	// Drop trailing zeros after the point so equal numbers compare equal.
	for scale > 0 && mant%10 == 0 {
		mant /= 10
		scale--
	}
	if mant == 0 {
		return Decimal{}, nil
	}
	if scale > MaxScale {
		return Decimal{}, ErrDecimalRange
	}
	m := int64(mant)
	if neg {
		m = -m
	}
	return Decimal{Mantissa: m, Scale: uint8(scale)}, nil
}

// MustDecimal is ParseDecimal for constants in code and tests.
func MustDecimal(s string) Decimal {
	d, err := ParseDecimal(s)
	if err != nil {
		panic(fmt.Sprintf("kpi.MustDecimal(%q): %v", s, err))
	}
	return d
}

// DecimalFromInt returns the decimal of an integer.
func DecimalFromInt(i int64) Decimal { return Decimal{Mantissa: i} }

// Float returns the nearest float64.
func (d Decimal) Float() float64 {
	f, _ := d.Rat().Float64()
	return f
}

// Rat returns the exact rational value.
func (d Decimal) Rat() *big.Rat {
	den := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(d.Scale)), nil)
	return new(big.Rat).SetFrac(big.NewInt(d.Mantissa), den)
}

// Cmp compares d and e exactly: -1, 0 or +1.
func (d Decimal) Cmp(e Decimal) int {
	if d.Scale == e.Scale {
		switch {
		case d.Mantissa < e.Mantissa:
			return -1
		case d.Mantissa > e.Mantissa:
			return 1
		}
		return 0
	}
	return d.Rat().Cmp(e.Rat())
}

// Fixed returns round(d × 10^precision), rounding half away from zero, and
// false when the result does not fit an int64.
func (d Decimal) Fixed(precision int) (int64, bool) {
	shift := precision - int(d.Scale)
	m := d.Mantissa
	if shift >= 0 {
		for ; shift > 0; shift-- {
			if m > math.MaxInt64/10 || m < math.MinInt64/10 {
				return 0, false
			}
			m *= 10
		}
		return m, true
	}
	var div int64 = 1
	for ; shift < 0; shift++ {
		if div > math.MaxInt64/10 {
			return 0, true // |d| < 10^18 / 10^19: rounds to zero
		}
		div *= 10
	}
	q, r := m/div, m%div
	if r < 0 {
		r = -r
	}
	if r >= div-r { // half away from zero
		if m < 0 {
			q--
		} else {
			q++
		}
	}
	return q, true
}

// String formats the decimal without exponent ("-3.25").
func (d Decimal) String() string {
	if d.Scale == 0 {
		return strconv.FormatInt(d.Mantissa, 10)
	}
	neg := d.Mantissa < 0
	u := uint64(d.Mantissa)
	if neg {
		u = uint64(-d.Mantissa)
	}
	s := strconv.FormatUint(u, 10)
	for len(s) <= int(d.Scale) {
		s = "0" + s
	}
	s = s[:len(s)-int(d.Scale)] + "." + s[len(s)-int(d.Scale):]
	if neg {
		s = "-" + s
	}
	return s
}

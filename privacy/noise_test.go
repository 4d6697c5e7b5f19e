package privacy

import (
	"math"
	"testing"
)

// TestLaplaceSharesAddUp: the sum of n members' shares follows the
// discrete Laplace distribution P(k) ∝ α^|k|: its mean is 0, its variance
// 2α/(1-α)², and P(0) = (1-α)/(1+α), for several n and scales.
func TestLaplaceSharesAddUp(t *testing.T) {
	noise := NewNoise()
	for _, tc := range []struct {
		members          int
		sensitivity, eps float64
	}{{1, 1, 1}, {3, 2, 1}, {5, 1, 0.1}, {4, 1000, 0.5}} {
		alpha := math.Exp(-tc.eps / tc.sensitivity)
		const draws = 40000
		var sum, sq float64
		zeros := 0
		for range draws {
			var x int64
			for range tc.members {
				s, err := noise.LaplaceShare(tc.members, tc.sensitivity, tc.eps)
				if err != nil {
					t.Fatal(err)
				}
				x += s
			}
			sum += float64(x)
			sq += float64(x) * float64(x)
			if x == 0 {
				zeros++
			}
		}
		mean, variance := sum/draws, sq/draws-(sum/draws)*(sum/draws)
		wantVar := 2 * alpha / ((1 - alpha) * (1 - alpha))
		sd := math.Sqrt(wantVar)
		if math.Abs(mean) > 5*sd/math.Sqrt(draws) {
			t.Errorf("%+v: mean %.3f, want 0 (sd of the mean %.3f)", tc, mean, sd/math.Sqrt(draws))
		}
		if math.Abs(variance/wantVar-1) > 0.08 {
			t.Errorf("%+v: variance %.2f, want %.2f", tc, variance, wantVar)
		}
		p0 := (1 - alpha) / (1 + alpha)
		if got := float64(zeros) / draws; math.Abs(got-p0) > 5*math.Sqrt(p0*(1-p0)/draws)+1e-3 {
			t.Errorf("%+v: P(0) = %.4f, want %.4f", tc, got, p0)
		}
	}
	if _, err := noise.LaplaceShare(0, 1, 1); err == nil {
		t.Fatal("no members accepted")
	}
}

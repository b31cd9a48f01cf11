package quantile

import (
	"testing"
	"time"
)

func TestOf(t *testing.T) {
	xs := []time.Duration{5, 1, 4, 2, 3}
	for _, tc := range []struct {
		name string
		q    float64
		want time.Duration
	}{
		{"min", 0, 1}, {"median", 0.5, 3}, {"p90", 0.9, 5}, {"max", 1, 5}, {"below 0", -1, 1}, {"above 1", 2, 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Of(xs, tc.q); got != tc.want {
				t.Errorf("Of(%v, %v) = %v, want %v", xs, tc.q, got, tc.want)
			}
		})
	}
	if xs[0] != 5 {
		t.Errorf("Of sorted its argument: %v", xs)
	}
	if got := Of([]float64(nil), 0.5); got != 0 {
		t.Errorf("Of(none) = %v, want 0", got)
	}
}

// Package quantile is the one way tests and benchmarks summarize a sample of timings.
package quantile

import (
	"cmp"
	"slices"
)

// Of returns the q-quantile (q from 0 to 1) of xs by nearest rank: Of(xs, 0.5) is the median of an odd
// sample, Of(xs, 1) the largest. xs is not modified; a sample of none gives the zero value.
func Of[T cmp.Ordered](xs []T, q float64) T {
	var zero T
	if len(xs) == 0 {
		return zero
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	q = min(max(q, 0), 1)
	return s[int(q*float64(len(s)-1)+0.5)]
}

package typo

import (
	"strings"
	"testing"
)

func TestDistance(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want int
	}{
		{"", "", 0},
		{"status", "status", 0},
		{"stauts", "status", 2},
		{"chekc", "check", 2},
		{"forwads", "forwards", 1},
		{"", "abc", 3},
		{"abc", "", 3},
		{"fish", "bash", 2},
		{"kitten", "sitting", 3},
		{"a", "abcde", 4},                           // lengths 4 apart: not computed
		{strings.Repeat("x", 1<<20), "forwards", 4}, // a huge key costs nothing
	} {
		t.Run(tc.a+"~"+tc.b, func(t *testing.T) {
			if got := Distance(tc.a, tc.b); got != tc.want {
				t.Errorf("Distance(%.20q, %q) = %d, want %d", tc.a, tc.b, got, tc.want)
			}
			if got := Distance(tc.b, tc.a); got != tc.want {
				t.Errorf("Distance(%q, %.20q) = %d, want %d (not symmetric)", tc.b, tc.a, got, tc.want)
			}
		})
	}
}

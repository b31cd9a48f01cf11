// Package typo is the one edit distance of hairpin's "did you mean" suggestions: config's for an unknown
// key, the command line's for an unknown command.
package typo

// Distance is the Levenshtein distance of a and b, bytewise (keys and command names are ASCII), or 4 when
// their lengths differ by more than 3: no caller suggests a word that far, and a huge input costs nothing.
func Distance(a, b string) int {
	if len(a) > len(b)+3 || len(b) > len(a)+3 {
		return 4
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

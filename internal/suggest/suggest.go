// Package suggest finds the name a mistyped one was probably meant to be,
// for "did you mean" in every validator (scenarios, image definitions,
// seccomp profiles). It has no dependencies, so the guest can use it too.
package suggest

import "strings"

// Nearest returns the candidate closest to s by edit distance when it is
// close enough to be an obvious typo, or "".
func Nearest(s string, candidates []string) string {
	best, bestD := "", -1
	ls := strings.ToLower(s)
	for _, c := range candidates {
		d := distance(ls, strings.ToLower(c))
		if bestD < 0 || d < bestD {
			best, bestD = c, d
		}
	}
	limit := 2
	if len(s) <= 3 {
		limit = 1
	}
	if bestD >= 0 && bestD <= limit && bestD < len(s) {
		return best
	}
	// Else a candidate that alone shares a good prefix with s ("denied"
	// for "deny").
	found := ""
	for _, c := range candidates {
		n := commonPrefix(ls, strings.ToLower(c))
		if n >= 3 && 2*n >= min(len(ls), len(c)) {
			if found != "" {
				return ""
			}
			found = c
		}
	}
	return found
}

func commonPrefix(a, b string) int {
	n := 0
	for n < len(a) && n < len(b) && a[n] == b[n] {
		n++
	}
	return n
}

// distance is the Damerau-Levenshtein (optimal string alignment) distance
// of a and b, counting an adjacent swap ("stpes") as one edit.
func distance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	if len(ra) > 64 || len(rb) > 64 {
		// Long strings are never typos of a field name; skip the work.
		if a == b {
			return 0
		}
		return 1 << 20
	}
	d := make([][]int, len(ra)+1)
	for i := range d {
		d[i] = make([]int, len(rb)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(ra); i++ {
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(ra)][len(rb)]
}

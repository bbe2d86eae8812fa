// Package yamlcheck holds what tsemlab's strict YAML decoders share
// (scenarios in harness/scenario, image definitions in harness/rootfs): the
// positioned ValidationError with its fix, the "did you mean" suggestion,
// and the yaml.v3 node helpers every schema walk needs.
package yamlcheck

import (
	"fmt"
	"sort"
	"strings"

	"github.com/tsemlab/tsemlab/internal/suggest"
)

// ValidationError is one mistake in a file, at a position when it has one
// (Line and Col are 1-based; 0 means unknown).
type ValidationError struct {
	File string
	Line int
	Col  int
	Msg  string
}

// Error formats e as "file:line:col: msg", leaving out the parts that are
// unknown.
func (e *ValidationError) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
		if e.Col > 0 {
			fmt.Fprintf(&b, ":%d", e.Col)
		}
	}
	if b.Len() > 0 {
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// ValidationErrors are all the mistakes found in one or more files, in file
// and position order. errors.As finds each *ValidationError in it.
type ValidationErrors []*ValidationError

// Error returns one error per line.
func (es ValidationErrors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap returns the errors, for errors.Is and errors.As.
func (es ValidationErrors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}

// SortErrors orders es by position within a file, keeping the order of
// errors at the same position; a file's errors come together, files in
// the order they first appear (a scenario, then a profile it names).
func SortErrors(es []*ValidationError) {
	first := map[string]int{}
	for i, e := range es {
		if _, ok := first[e.File]; !ok {
			first[e.File] = i
		}
	}
	sort.SliceStable(es, func(i, j int) bool {
		if es[i].File != es[j].File {
			return first[es[i].File] < first[es[j].File]
		}
		if es[i].Line != es[j].Line {
			return es[i].Line < es[j].Line
		}
		return es[i].Col < es[j].Col
	})
}

// DidYouMean returns "; did you mean "x"?" for the candidate nearest to s,
// or "" when none is close.
func DidYouMean(s string, candidates []string) string {
	if c := Nearest(s, candidates); c != "" {
		return fmt.Sprintf("; did you mean %q?", c)
	}
	return ""
}

// Nearest returns the candidate closest to s when it is close enough to
// be an obvious typo, or "" (see package suggest).
func Nearest(s string, candidates []string) string { return suggest.Nearest(s, candidates) }

package model

import (
	"fmt"
	"io"
	"sort"
	"strings"
)

// Severity of a Diagnostic.
const (
	SeverityError   = "error"
	SeverityWarning = "warning"
)

// Diagnostic is one finding of Lint.
type Diagnostic struct {
	// Line is the 1-based line number; for a finding about the whole file
	// (a missing "end") it is the number of lines plus one.
	Line int
	// Severity is SeverityError for lines Quixote's loader rejects and
	// SeverityWarning for lines it loads that are probably mistakes.
	Severity string
	Msg      string
}

func (d Diagnostic) String() string { return fmt.Sprintf("line %d: %s: %s", d.Line, d.Severity, d.Msg) }

// Lint checks a model file and reports every problem instead of stopping at
// the first. Errors are what Parse rejects; warnings are duplicate states
// or pseudonyms, a "seal" with no states, lines after "end", a missing
// "end" and a "signature" without a "key". The result is ordered by line.
func Lint(r io.Reader) []Diagnostic {
	p := newParser()
	var diags []Diagnostic
	err := scanLines(r, func(n int, line string) error {
		if d := p.line(n, line); d != nil {
			diags = append(diags, *d)
		}
		return nil
	})
	if err != nil {
		diags = append(diags, Diagnostic{Line: p.lastLine + 1, Severity: SeverityError, Msg: err.Error()})
	}
	diags = append(diags, p.warnings...)
	if p.m.Seal && len(p.m.States) == 0 {
		diags = append(diags, Diagnostic{Line: p.sealLine, Severity: SeverityWarning,
			Msg: "\"seal\" in a model without \"state\" lines: every event of the workload becomes a violation"})
	}
	if !p.m.End {
		diags = append(diags, Diagnostic{Line: p.lastLine + 1, Severity: SeverityWarning,
			Msg: "missing \"end\"; `quixote -o` ends a model with it"})
	}
	sort.SliceStable(diags, func(i, j int) bool { return diags[i].Line < diags[j].Line })
	return diags
}

// Check lints the text m writes (see WriteTo) and returns its first error
// as a *SyntaxError, or nil. A program that writes a model calls it first:
// a model that Lint refuses would not load.
func (m *Model) Check() error {
	for _, d := range Lint(strings.NewReader(m.String())) {
		if d.Severity == SeverityError {
			return &SyntaxError{Line: d.Line, Msg: d.Msg}
		}
	}
	return nil
}

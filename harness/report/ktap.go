package report

import (
	"fmt"
	"io"
	"strings"

	"github.com/tsemlab/tsemlab/harness/result"
)

// KTAP writes r as KTAP version 1 (Documentation/dev-tools/ktap.rst). The
// top-level plan counts scenarios. Each scenario that has steps is a subtest
// block indented two spaces, with its own version line, a "# Subtest:"
// line, a plan and one result line per step named "phase.step" (the step's
// name, or its index); a phase with phase-level checks or an error adds one
// more result named "phase.checks". The scenario's own result line follows
// its block. A scenario without steps (skipped, or stopped before its first
// step) has a result line only.
//
// KTAP parsers (the kernel's kunit.py among them) count the results inside
// a block and ignore the block's own result line, so when the steps do not
// carry the scenario's status (a crash, time-out or harness error after the
// last step passed, or a failure no step carries) the block ends with one
// more result, named "scenario", carrying that status and reason: nothing
// that failed is ever counted as passed. The same rule adds a "scenario"
// test case in JUnit.
//
// Statuses map to result lines as follows:
//
//	pass     ok N name
//	skip     ok N name # SKIP reason
//	fail     not ok N name
//	timeout  not ok N name # TIMEOUT reason
//	crash    not ok N name # ERROR reason (naming the panic line)
//	error    not ok N name # ERROR reason
//	not_run  not ok N name # SKIP not run: reason
//
// A step that never ran is "not ok" so that nothing reads it as a pass, and
// carries SKIP so that KTAP parsers count it as skipped rather than as a
// second failure: its scenario's result line already reports the failure.
// Diagnostic lines ("# ...") before a failed step's result give the
// verdict, every failed check with want and got, and the end of stderr;
// before the result that carries a crash, time-out or harness error (the
// block's "scenario" line, else the scenario's own), the end of the crash
// excerpt or console tail. Names never contain "#" or line breaks.
func KTAP(w io.Writer, r *result.Run) error {
	var b strings.Builder
	b.WriteString("KTAP version 1\n")
	fmt.Fprintf(&b, "1..%d\n", len(r.Scenarios))
	for i, sc := range r.Scenarios {
		its := items(sc)
		reason := orDefault(scenarioReason(sc), defaultReason(sc.Status))
		// own: the block needs a result of its own for the scenario.
		own := len(its) > 0 && needsScenarioItem(sc, its)
		if len(its) > 0 {
			b.WriteString("  KTAP version 1\n")
			b.WriteString("  # Subtest: " + ktapName(sc.Name) + "\n")
			plan := len(its)
			if own {
				plan++
			}
			fmt.Fprintf(&b, "  1..%d\n", plan)
			for j, it := range its {
				writeKTAPDiagnostics(&b, "  ", it)
				b.WriteString("  " + ktapResult(j+1, ktapName(it.phase.Name+"."+it.part), it.status, message(sc, it)) + "\n")
			}
			if own {
				writeKTAPExcerpts(&b, "  ", sc)
				b.WriteString("  " + ktapResult(plan, "scenario", sc.Status, reason) + "\n")
			}
		}
		if !own {
			writeKTAPExcerpts(&b, "", sc)
		}
		b.WriteString(ktapResult(i+1, ktapName(sc.Name), sc.Status, reason) + "\n")
	}
	if _, err := io.WriteString(w, b.String()); err != nil {
		return fmt.Errorf("write KTAP: %w", err)
	}
	return nil
}

// ktapResult is one result line; reason is used by directives only.
func ktapResult(n int, name string, s result.Status, reason string) string {
	line := fmt.Sprintf("%d %s", n, name)
	reason = oneLine(reason)
	switch s {
	case result.Pass:
		return "ok " + line
	case result.Skip:
		return "ok " + line + directive("SKIP", reason)
	case result.Fail:
		return "not ok " + line
	case result.Timeout:
		return "not ok " + line + directive("TIMEOUT", reason)
	case result.NotRun:
		return "not ok " + line + directive("SKIP", reason)
	default: // crash, error, or a status this writer does not know
		return "not ok " + line + directive("ERROR", reason)
	}
}

func directive(d, reason string) string {
	if reason == "" {
		return " # " + d
	}
	return " # " + d + " " + reason
}

// writeKTAPDiagnostics explains a failed item in "# " lines.
func writeKTAPDiagnostics(b *strings.Builder, indent string, it item) {
	if it.status != result.Fail {
		return
	}
	b.WriteString(indent + ktapDiagnostic(it.id()+": "+it.verdict()) + "\n")
	for _, c := range result.Failed(it.checks()) {
		b.WriteString(indent + ktapDiagnostic(fmt.Sprintf("%s: want %s, got %s", oneLine(c.What), quoteShort(c.Want), quoteShort(c.Got))) + "\n")
	}
	if it.step != nil {
		last, _ := tail(it.step.Stderr, outputLines)
		for _, l := range last {
			b.WriteString(indent + ktapDiagnostic("stderr: "+l) + "\n")
		}
	}
}

// writeKTAPExcerpts writes the end of a bad scenario's crash excerpt or
// console tail as "# " lines.
func writeKTAPExcerpts(b *strings.Builder, indent string, sc *result.Scenario) {
	for _, ex := range excerpts(sc, false) {
		last, _ := tail(ex.text, excerptLines)
		for _, l := range last {
			b.WriteString(indent + ktapDiagnostic(l) + "\n")
		}
	}
}

// ktapDiagnostic is "# text" on one line.
func ktapDiagnostic(text string) string {
	return strings.TrimRight("# "+oneLine(text), " ")
}

// ktapName makes s a valid KTAP test name: no "#", no line breaks or other
// whitespace runs, never empty.
func ktapName(s string) string {
	s = strings.ReplaceAll(oneLine(s), "#", "_")
	s = strings.Join(strings.Fields(s), " ")
	return orDefault(s, "unnamed")
}

package scenario

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/tsemlab/tsemlab/harness/result"
	"github.com/tsemlab/tsemlab/protocol"
)

// excerptLen bounds the output shown in a check's Got.
const excerptLen = 200

// Evaluate judges what the guest saw of a step against e, one check per
// expectation (the outcome first). The status is result.Pass when every
// check holds; result.NotRun when the step never ran; result.Timeout when it
// timed out unexpectedly; result.Error when the guest reported no known
// outcome (a harness fault, never read as a denial); result.Fail otherwise.
func (e StepExpect) Evaluate(end protocol.StepEnd) (result.Status, []result.Check) {
	want := e.Outcome
	if want == "" {
		want = OutcomeAllow
	}
	notRun := end.Outcome == protocol.OutcomeNotRun
	var checks []result.Check
	add := func(what, want, got string, ok bool) {
		if notRun {
			got, ok = "(step did not run)", false
		}
		checks = append(checks, result.Check{What: what, Want: want, Got: got, OK: ok})
	}

	got := end.Outcome
	if got == "" {
		got = "(none)"
	}
	if len(end.Evidence) > 0 {
		got += " (" + strings.Join(end.Evidence, "; ") + ")"
	}
	add("outcome", want, got, end.Outcome == want)

	if e.ExitCode != nil {
		got := strconv.Itoa(end.ExitCode)
		if end.Signal != "" {
			got += " (killed by " + end.Signal + ")"
		}
		add("exit code", strconv.Itoa(*e.ExitCode), got, end.Signal == "" && end.ExitCode == *e.ExitCode)
	}

	output := end.Stdout
	if output != "" && end.Stderr != "" && !strings.HasSuffix(output, "\n") {
		output += "\n"
	}
	output += end.Stderr
	streams := []struct {
		name, text string
		contains   []string
		absent     []string
	}{
		{"stdout", end.Stdout, e.StdoutContains, e.StdoutNotContains},
		{"stderr", end.Stderr, e.StderrContains, e.StderrNotContains},
		{"output", output, e.OutputContains, e.OutputNotContains},
	}
	for _, s := range streams {
		for _, needle := range s.contains {
			ok := strings.Contains(s.text, needle)
			add(fmt.Sprintf("%s contains %q", s.name, needle), needle, textExcerpt(s.text, needle, end.Truncated), ok)
		}
	}
	for _, s := range streams {
		for _, needle := range s.absent {
			ok := !strings.Contains(s.text, needle)
			add(fmt.Sprintf("%s does not contain %q", s.name, needle), "no "+strconv.Quote(needle), textExcerpt(s.text, needle, end.Truncated), ok)
		}
	}

	switch {
	case notRun:
		return result.NotRun, checks
	case !knownOutcome(end.Outcome):
		return result.Error, checks
	case len(result.Failed(checks)) == 0:
		return result.Pass, checks
	case end.Outcome == protocol.OutcomeTimeout:
		return result.Timeout, checks
	default:
		return result.Fail, checks
	}
}

func knownOutcome(o string) bool {
	switch o {
	case protocol.OutcomeAllow, protocol.OutcomeDeny, protocol.OutcomeError, protocol.OutcomeTimeout:
		return true
	}
	return false
}

// textExcerpt shows about excerptLen bytes of text: around the first
// occurrence of needle when there is one, else its start and end.
func textExcerpt(text, needle string, truncated bool) string {
	if text == "" {
		return "(empty)"
	}
	var out string
	if i := strings.Index(text, needle); i >= 0 && len(text) > excerptLen {
		margin := max(0, (excerptLen-len(needle))/2)
		from := runeStart(text, max(0, i-margin))
		to := runeStart(text, min(len(text), i+len(needle)+margin))
		if to-from > excerptLen+len(needle) {
			to = runeStart(text, from+excerptLen)
		}
		out = text[from:to]
		if from > 0 {
			out = "..." + out
		}
		if to < len(text) {
			out += "..."
		}
	} else if len(text) > excerptLen {
		half := excerptLen / 2
		out = text[:runeStart(text, half)] + " ... " + text[runeStart(text, len(text)-half):]
	} else {
		out = text
	}
	if truncated {
		out += " (output was cut to its tail)"
	}
	return out
}

// runeStart moves i back to the start of the UTF-8 sequence it falls in.
func runeStart(s string, i int) int {
	for i > 0 && i < len(s) && !utf8Start(s[i]) {
		i--
	}
	return i
}

// String writes c as in the scenario's terms: "2", "1 to 3", "at least 1",
// "at most 3".
func (c Count) String() string {
	switch {
	case c.Max == nil:
		return fmt.Sprintf("at least %d", c.Min)
	case c.Min == *c.Max:
		return strconv.Itoa(c.Min)
	case c.Min == 0:
		return fmt.Sprintf("at most %d", *c.Max)
	default:
		return fmt.Sprintf("%d to %d", c.Min, *c.Max)
	}
}

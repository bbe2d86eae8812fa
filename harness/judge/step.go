package judge

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/tsemlab/tsemlab/harness/result"
	"github.com/tsemlab/tsemlab/harness/scenario"
	"github.com/tsemlab/tsemlab/protocol"
)

// excerptLen bounds the output shown in a check's Got.
const excerptLen = 200

// Step judges one step the guest reported against its spec: it decides the
// outcome (see Outcome), then checks every expectation, the outcome first.
// The status is result.Pass when every check holds; result.NotRun when the
// step never ran; result.Timeout when it timed out unexpectedly;
// result.Fail otherwise.
func Step(spec scenario.Step, index int, end protocol.StepEnd) *result.Step {
	seen, evidence := Outcome(end)
	st := &result.Step{
		Index: index, Name: spec.Name, Run: end.Run, Expected: expected(spec),
		Seen: seen, ExitCode: end.ExitCode, Signal: end.Signal, Stdout: end.Stdout, Stderr: end.Stderr,
		Evidence: evidence, KernelLog: end.KernelLog, Forensics: end.Forensics, Duration: result.Duration(end.Duration),
	}
	st.Checks = append(checks(spec.Expect, st, end), httpChecks(spec.HTTP, st, end)...)
	switch {
	case seen == protocol.OutcomeNotRun:
		st.Status = result.NotRun
	case len(result.Failed(st.Checks)) == 0:
		st.Status = result.Pass
	case seen == protocol.OutcomeTimeout:
		st.Status = result.Timeout
	default:
		st.Status = result.Fail
	}
	return st
}

// Unreported is the result of a step the guest never reported although the
// run went on to its end: the scenario fails, never passes by omission.
func Unreported(spec scenario.Step, index int) *result.Step {
	why := fmt.Sprintf("step %d never reported", index)
	return &result.Step{
		Index: index, Name: spec.Name, Run: spec.Run, Status: result.Fail, Expected: expected(spec), Seen: protocol.OutcomeNotRun,
		Evidence: []result.Evidence{{Kind: KindNotRun, Text: why, Decisive: true}},
		Checks:   []result.Check{{What: "outcome", Want: string(expected(spec)), Got: "(" + why + ")"}},
	}
}

// NotReached is the result of a step the run never got to because
// something worse ended it first (a crash, a timeout, a harness error,
// which the scenario's status reports).
func NotReached(spec scenario.Step, index int) *result.Step {
	return &result.Step{Index: index, Name: spec.Name, Run: spec.Run, Status: result.NotRun, Expected: expected(spec), Seen: protocol.OutcomeNotRun}
}

func expected(spec scenario.Step) protocol.Outcome {
	if spec.Expect.Outcome == "" {
		return protocol.OutcomeAllow
	}
	return spec.Expect.Outcome
}

// checks evaluates every expectation of e, the outcome first.
func checks(e scenario.StepExpect, st *result.Step, end protocol.StepEnd) []result.Check {
	notRun := st.Seen == protocol.OutcomeNotRun
	var out []result.Check
	add := func(what, want, got string, ok bool) {
		if notRun {
			got, ok = "(step did not run)", false
		}
		out = append(out, result.Check{What: what, Want: want, Got: got, OK: ok})
	}
	got := string(st.Seen)
	if d := result.DescribeEvidence(st.Evidence); d != "" {
		got += " (" + d + ")"
	}
	add("outcome", string(st.Expected), got, st.Seen == st.Expected)
	if e.ExitCode != nil {
		got := strconv.Itoa(end.ExitCode)
		if end.Signal != "" {
			got += " (killed by " + end.Signal + ")"
		}
		add("exit code", strconv.Itoa(*e.ExitCode), got, end.Signal == "" && end.ExitCode == *e.ExitCode)
	}
	for _, s := range streams(e, end) {
		for _, needle := range s.contains {
			add(fmt.Sprintf("%s contains %q", s.name, needle), needle, textExcerpt(s.text, needle, end.Truncated), strings.Contains(s.text, needle))
		}
	}
	for _, s := range streams(e, end) {
		for _, needle := range s.absent {
			add(fmt.Sprintf("%s does not contain %q", s.name, needle), "no "+strconv.Quote(needle), textExcerpt(s.text, needle, end.Truncated), !strings.Contains(s.text, needle))
		}
	}
	return out
}

type stream struct {
	name, text       string
	contains, absent []string
}

// streams pairs stdout, stderr and both together with their expectations.
func streams(e scenario.StepExpect, end protocol.StepEnd) []stream {
	output := end.Stdout
	if output != "" && end.Stderr != "" && !strings.HasSuffix(output, "\n") {
		output += "\n"
	}
	output += end.Stderr
	return []stream{
		{"stdout", end.Stdout, e.StdoutContains, e.StdoutNotContains},
		{"stderr", end.Stderr, e.StderrContains, e.StderrNotContains},
		{"output", output, e.OutputContains, e.OutputNotContains},
	}
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
	for i > 0 && i < len(s) && !utf8.RuneStart(s[i]) {
		i--
	}
	return i
}

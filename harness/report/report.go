// Package report renders a run's results (a *result.Run) for people and for
// CI systems: a human summary and live progress lines for the terminal, KTAP,
// JSON (the results.json format), JUnit XML as GitLab and GitHub test
// reporters read it, GitHub Actions step summaries and annotations, and the
// process exit code.
//
// Every writer shows the same facts with the same words: a step is named by
// its phase and its name (or, without one, its index), a verdict reads
// "expected deny, seen allow (evidence)", and a scenario that was skipped,
// timed out, crashed or hit a harness error says why. Nothing vanishes: a
// scenario with no steps still appears in every format with its status.
//
// Console output is untrusted text: control characters other than tab and
// newline, invalid UTF-8 and characters XML 1.0 forbids are shown as \xNN or
// \uNNNN escapes, so terminal and XML output stay valid and readable.
//
// The writers read the Run and never change it; a Run, its scenarios,
// phases and steps must not be nil.
package report

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tsemlab/tsemlab/harness/console"

	"github.com/tsemlab/tsemlab/harness/result"
)

const (
	// excerptLines is how many trailing lines of a crash excerpt or console
	// tail the human, KTAP and GitHub writers show.
	excerptLines = 15
	// outputLines is how many trailing lines of a step's stdout or stderr
	// the human and KTAP writers show.
	outputLines = 5
	// junitOutputLines bounds stdout and stderr in JUnit system-out.
	junitOutputLines = 100
	// commandWidth bounds a command shown on one line, in runes.
	commandWidth = 60
)

// item is one reportable unit of a scenario: a step, or a phase's own
// expectations (phase-level checks or a phase error). Flattening both into
// one list keeps every writer's numbering identical.
type item struct {
	phase *result.Phase
	// step is nil for a phase-level item.
	step *result.Step
	// part is the step's name or index, or "checks" for a phase item.
	part string
	// status is the step's status, or the phase-level verdict.
	status result.Status
}

// items flattens sc into its steps and, after each phase's steps, one item
// for the phase's own checks when it has any checks or an error.
func items(sc *result.Scenario) []item {
	var out []item
	for _, ph := range sc.Phases {
		for _, st := range ph.Steps {
			out = append(out, item{phase: ph, step: st, part: stepID(st), status: st.Status})
		}
		if len(ph.Checks) == 0 && ph.Error == "" {
			continue
		}
		status := result.Pass
		switch {
		case ph.Error != "":
			status = result.Error
		case len(result.Failed(ph.Checks)) > 0:
			status = result.Fail
		}
		out = append(out, item{phase: ph, part: "checks", status: status})
	}
	return out
}

// stepID is the step's name, or its index when it has none.
func stepID(s *result.Step) string {
	if s.Name != "" {
		return s.Name
	}
	return strconv.Itoa(s.Index)
}

// id is "phase/step" as people read it: "enforce/2", "learn/grep".
func (it item) id() string { return it.phase.Name + "/" + it.part }

// checks returns the item's checks: the step's, or the phase's.
func (it item) checks() []result.Check {
	if it.step != nil {
		return it.step.Checks
	}
	return it.phase.Checks
}

// command is the item's command on one line, or "" for a phase item.
func (it item) command() string {
	if it.step == nil {
		return ""
	}
	return commandLine(it.step.Run)
}

// duration is the step's duration; phase items have none.
func (it item) duration() result.Duration {
	if it.step == nil {
		return 0
	}
	return it.step.Duration
}

// verdict is the one-line comparison of expected and seen outcome with the
// evidence: "expected deny, seen deny (stderr: ...: Operation not
// permitted)". Phase items summarize their checks instead.
func (it item) verdict() string {
	if it.step == nil {
		failed := len(result.Failed(it.phase.Checks))
		v := fmt.Sprintf("%d of %d phase checks held", len(it.phase.Checks)-failed, len(it.phase.Checks))
		if it.phase.Error != "" {
			v = "phase error: " + oneLine(it.phase.Error)
		}
		return v
	}
	s := it.step
	if s.Status == result.NotRun && s.Seen == "" {
		return "not run"
	}
	var v string
	switch {
	case s.Expected != "" && s.Seen != "":
		v = fmt.Sprintf("expected %s, seen %s", s.Expected, s.Seen)
	case s.Seen != "":
		v = "seen " + string(s.Seen)
	case s.Expected != "":
		v = fmt.Sprintf("expected %s, seen nothing", s.Expected)
	default:
		v = string(s.Status)
	}
	if len(s.Evidence) > 0 {
		v += " (" + oneLine(result.DescribeEvidence(s.Evidence)) + ")"
	}
	return v
}

// message is the short statement of what went wrong with a non-passing
// item, for JUnit messages, KTAP directives and annotations.
func message(sc *result.Scenario, it item) string {
	switch it.status {
	case result.Fail:
		return failMessage(it)
	case result.NotRun:
		return "not run: " + orDefault(scenarioReason(sc), "an earlier failure ended the session")
	case result.Skip:
		if it.step != nil && len(it.step.Evidence) > 0 {
			return oneLine(result.DescribeEvidence(it.step.Evidence))
		}
		return orDefault(scenarioReason(sc), "skipped")
	case result.Timeout, result.Crash, result.Error:
		if it.step == nil && it.phase.Error != "" {
			return oneLine(it.phase.Error)
		}
		if sc.Status == it.status {
			if r := scenarioReason(sc); r != "" {
				return r
			}
		}
		if it.step != nil && len(it.step.Evidence) > 0 {
			return oneLine(result.DescribeEvidence(it.step.Evidence))
		}
		return defaultReason(it.status)
	}
	return ""
}

// failMessage says why a failed item failed: the outcome mismatch when there
// is one, else its first failed check.
func failMessage(it item) string {
	if s := it.step; s != nil && s.Expected != "" && s.Seen != s.Expected {
		return fmt.Sprintf("expected %s, seen %s", s.Expected, orDefault(string(s.Seen), "nothing"))
	}
	failed := result.Failed(it.checks())
	if len(failed) == 0 {
		if it.step == nil && it.phase.Error != "" {
			return oneLine(it.phase.Error)
		}
		return "an expectation was not met"
	}
	c := failed[0]
	m := fmt.Sprintf("%s: want %s, got %s", c.What, quoteShort(c.Want), quoteShort(c.Got))
	if len(failed) > 1 {
		m += fmt.Sprintf(" (and %d more failed checks)", len(failed)-1)
	}
	return m
}

// scenarioReason is the scenario's reason on one line; for a crash it names
// the panic line of the excerpt when the reason does not already.
func scenarioReason(sc *result.Scenario) string {
	reason := oneLine(sc.Reason)
	if sc.Status != result.Crash {
		return reason
	}
	pl := panicLine(sc.Crash)
	if pl == "" {
		pl = panicLine(sc.ConsoleTail)
	}
	switch {
	case pl == "" || strings.Contains(reason, pl):
		return orDefault(reason, defaultReason(result.Crash))
	case reason == "":
		return pl
	default:
		return reason + ": " + pl
	}
}

// headerReason is what a scenario header says after the name: the reason
// for skip, timeout, crash and error, and for a failure without one, the
// first failed step's message.
func headerReason(sc *result.Scenario) string {
	switch sc.Status {
	case result.Pass:
		return ""
	case result.Fail:
		if sc.Reason != "" {
			return oneLine(sc.Reason)
		}
		for _, it := range items(sc) {
			if it.status == result.Fail {
				return it.id() + ": " + failMessage(it)
			}
		}
		return ""
	case result.Skip, result.Timeout, result.Crash, result.Error:
		return orDefault(scenarioReason(sc), defaultReason(sc.Status))
	}
	return oneLine(sc.Reason)
}

func defaultReason(s result.Status) string {
	switch s {
	case result.Timeout:
		return "timed out"
	case result.Crash:
		return "the kernel crashed"
	case result.Error:
		return "harness error"
	case result.Skip:
		return "skipped"
	}
	return string(s)
}

// excerpts is the console text that explains a bad scenario: the crash
// excerpt for a crash, else the console tail; with all, a crash also shows
// the console tail. Empty for statuses other than crash, timeout and error.
func excerpts(sc *result.Scenario, all bool) []labeled {
	var out []labeled
	switch sc.Status {
	case result.Crash:
		if sc.Crash != "" {
			out = append(out, labeled{"crash excerpt", sc.Crash})
			if !all {
				break
			}
		}
		fallthrough
	case result.Timeout, result.Error:
		if sc.ConsoleTail != "" {
			out = append(out, labeled{"console", sc.ConsoleTail})
		}
	}
	return out
}

// labeled is a text with what it is.
type labeled struct{ label, text string }

// panicLine returns the text of the line naming the crash in a console
// excerpt ("Kernel panic - not syncing: Fatal exception in interrupt"), or "".
func panicLine(text string) string { return console.PanicLine(clean(text)) }

// clean makes untrusted text safe for terminals and XML 1.0: CRLF and lone
// CR become LF; tab and LF stay; other C0 controls, DEL and invalid UTF-8
// bytes become \xNN; C1 controls and U+FFFE, U+FFFF become \uNNNN.
func clean(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r == '\r':
			if i+1 >= len(s) || s[i+1] != '\n' {
				b.WriteByte('\n')
			}
		case r == '\t' || r == '\n':
			b.WriteRune(r)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\x%02x`, r)
		case (r >= 0x80 && r <= 0x9f) || r == 0xfffe || r == 0xffff:
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}

// oneLine is clean(s) on a single line: line breaks become " / " and tabs
// spaces, surrounding space trimmed.
func oneLine(s string) string {
	s = strings.TrimSpace(clean(s))
	s = strings.ReplaceAll(s, "\t", " ")
	return strings.Join(strings.FieldsFunc(s, func(r rune) bool { return r == '\n' }), " / ")
}

// lines returns clean(s) split into lines without the final empty one.
func lines(s string) []string {
	s = strings.TrimRight(clean(s), "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// tail returns the last n lines of s and how many lines s has.
func tail(s string, n int) (last []string, total int) {
	l := lines(s)
	if len(l) > n {
		return l[len(l)-n:], len(l)
	}
	return l, len(l)
}

// tailLabel is "stdout", or "stdout (last 5 of 12 lines)" when cut.
func tailLabel(label string, shown, total int) string {
	if shown == total {
		return label
	}
	return fmt.Sprintf("%s (last %d of %d lines)", label, shown, total)
}

// commandLine is a command's first line, cut to commandWidth runes; "..."
// marks anything left out.
func commandLine(run string) string {
	l := lines(run)
	if len(l) == 0 {
		return ""
	}
	first := strings.TrimSpace(strings.ReplaceAll(l[0], "\t", " "))
	cut := len(l) > 1
	if utf8.RuneCountInString(first) > commandWidth {
		first = string([]rune(first)[:commandWidth])
		cut = true
	}
	if cut {
		first += " ..."
	}
	return first
}

// quoteShort quotes a check value for a one-line message, cut to 80 runes.
func quoteShort(s string) string {
	s = oneLine(s)
	if utf8.RuneCountInString(s) > 80 {
		s = string([]rune(s)[:80]) + "..."
	}
	return strconv.Quote(s)
}

// seconds formats d as people read it: "0.4s", "12.3s", "1m35s".
func seconds(d result.Duration) string {
	std := d.Std()
	if std < time.Minute {
		return fmt.Sprintf("%.1fs", std.Seconds())
	}
	std = std.Round(time.Second)
	m := int(std / time.Minute)
	s := int((std % time.Minute) / time.Second)
	if m < 60 {
		return fmt.Sprintf("%dm%02ds", m, s)
	}
	return fmt.Sprintf("%dh%02dm%02ds", m/60, m%60, s)
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// needsScenarioItem reports whether a scenario's items do not carry its
// status, so that a writer whose consumers count items (JUnit test cases,
// the results in a KTAP block) must add one more for the scenario itself:
// it has no items, its status is worse than all of theirs (a crash after
// the last step passed), or it did not pass while none of them failed (a
// status this version does not know).
func needsScenarioItem(sc *result.Scenario, its []item) bool {
	if len(its) == 0 || result.Worse(sc.Status, worstItem(its)) {
		return true
	}
	if sc.Status == result.Pass || sc.Status == result.Skip {
		return false
	}
	for _, it := range its {
		switch it.status {
		case result.Fail, result.Timeout, result.Crash, result.Error:
			return false
		}
	}
	return true
}

// worstItem is the worst status among the items, "" when there are none.
func worstItem(its []item) result.Status {
	var worst result.Status
	for _, it := range its {
		if worst == "" || result.Worse(it.status, worst) {
			worst = it.status
		}
	}
	return worst
}

// tally counts scenarios by status, folding anything unexpected (an empty
// or not_run scenario status) into errors so it is never read as a pass.
type tally struct {
	total, pass, fail, skip, timeout, crash, errs int
}

func count(r *result.Run) tally {
	var t tally
	for _, sc := range r.Scenarios {
		t.total++
		switch sc.Status {
		case result.Pass:
			t.pass++
		case result.Fail:
			t.fail++
		case result.Skip:
			t.skip++
		case result.Timeout:
			t.timeout++
		case result.Crash:
			t.crash++
		default:
			t.errs++
		}
	}
	return t
}

// notPassed is every scenario that neither passed nor was skipped.
func (t tally) notPassed() int { return t.total - t.pass - t.skip }

// String is the detailed totals line without the run time:
// "6 scenarios: 1 passed, 1 skipped, 1 failed, 1 timed out, 1 crashed,
// 1 error". Skipped comes before failed so the line never reads like the
// plain "N passed, N failed" closing line with another meaning of failed.
func (t tally) String() string {
	noun := "scenarios"
	if t.total == 1 {
		noun = "scenario"
	}
	errs := "errors"
	if t.errs == 1 {
		errs = "error"
	}
	return fmt.Sprintf("%d %s: %d passed, %d skipped, %d failed, %d timed out, %d crashed, %d %s",
		t.total, noun, t.pass, t.skip, t.fail, t.timeout, t.crash, t.errs, errs)
}

// plain is the closing line CI systems parse: "N passed, N failed,
// N skipped", where failed counts every scenario that neither passed nor
// was skipped (failed, timed out, crashed or errored).
func (t tally) plain() string {
	return fmt.Sprintf("%d passed, %d failed, %d skipped", t.pass, t.notPassed(), t.skip)
}

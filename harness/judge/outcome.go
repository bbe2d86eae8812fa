// Package judge decides what the kernel did in each step and whether a
// scenario's expectations held. It is pure: what the guest reported comes
// in (protocol.StepEnd facts, TSEM records), verdicts with the evidence
// that decided them come out (result.Step, result.Check). Nothing else in
// tsemlab decides an outcome or a status.
//
// The outcome rules, each decided only by evidence the result names:
//
//   - timeout: the step was killed at its time limit.
//   - deny: the step failed (non-zero exit or a signal) and a refusal
//     reached it: EPERM/EACCES/"Cannot fork" text on its stderr, a SIGSYS
//     the kernel delivered (from the wait status in exec sessions; in shell
//     sessions only the shell's own report of a killed job, since an exit
//     status above 128 alone can be anything), or the kernel's refusal
//     lines for the step's processes (TSEM "Untrusted event", AppArmor
//     "DENIED", seccomp audit) printed while it ran.
//   - violation: the step succeeded, but in an enforcing TSEM namespace it
//     left the model: TSEM recorded a forensic event of it, or refused one
//     of its later actions, which the program ignored.
//   - allow: the step succeeded with neither.
//   - error: the step failed with no evidence of a refusal.
//
// Text on stdout never counts: a program may print anything there.
package judge

import (
	"fmt"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/tsemlab/tsemlab/harness/result"
	"github.com/tsemlab/tsemlab/protocol"
)

// refusalTexts are how refusals read on a program's stderr: strerror(EPERM),
// strerror(EACCES), and shells' fork failures.
var refusalTexts = []string{
	"operation not permitted",
	"permission denied",
	"cannot fork",
	"can't fork",
}

// Evidence kinds.
const (
	KindExit      = "exit"
	KindSignal    = "signal"
	KindStderr    = "stderr"
	KindKernelLog = "kernel_log"
	KindForensics = "forensics"
	KindTimeout   = "timeout"
	KindNotRun    = "not_run"
)

// Outcome decides what the kernel did to a step from the facts the guest
// reported, and lists the evidence, the decisive items marked.
func Outcome(end protocol.StepEnd) (protocol.Outcome, []result.Evidence) {
	switch {
	case end.NotRun != "":
		return protocol.OutcomeNotRun, []result.Evidence{{Kind: KindNotRun, Text: end.NotRun, Decisive: true}}
	case end.TimedOut:
		return protocol.OutcomeTimeout, []result.Evidence{{Kind: KindTimeout, Text: "the step did not finish within its time limit and was killed", Decisive: true}}
	}
	w := weigh(end)
	switch {
	case w.failed && len(w.refusals) > 0:
		return protocol.OutcomeDeny, w.list(w.refusals, w.exit)
	case !w.failed && end.Enforcing && len(w.leftModel) > 0:
		return protocol.OutcomeViolation, w.list(w.leftModel, w.exit)
	case !w.failed:
		return protocol.OutcomeAllow, w.list(nil, w.exit)
	default:
		w.exit.Text += ", with no evidence of a refusal"
		return protocol.OutcomeError, w.list(nil, w.exit)
	}
}

// weighing sorts a step's signs into what can decide each outcome.
type weighing struct {
	failed bool
	exit   result.Evidence
	// refusals decide deny when the step failed.
	refusals []result.Evidence
	// leftModel decides violation when the step succeeded in an enforcing
	// namespace.
	leftModel []result.Evidence
	// notes are seen but decide nothing.
	notes []result.Evidence
}

func weigh(end protocol.StepEnd) *weighing {
	w := &weighing{failed: end.ExitCode != 0 || end.Signal != ""}
	w.exit = result.Evidence{Kind: KindExit, Text: exitText(end)}
	if sig, how := signal(end); sig == "SIGSYS" {
		w.refusals = append(w.refusals, result.Evidence{Kind: KindSignal, Text: "killed by SIGSYS (" + how + ")"})
	} else if sig != "" {
		w.notes = append(w.notes, result.Evidence{Kind: KindSignal, Text: fmt.Sprintf("killed by %s (%s), which is not a refusal", sig, how)})
	}
	if line := refusalLine(end.Stderr); line != "" {
		e := result.Evidence{Kind: KindStderr, Text: "stderr: " + line}
		if w.failed {
			w.refusals = append(w.refusals, e)
		} else {
			e.Text += " (the step still exited 0)"
			w.notes = append(w.notes, e)
		}
	}
	if len(end.KernelLog) > 0 {
		e := result.Evidence{Kind: KindKernelLog, Text: kernelText(end)}
		switch {
		case w.failed:
			w.refusals = append(w.refusals, e)
		case hasTSEMLine(end.KernelLog):
			w.leftModel = append(w.leftModel, e)
		default:
			w.notes = append(w.notes, e)
		}
	}
	if len(end.Forensics) > 0 {
		e := result.Evidence{Kind: KindForensics, Text: fmt.Sprintf("tsem: %d new forensic event(s): %s", len(end.Forensics), strings.Join(end.Forensics, ", "))}
		if end.Enforcing {
			w.leftModel = append(w.leftModel, e)
		} else {
			e.Text += " (recorded only: the namespace does not enforce)"
			w.notes = append(w.notes, e)
		}
	}
	return w
}

// list returns decisive then exit (decisive too) then the other signs
// weighed, in a stable order.
func (w *weighing) list(decisive []result.Evidence, exit result.Evidence) []result.Evidence {
	var out []result.Evidence
	for _, e := range decisive {
		e.Decisive = true
		out = append(out, e)
	}
	exit.Decisive = true
	out = append(out, exit)
	seen := map[string]bool{}
	for _, e := range out {
		seen[e.Kind+e.Text] = true
	}
	for _, group := range [][]result.Evidence{w.refusals, w.leftModel, w.notes} {
		for _, e := range group {
			if !seen[e.Kind+e.Text] {
				seen[e.Kind+e.Text] = true
				out = append(out, e)
			}
		}
	}
	return out
}

func exitText(end protocol.StepEnd) string {
	if end.Signal != "" {
		return fmt.Sprintf("exit status %d (killed by %s)", end.ExitCode, end.Signal)
	}
	return fmt.Sprintf("exit status %d", end.ExitCode)
}

// signal returns the signal that killed the step and how that is known:
// the wait status, or (in shell sessions, whose steps the shell waits for)
// the shell's own report of a killed job on stderr. An exit status above
// 128 with no such report is not a signal.
func signal(end protocol.StepEnd) (name, how string) {
	if end.Signal != "" {
		return end.Signal, "from the wait status"
	}
	if end.Session != protocol.SessionShell || end.ExitCode <= 128 || end.ExitCode >= 128+65 {
		return "", ""
	}
	sig := syscall.Signal(end.ExitCode - 128)
	desc := strings.ToLower(sig.String())
	for _, line := range strings.Split(end.Stderr, "\n") {
		if strings.Contains(strings.ToLower(line), desc) {
			return unix.SignalName(sig), fmt.Sprintf("the shell reported %q", strings.TrimSpace(line))
		}
	}
	return "", ""
}

// refusalLine returns the first line of text that reads like a refusal.
func refusalLine(text string) string {
	for _, line := range strings.Split(text, "\n") {
		l := strings.ToLower(line)
		for _, d := range refusalTexts {
			if strings.Contains(l, d) {
				return strings.TrimSpace(line)
			}
		}
	}
	return ""
}

func hasTSEMLine(lines []string) bool {
	for _, l := range lines {
		if strings.Contains(l, "Untrusted event ") {
			return true
		}
	}
	return false
}

// kernelText shows a step's kernel refusal lines: the first few, and how
// many more.
func kernelText(end protocol.StepEnd) string {
	const show = 3
	lines := end.KernelLog
	more := end.KernelLogDropped
	if len(lines) > show {
		more += len(lines) - show
		lines = lines[:show]
	}
	words := make([]string, len(lines))
	for i, l := range lines {
		words[i] = KernelLine(l)
	}
	text := "kernel: " + strings.Join(words, " | ")
	if more > 0 {
		text += fmt.Sprintf(" (and %d more)", more)
	}
	return text
}

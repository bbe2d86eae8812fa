package orchestrator

import (
	"fmt"
	"strings"

	"github.com/tsemlab/tsemlab/protocol"
)

// denialTexts are what refusals by the kernel look like in a program's
// output: strerror(EPERM), strerror(EACCES), and bash's fork failure.
var denialTexts = []string{
	"operation not permitted",
	"permission denied",
	"cannot fork",
	"fork: resource temporarily unavailable",
}

// Observation is what was seen of a finished step, before judging it.
type Observation struct {
	ExitCode int
	// Signal is the name of the signal that killed the step, if any.
	Signal   string
	Stdout   string
	Stderr   string
	TimedOut bool
	// Violations are TSEM forensic events recorded during the step.
	Violations []string
	// Enforcing is set when the namespace refuses out-of-model events;
	// without it violations are recorded but nothing is denied.
	Enforcing bool
}

// Classify decides a step's outcome and names the evidence: deny when the
// kernel refused something (EPERM/EACCES text, SIGSYS, a TSEM violation in
// an enforcing namespace), allow when the step exited 0 with no such sign,
// error when it failed for another reason.
func Classify(o Observation) (outcome string, evidence []string) {
	if o.TimedOut {
		return protocol.OutcomeTimeout, []string{"step did not finish within its time limit"}
	}
	denied := false
	if o.Signal == "SIGSYS" {
		denied = true
		evidence = append(evidence, "killed by SIGSYS (seccomp)")
	}
	for _, stream := range []struct{ name, text string }{{"stderr", o.Stderr}, {"stdout", o.Stdout}} {
		if line := denialLine(stream.text); line != "" {
			denied = true
			evidence = append(evidence, fmt.Sprintf("%s: %s", stream.name, line))
		}
	}
	if len(o.Violations) > 0 {
		ev := fmt.Sprintf("tsem: %d new forensic event(s): %s", len(o.Violations), strings.Join(o.Violations, ", "))
		if o.Enforcing {
			denied = true
		} else {
			ev += " (recorded only: the namespace does not enforce)"
		}
		evidence = append(evidence, ev)
	}
	switch {
	case denied:
		if o.ExitCode != 0 {
			evidence = append(evidence, fmt.Sprintf("exit status %d", o.ExitCode))
		}
		return protocol.OutcomeDeny, evidence
	case o.Signal != "":
		return protocol.OutcomeError, append(evidence, "killed by "+o.Signal)
	case o.ExitCode != 0:
		return protocol.OutcomeError, append(evidence, fmt.Sprintf("exit status %d, no sign of a refusal", o.ExitCode))
	default:
		return protocol.OutcomeAllow, append(evidence, "exit status 0")
	}
}

// denialLine returns the first output line that reads like a refusal.
func denialLine(text string) string {
	for _, line := range strings.Split(text, "\n") {
		l := strings.ToLower(line)
		for _, d := range denialTexts {
			if strings.Contains(l, d) {
				return strings.TrimSpace(line)
			}
		}
	}
	return ""
}

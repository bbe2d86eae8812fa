package judge

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/tsemlab/tsemlab/event"
	"github.com/tsemlab/tsemlab/harness/result"
	"github.com/tsemlab/tsemlab/harness/scenario"
	"github.com/tsemlab/tsemlab/protocol"
)

// AddStep records a judged step in its phase: the phase's status becomes
// the worse of the two, and its denials and violations are counted.
func AddStep(p *result.Phase, st *result.Step) {
	p.Steps = append(p.Steps, st)
	if result.Worse(st.Status, p.Status) {
		p.Status = st.Status
	}
	switch st.Seen {
	case protocol.OutcomeDeny:
		p.Denials++
	case protocol.OutcomeViolation:
		p.Violations++
	}
}

// PhaseEnd judges a phase's own expectations (forensics, trajectory) once
// it has ended, from the text of its forensics and trajectory records.
func PhaseEnd(p *result.Phase, spec scenario.Phase, forensics, trajectory string) {
	if p.Status == result.Error {
		return
	}
	checks, err := PhaseChecks(spec.Expect, forensics, trajectory)
	if err != nil {
		p.Status, p.Error = result.Error, err.Error()
		return
	}
	p.Checks = checks
	if len(result.Failed(checks)) > 0 && result.Worse(result.Fail, p.Status) {
		p.Status = result.Fail
	}
}

// PhaseChecks evaluates phase expectations against the text of a phase's
// forensics and trajectory files (JSON lines, as the kernel gives them).
func PhaseChecks(e scenario.PhaseExpect, forensicsText, trajectoryText string) ([]result.Check, error) {
	if len(e.ForensicsContains) == 0 && len(e.TrajectoryContains) == 0 && e.ForensicsCount == nil {
		return nil, nil
	}
	forensics, err := event.ParseAll(strings.NewReader(forensicsText))
	if err != nil {
		return nil, fmt.Errorf("forensics records: %w", err)
	}
	trajectory, err := event.ParseAll(strings.NewReader(trajectoryText))
	if err != nil {
		return nil, fmt.Errorf("trajectory records: %w", err)
	}
	var checks []result.Check
	checks = append(checks, containsChecks("forensics contain", e.ForensicsContains, forensics)...)
	checks = append(checks, containsChecks("trajectory contains", e.TrajectoryContains, trajectory)...)
	if c := e.ForensicsCount; c != nil {
		checks = append(checks, result.Check{What: "forensics count", Want: countString(*c), Got: strconv.Itoa(len(forensics)), OK: c.Holds(len(forensics))})
	}
	return checks, nil
}

// containsChecks is one check per match: some event has every field.
func containsChecks(what string, want []scenario.EventMatch, evs []*event.Event) []result.Check {
	var checks []result.Check
	for _, m := range want {
		c := result.Check{What: what, Want: matchString(m), Got: fmt.Sprintf("no match among %d event(s)%s", len(evs), sample(evs))}
		for _, e := range evs {
			if e.Match(m) {
				c.OK, c.Got = true, e.Summary()
				break
			}
		}
		checks = append(checks, c)
	}
	return checks
}

// countString writes c in the scenario's terms: "2", "1 to 3", "at least
// 1", "at most 3".
func countString(c scenario.Count) string {
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

func matchString(m scenario.EventMatch) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + m[k]
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

// sample lists a few events so a failed match shows what was there.
func sample(evs []*event.Event) string {
	if len(evs) == 0 {
		return ""
	}
	var parts []string
	for i, e := range evs {
		if i == 3 {
			parts = append(parts, "...")
			break
		}
		parts = append(parts, e.Summary())
	}
	return ": " + strings.Join(parts, "; ")
}

// Finish completes a scenario's result once its VM has ended: steps the
// guest never reported are added (a failure when the run otherwise went to
// its end, not-run when a worse status already ended it), and unless the
// scenario already has a status (crash, timeout, error, skip) the phases'
// statuses roll up into it.
func Finish(res *result.Scenario, spec *scenario.Scenario) {
	skipped := res.Status == result.Skip
	for i, ph := range spec.Phases {
		if i == len(res.Phases) {
			res.Phases = append(res.Phases, &result.Phase{Name: ph.Name, Status: result.NotRun})
		}
		p := res.Phases[i]
		if skipped {
			p.Status = result.Skip
			continue
		}
		for j := len(p.Steps); j < len(ph.Steps); j++ {
			if res.Status != "" || p.Status == result.Error {
				AddStep(p, NotReached(ph.Steps[j], j+1))
			} else {
				AddStep(p, Unreported(ph.Steps[j], j+1))
			}
		}
	}
	if res.Status != "" {
		return
	}
	res.Status, res.Reason = rollUp(res.Phases)
}

// rollUp is the scenario status its phases add up to: the worst of them,
// a phase that never ran counting as a failure.
func rollUp(phases []*result.Phase) (result.Status, string) {
	status := result.Pass
	for _, p := range phases {
		s := p.Status
		if s == result.NotRun {
			s = result.Fail
		}
		if result.Worse(s, status) {
			status = s
		}
	}
	switch status {
	case result.Fail:
		for _, p := range phases {
			for _, st := range p.Steps {
				if st.Status == result.Fail && st.Seen == protocol.OutcomeNotRun {
					return status, fmt.Sprintf("phase %s: step %d never reported", p.Name, st.Index)
				}
			}
		}
		return status, "an expectation was not met"
	case result.Error:
		for _, p := range phases {
			if p.Error != "" {
				return status, fmt.Sprintf("phase %s: %s", p.Name, p.Error)
			}
		}
	}
	return status, ""
}

package runner

import (
	"fmt"
	"sort"
	"strings"

	"github.com/tsemlab/tsemlab/event"
	"github.com/tsemlab/tsemlab/harness/result"
	"github.com/tsemlab/tsemlab/harness/scenario"
	"github.com/tsemlab/tsemlab/protocol"
)

// phaseChecks evaluates a phase's own expectations (forensics, trajectory)
// against the event records the guest sent, once the phase has ended.
func (r *scenarioRun) phaseChecks(p *result.Phase) {
	var spec *scenario.Phase
	for i := range r.s.Phases {
		if r.s.Phases[i].Name == p.Name {
			spec = &r.s.Phases[i]
		}
	}
	if spec == nil || p.Status == result.Error {
		return
	}
	arts := r.artifacts[p.Name]
	checks, err := PhaseChecks(spec.Expect, arts[protocol.ArtifactForensics], arts[protocol.ArtifactTrajectory])
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
	contains := func(what string, want []scenario.EventMatch, evs []*event.Event) {
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
	}
	contains("forensics contain", e.ForensicsContains, forensics)
	contains("trajectory contains", e.TrajectoryContains, trajectory)
	if e.ForensicsCount != nil {
		checks = append(checks, result.Check{
			What: "forensics count", Want: e.ForensicsCount.String(), Got: fmt.Sprint(len(forensics)),
			OK: e.ForensicsCount.Holds(len(forensics)),
		})
	}
	return checks, nil
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

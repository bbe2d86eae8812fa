package runner

import "github.com/tsemlab/tsemlab/harness/result"

// phaseChecks evaluates a phase's own expectations (forensics, trajectory)
// once the phase has ended.
func (r *scenarioRun) phaseChecks(p *result.Phase) {
}

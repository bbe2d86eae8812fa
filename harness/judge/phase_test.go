package judge

import (
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tsemlab/tsemlab/harness/result"
	"github.com/tsemlab/tsemlab/harness/scenario"
	"github.com/tsemlab/tsemlab/protocol"
)

// The records are real: a 6.12 TSEM kernel's output for the process-grep
// experiment (enforce phase) and a learned trajectory.
func TestPhaseChecks_RealRecords(t *testing.T) {
	forensics, err := os.ReadFile("testdata/process-grep.enforce.forensics")
	require.NoError(t, err)
	trajectory, err := os.ReadFile("testdata/learned-set.learn.trajectory")
	require.NoError(t, err)

	tests := []struct {
		name   string
		expect scenario.PhaseExpect
		ok     []bool
	}{
		{"bash_history open is in forensics",
			scenario.PhaseExpect{ForensicsContains: []scenario.EventMatch{{"type": "file_open", "process": "bash", "pathname": "/root/.bash_history"}}},
			[]bool{true}},
		{"locale.alias of the write-up is not",
			scenario.PhaseExpect{ForensicsContains: []scenario.EventMatch{{"type": "file_open", "pathname": "/etc/locale.alias"}}},
			[]bool{false}},
		{"trajectory holds the learned hostname read",
			scenario.PhaseExpect{TrajectoryContains: []scenario.EventMatch{{"type": "file_open", "pathname": "/etc/hostname"}}},
			[]bool{true}},
		{"exact count",
			scenario.PhaseExpect{ForensicsCount: &scenario.Count{Min: 1, Max: intp(1)}},
			[]bool{true}},
		{"count out of range",
			scenario.PhaseExpect{ForensicsCount: &scenario.Count{Min: 2}},
			[]bool{false}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checks, err := PhaseChecks(tt.expect, string(forensics), string(trajectory))
			require.NoError(t, err)
			require.Len(t, checks, len(tt.ok))
			for i, c := range checks {
				assert.Equal(t, tt.ok[i], c.OK, "%+v", c)
				assert.NotEmpty(t, c.Got)
			}
		})
	}
}

func TestPhaseChecks_NoExpectationsNoChecks(t *testing.T) {
	checks, err := PhaseChecks(scenario.PhaseExpect{}, "garbage that is never parsed", "")
	require.NoError(t, err)
	assert.Empty(t, checks)
}

func TestPhaseChecks_GarbledRecordsAreAnError(t *testing.T) {
	_, err := PhaseChecks(scenario.PhaseExpect{ForensicsCount: &scenario.Count{}}, "{not json\n", "")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "forensics records")
}

func twoStepScenario() *scenario.Scenario {
	return &scenario.Scenario{Name: "s", Phases: []scenario.Phase{{Name: "p", Steps: []scenario.Step{{Run: "true"}, {Run: "false", Expect: scenario.StepExpect{Outcome: "error"}}}}}}
}

func TestFinish_AStepNeverReportedFailsTheScenario(t *testing.T) {
	spec := twoStepScenario()
	res := &result.Scenario{Phases: []*result.Phase{{Name: "p", Status: result.Pass}}}
	AddStep(res.Phases[0], Step(spec.Phases[0].Steps[0], 1, protocol.StepEnd{}))
	Finish(res, spec)
	assert.Equal(t, result.Fail, res.Status)
	assert.Equal(t, "phase p: step 2 never reported", res.Reason)
	require.Len(t, res.Phases[0].Steps, 2)
	assert.Equal(t, result.Fail, res.Phases[0].Steps[1].Status)
}

func TestFinish_AfterACrashMissingStepsAreNotRun(t *testing.T) {
	spec := twoStepScenario()
	res := &result.Scenario{Status: result.Crash, Reason: "kernel crash", Phases: []*result.Phase{{Name: "p", Status: result.Pass}}}
	Finish(res, spec)
	assert.Equal(t, result.Crash, res.Status)
	assert.Equal(t, result.NotRun, res.Phases[0].Steps[0].Status)
}

func TestFinish_SkipMarksEveryPhase(t *testing.T) {
	res := &result.Scenario{Status: result.Skip, Phases: []*result.Phase{{Name: "p", Status: result.NotRun}}}
	Finish(res, twoStepScenario())
	assert.Equal(t, result.Skip, res.Phases[0].Status)
	assert.Empty(t, res.Phases[0].Steps)
}

func TestFinish_AllReportedAndMetPasses(t *testing.T) {
	spec := twoStepScenario()
	res := &result.Scenario{Phases: []*result.Phase{{Name: "p", Status: result.Pass}}}
	AddStep(res.Phases[0], Step(spec.Phases[0].Steps[0], 1, protocol.StepEnd{}))
	AddStep(res.Phases[0], Step(spec.Phases[0].Steps[1], 2, protocol.StepEnd{ExitCode: 1}))
	Finish(res, spec)
	assert.Equal(t, result.Pass, res.Status)
}

func TestAddStep_CountsDenialsAndViolations(t *testing.T) {
	p := &result.Phase{Status: result.Pass}
	AddStep(p, &result.Step{Status: result.Pass, Seen: protocol.OutcomeDeny})
	AddStep(p, &result.Step{Status: result.Pass, Seen: protocol.OutcomeViolation})
	AddStep(p, &result.Step{Status: result.Fail, Seen: protocol.OutcomeDeny})
	assert.Equal(t, 2, p.Denials)
	assert.Equal(t, 1, p.Violations)
	assert.Equal(t, result.Fail, p.Status)
}

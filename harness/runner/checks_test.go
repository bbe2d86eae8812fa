package runner

import (
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tsemlab/tsemlab/harness/scenario"
)

func intp(i int) *int { return &i }

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

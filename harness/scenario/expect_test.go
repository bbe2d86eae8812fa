package scenario

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tsemlab/tsemlab/harness/result"
	"github.com/tsemlab/tsemlab/protocol"
)

func intp(i int) *int { return &i }

func TestStepExpect_EvaluateEveryCheckKind(t *testing.T) {
	allowed := protocol.StepEnd{Outcome: "allow", Stdout: "rocinante:x:1000:1000\n", Stderr: "warning: locale\n"}
	denied := protocol.StepEnd{
		Outcome:  "deny",
		ExitCode: 1,
		Stderr:   "chown: changing ownership of '/tmp/f': Operation not permitted\n",
		Evidence: []string{"EPERM text in stderr"},
	}
	tests := []struct {
		name       string
		expect     StepExpect
		end        protocol.StepEnd
		wantStatus result.Status
		want       []result.Check
	}{
		{
			name:       "empty expectation means allow",
			end:        allowed,
			wantStatus: result.Pass,
			want:       []result.Check{{What: "outcome", Want: "allow", Got: "allow", OK: true}},
		},
		{
			name:       "outcome mismatch fails and shows evidence",
			expect:     StepExpect{Outcome: "allow"},
			end:        denied,
			wantStatus: result.Fail,
			want:       []result.Check{{What: "outcome", Want: "allow", Got: "deny (EPERM text in stderr)", OK: false}},
		},
		{
			name:       "exit code holds",
			expect:     StepExpect{Outcome: "deny", ExitCode: intp(1)},
			end:        denied,
			wantStatus: result.Pass,
			want: []result.Check{
				{What: "outcome", Want: "deny", Got: "deny (EPERM text in stderr)", OK: true},
				{What: "exit code", Want: "1", Got: "1", OK: true},
			},
		},
		{
			name:       "exit code differs",
			expect:     StepExpect{Outcome: "deny", ExitCode: intp(2)},
			end:        denied,
			wantStatus: result.Fail,
			want: []result.Check{
				{What: "outcome", Want: "deny", Got: "deny (EPERM text in stderr)", OK: true},
				{What: "exit code", Want: "2", Got: "1", OK: false},
			},
		},
		{
			name:       "a signal never matches an exit code",
			expect:     StepExpect{Outcome: "deny", ExitCode: intp(0)},
			end:        protocol.StepEnd{Outcome: "deny", Signal: "SIGSYS"},
			wantStatus: result.Fail,
			want: []result.Check{
				{What: "outcome", Want: "deny", Got: "deny", OK: true},
				{What: "exit code", Want: "0", Got: "0 (killed by SIGSYS)", OK: false},
			},
		},
		{
			name: "stream contains, pass and fail",
			expect: StepExpect{
				Outcome:        "allow",
				StdoutContains: []string{"rocinante:x:1000", "absent"},
				StderrContains: []string{"locale"},
				OutputContains: []string{"1000:1000\nwarning"},
			},
			end:        allowed,
			wantStatus: result.Fail,
			want: []result.Check{
				{What: "outcome", Want: "allow", Got: "allow", OK: true},
				{What: `stdout contains "rocinante:x:1000"`, Want: "rocinante:x:1000", Got: "rocinante:x:1000:1000\n", OK: true},
				{What: `stdout contains "absent"`, Want: "absent", Got: "rocinante:x:1000:1000\n", OK: false},
				{What: `stderr contains "locale"`, Want: "locale", Got: "warning: locale\n", OK: true},
				{What: `output contains "1000:1000\nwarning"`, Want: "1000:1000\nwarning", Got: "rocinante:x:1000:1000\nwarning: locale\n", OK: true},
			},
		},
		{
			name: "stream does not contain, pass and fail",
			expect: StepExpect{
				Outcome:           "allow",
				StdoutNotContains: []string{"root"},
				StderrNotContains: []string{"warning"},
				OutputNotContains: []string{"Segmentation"},
			},
			end:        allowed,
			wantStatus: result.Fail,
			want: []result.Check{
				{What: "outcome", Want: "allow", Got: "allow", OK: true},
				{What: `stdout does not contain "root"`, Want: `no "root"`, Got: "rocinante:x:1000:1000\n", OK: true},
				{What: `stderr does not contain "warning"`, Want: `no "warning"`, Got: "warning: locale\n", OK: false},
				{What: `output does not contain "Segmentation"`, Want: `no "Segmentation"`, Got: "rocinante:x:1000:1000\nwarning: locale\n", OK: true},
			},
		},
		{
			name:       "empty output is shown as such",
			expect:     StepExpect{Outcome: "allow", StdoutContains: []string{"x"}},
			end:        protocol.StepEnd{Outcome: "allow"},
			wantStatus: result.Fail,
			want: []result.Check{
				{What: "outcome", Want: "allow", Got: "allow", OK: true},
				{What: `stdout contains "x"`, Want: "x", Got: "(empty)", OK: false},
			},
		},
		{
			name:       "truncated output says so",
			expect:     StepExpect{Outcome: "allow", StdoutContains: []string{"x"}},
			end:        protocol.StepEnd{Outcome: "allow", Stdout: "tail", Truncated: true},
			wantStatus: result.Fail,
			want: []result.Check{
				{What: "outcome", Want: "allow", Got: "allow", OK: true},
				{What: `stdout contains "x"`, Want: "x", Got: "tail (output was cut to its tail)", OK: false},
			},
		},
		{
			name:       "a step that did not run is not_run, not a failure",
			expect:     StepExpect{Outcome: "deny", StdoutContains: []string{"x"}},
			end:        protocol.StepEnd{Outcome: "not_run"},
			wantStatus: result.NotRun,
			want: []result.Check{
				{What: "outcome", Want: "deny", Got: "(step did not run)", OK: false},
				{What: `stdout contains "x"`, Want: "x", Got: "(step did not run)", OK: false},
			},
		},
		{
			name:       "an unexpected timeout is a timeout",
			expect:     StepExpect{Outcome: "allow"},
			end:        protocol.StepEnd{Outcome: "timeout"},
			wantStatus: result.Timeout,
			want:       []result.Check{{What: "outcome", Want: "allow", Got: "timeout", OK: false}},
		},
		{
			name:       "an expected timeout passes",
			expect:     StepExpect{Outcome: "timeout"},
			end:        protocol.StepEnd{Outcome: "timeout"},
			wantStatus: result.Pass,
			want:       []result.Check{{What: "outcome", Want: "timeout", Got: "timeout", OK: true}},
		},
		{
			name:       "expected error passes",
			expect:     StepExpect{Outcome: "error", ExitCode: intp(1)},
			end:        protocol.StepEnd{Outcome: "error", ExitCode: 1},
			wantStatus: result.Pass,
			want: []result.Check{
				{What: "outcome", Want: "error", Got: "error", OK: true},
				{What: "exit code", Want: "1", Got: "1", OK: true},
			},
		},
		{
			name:       "no outcome from the guest is a harness error",
			expect:     StepExpect{Outcome: "allow"},
			end:        protocol.StepEnd{},
			wantStatus: result.Error,
			want:       []result.Check{{What: "outcome", Want: "allow", Got: "(none)", OK: false}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, checks := tt.expect.Evaluate(tt.end)
			assert.Equal(t, tt.wantStatus, status)
			assert.Equal(t, tt.want, checks)
		})
	}
}

func TestStepExpect_EvaluateShowsShortExcerptOfLongOutput(t *testing.T) {
	long := strings.Repeat("a", 500) + "NEEDLE" + strings.Repeat("é", 500)
	_, checks := StepExpect{StdoutContains: []string{"NEEDLE", "missing"}}.Evaluate(protocol.StepEnd{Outcome: "allow", Stdout: long})
	require.Len(t, checks, 3)

	found := checks[1].Got
	assert.True(t, checks[1].OK)
	assert.Contains(t, found, "NEEDLE")
	assert.True(t, strings.HasPrefix(found, "...") && strings.HasSuffix(found, "..."), found)
	assert.LessOrEqual(t, len(found), 220)
	assert.True(t, strings.ToValidUTF8(found, "?") == found, "excerpt cuts between characters")

	missing := checks[2].Got
	assert.False(t, checks[2].OK)
	assert.Contains(t, missing, " ... ")
	assert.True(t, strings.HasPrefix(missing, "aaaa"))
	assert.True(t, strings.HasSuffix(missing, "éé"))
	assert.LessOrEqual(t, len(missing), 220)
	assert.True(t, strings.ToValidUTF8(missing, "?") == missing)
}

func TestCount_HoldsAndString(t *testing.T) {
	tests := []struct {
		c      Count
		n      int
		holds  bool
		String string
	}{
		{Count{Min: 2, Max: intp(2)}, 2, true, "2"},
		{Count{Min: 2, Max: intp(2)}, 3, false, "2"},
		{Count{Min: 1}, 100, true, "at least 1"},
		{Count{Min: 1}, 0, false, "at least 1"},
		{Count{Max: intp(3)}, 3, true, "at most 3"},
		{Count{Min: 1, Max: intp(3)}, 4, false, "1 to 3"},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.holds, tt.c.Holds(tt.n), "%v holds %d", tt.c, tt.n)
		assert.Equal(t, tt.String, tt.c.String())
	}
}

package orchestrator

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tsemlab/tsemlab/protocol"
)

func TestClassify(t *testing.T) {
	tests := []struct {
		name     string
		obs      Observation
		outcome  string
		evidence []string
	}{
		{name: "allow", obs: Observation{Stdout: "rocinante:x:1000:1000\n"},
			outcome: protocol.OutcomeAllow, evidence: []string{"exit status 0"}},
		{name: "deny by EPERM text in stderr", obs: Observation{ExitCode: 1, Stderr: "cat: /etc/debian_version: Operation not permitted\n"},
			outcome: protocol.OutcomeDeny, evidence: []string{"stderr: cat: /etc/debian_version: Operation not permitted", "exit status 1"}},
		{name: "deny by Permission denied", obs: Observation{ExitCode: 2, Stderr: "\n  ls: cannot open directory '/root': Permission denied  \n"},
			outcome: protocol.OutcomeDeny, evidence: []string{"stderr: ls: cannot open directory '/root': Permission denied", "exit status 2"}},
		{name: "deny by bash fork failure", obs: Observation{ExitCode: 254, Stderr: "bash: fork: Operation not permitted\n"},
			outcome: protocol.OutcomeDeny, evidence: []string{"stderr: bash: fork: Operation not permitted", "exit status 254"}},
		{name: "deny by refusal on stdout with exit 0", obs: Observation{Stdout: "chown: changing ownership: Operation not permitted\n"},
			outcome: protocol.OutcomeDeny, evidence: []string{"stdout: chown: changing ownership: Operation not permitted"}},
		{name: "deny by SIGSYS", obs: Observation{ExitCode: 159, Signal: "SIGSYS"},
			outcome: protocol.OutcomeDeny, evidence: []string{"killed by SIGSYS (seccomp)", "exit status 159"}},
		{name: "error for exit 1 without refusal text", obs: Observation{ExitCode: 1, Stderr: "grep: no match\n"},
			outcome: protocol.OutcomeError, evidence: []string{"exit status 1, no sign of a refusal"}},
		{name: "error for SIGSEGV", obs: Observation{ExitCode: 139, Signal: "SIGSEGV"},
			outcome: protocol.OutcomeError, evidence: []string{"killed by SIGSEGV"}},
		{name: "timeout wins over everything", obs: Observation{TimedOut: true, ExitCode: 137, Signal: "SIGKILL", Stderr: "Permission denied"},
			outcome: protocol.OutcomeTimeout, evidence: []string{"step did not finish within its time limit"}},
		{name: "TSEM violations deny when enforcing", obs: Observation{Violations: []string{"file_open /etc/shadow", "inode_getattr /usr/bin/cat"}, Enforcing: true},
			outcome: protocol.OutcomeDeny, evidence: []string{"tsem: 2 new forensic event(s): file_open /etc/shadow, inode_getattr /usr/bin/cat"}},
		{name: "TSEM violations are recorded only without enforcing", obs: Observation{Violations: []string{"file_open /etc/debian_version"}},
			outcome: protocol.OutcomeAllow, evidence: []string{
				"tsem: 1 new forensic event(s): file_open /etc/debian_version (recorded only: the namespace does not enforce)",
				"exit status 0",
			}},
		{name: "all evidence together", obs: Observation{ExitCode: 1, Signal: "SIGSYS", Stderr: "x: Permission denied", Stdout: "Operation not permitted", Violations: []string{"file_open /a"}, Enforcing: true},
			outcome: protocol.OutcomeDeny, evidence: []string{
				"killed by SIGSYS (seccomp)",
				"stderr: x: Permission denied",
				"stdout: Operation not permitted",
				"tsem: 1 new forensic event(s): file_open /a",
				"exit status 1",
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			outcome, evidence := Classify(tt.obs)
			assert.Equal(t, tt.outcome, outcome)
			assert.Equal(t, tt.evidence, evidence)
		})
	}
}

func TestDenialLine_FirstRefusalLine(t *testing.T) {
	tests := []struct{ name, text, want string }{
		{"none", "hello\nworld\n", ""},
		{"case insensitive", "X: PERMISSION DENIED", "X: PERMISSION DENIED"},
		{"first of several", "a\nb: Operation not permitted\nc: Permission denied\n", "b: Operation not permitted"},
		{"cannot fork", "bash: cannot fork: Resource temporarily unavailable", "bash: cannot fork: Resource temporarily unavailable"},
		{"empty", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, denialLine(tt.text))
		})
	}
}

func TestInGuest_OnlyWithAPlan(t *testing.T) {
	dir := t.TempDir()
	plan := filepath.Join(dir, "plan.json")
	err := inGuest(plan)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "not on a host")
	require.NoError(t, os.WriteFile(plan, []byte("{}"), 0o644))
	assert.NoError(t, inGuest(plan))
}

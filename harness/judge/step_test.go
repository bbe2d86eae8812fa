package judge

import (
	"encoding/json"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tsemlab/tsemlab/event"
	"github.com/tsemlab/tsemlab/harness/result"
	"github.com/tsemlab/tsemlab/harness/scenario"
	"github.com/tsemlab/tsemlab/protocol"
)

// singleUnlearned is the real step of TSEM.md §0's "a step can survive its
// violation": in an exec session under enforce, `cat /etc/resolv.conf`
// (never opened while learning) printed the file and exited 0; forensics
// hold its file_open and the kernel refused cat's next event.
func singleUnlearned(t *testing.T) protocol.StepEnd {
	t.Helper()
	var step struct {
		Run      string `json:"run"`
		ExitCode int    `json:"exit_code"`
		Stdout   string `json:"stdout"`
	}
	data, err := os.ReadFile("testdata/single-unlearned.enforce.step.json")
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(data, &step))
	f, err := os.Open("testdata/single-unlearned.enforce.forensics")
	require.NoError(t, err)
	defer f.Close()
	evs, err := event.ParseAll(f)
	require.NoError(t, err)
	console, err := os.ReadFile("testdata/single-unlearned.console.log")
	require.NoError(t, err)
	var klog []string
	for _, l := range strings.Split(strings.TrimSpace(string(console)), "\n") {
		klog = append(klog, strings.TrimSpace(regexp.MustCompile(`^\[[ 0-9.]+\] `).ReplaceAllString(l, "")))
	}
	end := protocol.StepEnd{
		Phase: "enforce", Index: 1, Run: step.Run, Session: protocol.SessionExec, ExitCode: step.ExitCode, Stdout: step.Stdout,
		NamespaceID: "2", Enforcing: true, KernelLog: klog,
	}
	for _, e := range evs {
		end.Forensics = append(end.Forensics, e.Summary())
	}
	return end
}

func decisive(ev []result.Evidence) []string {
	var out []string
	for _, e := range ev {
		if e.Decisive {
			out = append(out, e.Kind)
		}
	}
	return out
}

func TestOutcome_EachRuleAndTheEvidenceThatDecidedIt(t *testing.T) {
	untrustedFork := "Untrusted event task_alloc: model_ns=2, comm=bash, pid=69"
	tests := []struct {
		name     string
		end      protocol.StepEnd
		want     protocol.Outcome
		decisive []string
		mentions string
	}{
		{name: "a recorded violation the step survives is a violation, not a denial",
			end: singleUnlearned(t), want: protocol.OutcomeViolation, decisive: []string{KindKernelLog, KindForensics, KindExit},
			mentions: "Untrusted event file_fcntl: model_ns=2, comm=cat"},
		{name: "two unlearned opens: the refused second open reaches the step",
			end: protocol.StepEnd{Session: protocol.SessionExec, ExitCode: 1, Stdout: "nameserver 8.8.8.8\n", Stderr: "cat: open /etc/localtime: operation not permitted\n", Enforcing: true, NamespaceID: "2",
				Forensics: []string{"cat file_open /etc/resolv.conf"}, KernelLog: []string{"Untrusted event file_fcntl: model_ns=2, comm=cat, pid=50", "Untrusted event file_open: model_ns=2, comm=cat, pid=50"}},
			want: protocol.OutcomeDeny, decisive: []string{KindStderr, KindKernelLog, KindExit}, mentions: "operation not permitted"},
		{name: "refusal text on stdout with exit 0 is allow",
			end:  protocol.StepEnd{Session: protocol.SessionExec, Stdout: "Operation not permitted\n"},
			want: protocol.OutcomeAllow, decisive: []string{KindExit}},
		{name: "refusal text on stdout with a failing exit is error",
			end:  protocol.StepEnd{Session: protocol.SessionExec, ExitCode: 1, Stdout: "Operation not permitted\n"},
			want: protocol.OutcomeError, decisive: []string{KindExit}, mentions: "no evidence of a refusal"},
		{name: "refusal text on stderr with exit 0 is allow, noted",
			end:  protocol.StepEnd{Session: protocol.SessionExec, Stderr: "Permission denied\n"},
			want: protocol.OutcomeAllow, decisive: []string{KindExit}, mentions: "the step still exited 0"},
		{name: "EPERM on stderr with a failing exit is deny",
			end:  protocol.StepEnd{Session: protocol.SessionExec, ExitCode: 1, Stderr: "chown: changing ownership of '/tmp/f': Operation not permitted\n"},
			want: protocol.OutcomeDeny, decisive: []string{KindStderr, KindExit}},
		{name: "bash cannot fork in an untrusted shell",
			end: protocol.StepEnd{Session: protocol.SessionShell, ExitCode: 254, Stderr: "bash: fork: Operation not permitted\n", Enforcing: true, NamespaceID: "2",
				Forensics: []string{"bash file_open /root/.bash_history"}, KernelLog: []string{untrustedFork}},
			want: protocol.OutcomeDeny, decisive: []string{KindStderr, KindKernelLog, KindExit}},
		{name: "the kernel's refusal lines with a failing exit are deny, even with nothing on stderr",
			end:  protocol.StepEnd{Session: protocol.SessionExec, ExitCode: 1, Enforcing: true, KernelLog: []string{untrustedFork}},
			want: protocol.OutcomeDeny, decisive: []string{KindKernelLog, KindExit}},
		{name: "an exit status above 128 alone is no signal",
			end:  protocol.StepEnd{Session: protocol.SessionShell, ExitCode: 159},
			want: protocol.OutcomeError, decisive: []string{KindExit}},
		{name: "the shell's own report of a job killed by SIGSYS is a refusal",
			end:  protocol.StepEnd{Session: protocol.SessionShell, ExitCode: 159, Stderr: "bash: line 3:    57 Bad system call         (core dumped) ./chmod-it\n"},
			want: protocol.OutcomeDeny, decisive: []string{KindSignal, KindExit}, mentions: "killed by SIGSYS (the shell reported"},
		{name: "SIGSYS from the wait status is a refusal",
			end:  protocol.StepEnd{Session: protocol.SessionExec, ExitCode: 159, Signal: "SIGSYS"},
			want: protocol.OutcomeDeny, decisive: []string{KindSignal, KindExit}, mentions: "from the wait status"},
		{name: "a segfault is no refusal",
			end:  protocol.StepEnd{Session: protocol.SessionExec, ExitCode: 139, Signal: "SIGSEGV"},
			want: protocol.OutcomeError, decisive: []string{KindExit}, mentions: "killed by SIGSEGV (from the wait status), which is not a refusal"},
		{name: "forensics in a namespace that does not enforce are recorded only",
			end:  protocol.StepEnd{Session: protocol.SessionExec, Forensics: []string{"cat file_open /etc/shadow"}, NamespaceID: "2"},
			want: protocol.OutcomeAllow, decisive: []string{KindExit}, mentions: "recorded only"},
		{name: "an AppArmor denial the step ignored does not make it a violation",
			end:  protocol.StepEnd{Session: protocol.SessionExec, KernelLog: []string{`apparmor="DENIED" operation="open" profile="appone"`}},
			want: protocol.OutcomeAllow, decisive: []string{KindExit}, mentions: "DENIED"},
		{name: "AppArmor denial with EACCES is deny",
			end:  protocol.StepEnd{Session: protocol.SessionExec, ExitCode: 1, Stderr: "touch: /tmp/x: Permission denied\n", KernelLog: []string{`apparmor="DENIED" operation="open" profile="appone"`}},
			want: protocol.OutcomeDeny, decisive: []string{KindStderr, KindKernelLog, KindExit}},
		{name: "timeout", end: protocol.StepEnd{TimedOut: true, ExitCode: 137, Signal: "SIGKILL", Stderr: "Permission denied"},
			want: protocol.OutcomeTimeout, decisive: []string{KindTimeout}},
		{name: "not run", end: protocol.StepEnd{NotRun: "the session's shell had already exited"},
			want: protocol.OutcomeNotRun, decisive: []string{KindNotRun}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ev := Outcome(tt.end)
			assert.Equal(t, tt.want, got)
			assert.Equal(t, tt.decisive, decisive(ev))
			assert.Contains(t, result.DescribeEvidence(ev), tt.mentions)
		})
	}
}

func intp(i int) *int { return &i }

func TestStep_ChecksEveryExpectation(t *testing.T) {
	allowed := protocol.StepEnd{Session: protocol.SessionExec, Stdout: "rocinante:x:1000:1000\n", Stderr: "warning: locale\n"}
	denied := protocol.StepEnd{Session: protocol.SessionExec, ExitCode: 1, Stderr: "chown: changing ownership of '/tmp/f': Operation not permitted\n"}
	const deniedGot = "deny (decided by: stderr: chown: changing ownership of '/tmp/f': Operation not permitted; exit status 1)"
	tests := []struct {
		name       string
		expect     scenario.StepExpect
		end        protocol.StepEnd
		wantStatus result.Status
		want       []result.Check
	}{
		{name: "empty expectation means allow", end: allowed, wantStatus: result.Pass,
			want: []result.Check{{What: "outcome", Want: "allow", Got: "allow (decided by: exit status 0)", OK: true}}},
		{name: "outcome mismatch fails and shows the evidence", expect: scenario.StepExpect{Outcome: "allow"}, end: denied, wantStatus: result.Fail,
			want: []result.Check{{What: "outcome", Want: "allow", Got: deniedGot}}},
		{name: "exit code holds", expect: scenario.StepExpect{Outcome: "deny", ExitCode: intp(1)}, end: denied, wantStatus: result.Pass,
			want: []result.Check{{What: "outcome", Want: "deny", Got: deniedGot, OK: true}, {What: "exit code", Want: "1", Got: "1", OK: true}}},
		{name: "a signal never matches an exit code", expect: scenario.StepExpect{Outcome: "deny", ExitCode: intp(0)},
			end: protocol.StepEnd{Session: protocol.SessionExec, ExitCode: 159, Signal: "SIGSYS"}, wantStatus: result.Fail,
			want: []result.Check{
				{What: "outcome", Want: "deny", Got: "deny (decided by: killed by SIGSYS (from the wait status); exit status 159 (killed by SIGSYS))", OK: true},
				{What: "exit code", Want: "0", Got: "159 (killed by SIGSYS)"}}},
		{name: "stream contains and does not contain",
			expect: scenario.StepExpect{StdoutContains: []string{"rocinante:x:1000", "absent"}, StderrNotContains: []string{"warning"}, OutputContains: []string{"1000:1000\nwarning"}},
			end:    allowed, wantStatus: result.Fail,
			want: []result.Check{
				{What: "outcome", Want: "allow", Got: "allow (decided by: exit status 0)", OK: true},
				{What: `stdout contains "rocinante:x:1000"`, Want: "rocinante:x:1000", Got: "rocinante:x:1000:1000\n", OK: true},
				{What: `stdout contains "absent"`, Want: "absent", Got: "rocinante:x:1000:1000\n"},
				{What: `output contains "1000:1000\nwarning"`, Want: "1000:1000\nwarning", Got: "rocinante:x:1000:1000\nwarning: locale\n", OK: true},
				{What: `stderr does not contain "warning"`, Want: `no "warning"`, Got: "warning: locale\n"}}},
		{name: "empty and truncated output say so", expect: scenario.StepExpect{StdoutContains: []string{"x"}, StderrContains: []string{"y"}},
			end: protocol.StepEnd{Session: protocol.SessionExec, Stderr: "tail", Truncated: true}, wantStatus: result.Fail,
			want: []result.Check{
				{What: "outcome", Want: "allow", Got: "allow (decided by: exit status 0)", OK: true},
				{What: `stdout contains "x"`, Want: "x", Got: "(empty)"},
				{What: `stderr contains "y"`, Want: "y", Got: "tail (output was cut to its tail)"}}},
		{name: "a step that did not run is not_run", expect: scenario.StepExpect{Outcome: "deny", StdoutContains: []string{"x"}},
			end: protocol.StepEnd{NotRun: "the session's shell had already exited"}, wantStatus: result.NotRun,
			want: []result.Check{{What: "outcome", Want: "deny", Got: "(step did not run)"}, {What: `stdout contains "x"`, Want: "x", Got: "(step did not run)"}}},
		{name: "an unexpected timeout is a timeout", end: protocol.StepEnd{TimedOut: true}, wantStatus: result.Timeout,
			want: []result.Check{{What: "outcome", Want: "allow", Got: "timeout (decided by: the step did not finish within its time limit and was killed)"}}},
		{name: "an expected violation passes", expect: scenario.StepExpect{Outcome: "violation", StdoutContains: []string{"nameserver"}}, end: singleUnlearned(t), wantStatus: result.Pass},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := Step(scenario.Step{Expect: tt.expect}, 1, tt.end)
			assert.Equal(t, tt.wantStatus, st.Status)
			if tt.want != nil {
				assert.Equal(t, tt.want, st.Checks)
			}
		})
	}
}

func TestStep_ChecksHTTPStatusAndBody(t *testing.T) {
	spec := scenario.Step{Run: "GET http://127.0.0.1/", HTTP: &scenario.HTTP{URL: "http://127.0.0.1/", ExpectStatus: 200, BodyContains: []string{"it works"}}}
	served := protocol.StepEnd{Session: protocol.SessionShell, Stdout: "<h1>tsemlab httpd: it works</h1>\n", HTTP: &protocol.HTTPResponse{Status: 200}}
	missing := protocol.StepEnd{Session: protocol.SessionShell, Stdout: "Not Found", HTTP: &protocol.HTTPResponse{Status: 404}}
	refused := protocol.StepEnd{Session: protocol.SessionShell, ExitCode: 1, Stderr: "dial tcp 127.0.0.1:80: connect: connection refused",
		HTTP: &protocol.HTTPResponse{Error: "dial tcp 127.0.0.1:80: connect: connection refused"}}
	tests := []struct {
		name       string
		end        protocol.StepEnd
		wantStatus result.Status
		want       []result.Check
	}{
		{name: "served", end: served, wantStatus: result.Pass, want: []result.Check{
			{What: "outcome", Want: "allow", Got: "allow (decided by: exit status 0)", OK: true},
			{What: "http status", Want: "200", Got: "200", OK: true},
			{What: `http body contains "it works"`, Want: "it works", Got: "<h1>tsemlab httpd: it works</h1>\n", OK: true}}},
		{name: "another status fails the status and body checks, not the outcome", end: missing, wantStatus: result.Fail, want: []result.Check{
			{What: "outcome", Want: "allow", Got: "allow (decided by: exit status 0)", OK: true},
			{What: "http status", Want: "200", Got: "404"},
			{What: `http body contains "it works"`, Want: "it works", Got: "Not Found"}}},
		{name: "no response is an error with the reason in every check", end: refused, wantStatus: result.Fail, want: []result.Check{
			{What: "outcome", Want: "allow", Got: "error (decided by: exit status 1, with no evidence of a refusal)"},
			{What: "http status", Want: "200", Got: "(no response: dial tcp 127.0.0.1:80: connect: connection refused)"},
			{What: `http body contains "it works"`, Want: "it works", Got: "(no response: dial tcp 127.0.0.1:80: connect: connection refused)"}}},
		{name: "a step that did not run", end: protocol.StepEnd{NotRun: "the session's shell had already exited"}, wantStatus: result.NotRun},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := Step(spec, 1, tt.end)
			assert.Equal(t, tt.wantStatus, st.Status)
			if tt.want != nil {
				assert.Equal(t, tt.want, st.Checks)
			}
		})
	}
}

func TestStep_ShortExcerptOfLongOutput(t *testing.T) {
	long := strings.Repeat("a", 500) + "NEEDLE" + strings.Repeat("é", 500)
	st := Step(scenario.Step{Expect: scenario.StepExpect{StdoutContains: []string{"NEEDLE", "missing"}}}, 1, protocol.StepEnd{Stdout: long})
	require.Len(t, st.Checks, 3)
	found := st.Checks[1].Got
	assert.True(t, st.Checks[1].OK)
	assert.True(t, strings.HasPrefix(found, "...") && strings.HasSuffix(found, "..."), found)
	assert.LessOrEqual(t, len(found), 220)
	assert.True(t, strings.ToValidUTF8(found, "?") == found, "excerpt cuts between characters")
	missing := st.Checks[2].Got
	assert.Contains(t, missing, " ... ")
	assert.True(t, strings.HasSuffix(missing, "éé"))
	assert.True(t, strings.ToValidUTF8(missing, "?") == missing)
}

func TestCountString(t *testing.T) {
	assert.Equal(t, "2", countString(scenario.Count{Min: 2, Max: intp(2)}))
	assert.Equal(t, "at least 1", countString(scenario.Count{Min: 1}))
	assert.Equal(t, "at most 3", countString(scenario.Count{Max: intp(3)}))
	assert.Equal(t, "1 to 3", countString(scenario.Count{Min: 1, Max: intp(3)}))
}

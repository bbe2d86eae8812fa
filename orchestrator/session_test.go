package orchestrator

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tsemlab/tsemlab/protocol"
)

// stepLimit is generous: these steps end at once unless a test says otherwise.
const stepLimit = 30 * time.Second

func bashPhase(t *testing.T) protocol.Phase {
	t.Helper()
	if _, err := os.Stat("/bin/bash"); err != nil {
		t.Skipf("the shell session tests type into /bin/bash, which this host lacks: %v", err)
	}
	return protocol.Phase{Session: protocol.SessionShell, Shell: []string{"/bin/bash", "--noprofile", "--norc"}}
}

func startBash(t *testing.T, phase protocol.Phase) *shellSession {
	t.Helper()
	s, err := startShell(phase, "")
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.close() })
	return s
}

func TestShellSession_RunsStepsInOneShell(t *testing.T) {
	type want struct {
		stdout, stderr string
		exit           int
	}
	steps := []struct {
		run  string
		want want
	}{
		{"echo one", want{stdout: "one\n"}},
		{"false", want{exit: 1}},
		{"echo err >&2", want{stderr: "err\n"}},
		{"true", want{}},
		{"printf abc", want{stdout: "abc"}},
		{"printf 'x\\n\\n'", want{stdout: "x\n\n"}},
		{"printf err >&2; echo out", want{stdout: "out\n", stderr: "err"}},
		{"cd /tmp", want{}},
		{"pwd", want{stdout: "/tmp\n"}},
		{"V=carried", want{}},
		{"echo $V; (exit 7)", want{stdout: "carried\n", exit: 7}},
		{"seq 1 20000 | tail -n 1", want{stdout: "20000\n"}},
	}
	s := startBash(t, bashPhase(t))
	for i, st := range steps {
		r := s.run(context.Background(), protocol.Step{Index: i + 1, Run: st.run}, stepLimit)
		require.NoError(t, r.err, st.run)
		assert.False(t, r.ended, "%q ended the session", st.run)
		assert.False(t, r.timedOut, st.run)
		assert.Equal(t, st.want, want{stdout: r.stdout, stderr: r.stderr, exit: r.exit}, "step %d: %q", i+1, st.run)
		assert.Empty(t, r.signal, st.run)
	}
}

func TestShellSession_LargeOutputIsCaptured(t *testing.T) {
	s := startBash(t, bashPhase(t))
	r := s.run(context.Background(), protocol.Step{Index: 1, Run: "head -c 100000 /dev/zero | tr '\\0' a"}, stepLimit)
	require.NoError(t, r.err)
	assert.Equal(t, maxOutput, len(r.stdout), "the tail is kept")
	assert.Equal(t, strings.Repeat("a", maxOutput), r.stdout)
	next := s.run(context.Background(), protocol.Step{Index: 2, Run: "echo next"}, stepLimit)
	assert.Equal(t, "next\n", next.stdout, "the session stays in step")
}

func TestShellSession_EnvAndDir(t *testing.T) {
	phase := bashPhase(t)
	dir := t.TempDir()
	phase.Env = []string{"TSEMLAB_TEST_VAR=from-phase", "HOME=" + dir}
	phase.Dir = dir
	s := startBash(t, phase)
	r := s.run(context.Background(), protocol.Step{Index: 1, Run: `echo "$TSEMLAB_TEST_VAR $PWD [$PS1]"; test -n "$PATH"`}, stepLimit)
	assert.Equal(t, fmt.Sprintf("from-phase %s []\n", dir), r.stdout)
	assert.Equal(t, 0, r.exit, "the host environment is inherited")
}

func TestShellSession_WhatTheShellPrintsAtItsStartIsNotTheFirstSteps(t *testing.T) {
	// As bash -i without a terminal ("no job control in this shell") and
	// runc's warnings before the container's shell runs.
	ph := bashPhase(t)
	ph.Shell = []string{"/bin/bash", "-c", "echo startup notice >&2; echo banner; exec /bin/bash --noprofile --norc"}
	s := startBash(t, ph)
	r := s.run(context.Background(), protocol.Step{Index: 1, Run: "echo one; echo err >&2"}, stepLimit)
	assert.Equal(t, "one\n", r.stdout)
	assert.Equal(t, "err\n", r.stderr)
	assert.Contains(t, r.startup, "banner")
	assert.Contains(t, r.startup, "startup notice")
	r = s.run(context.Background(), protocol.Step{Index: 2, Run: "echo two"}, stepLimit)
	assert.Equal(t, "two\n", r.stdout)
	assert.Empty(t, r.startup)
}

func TestShellSession_AShellThatDiesAtItsStartIsTheFirstStepsFate(t *testing.T) {
	// As runc refused before the container's shell runs: its error is the
	// first step's evidence.
	ph := bashPhase(t)
	ph.Shell = []string{"/bin/bash", "-c", "echo 'runc run failed: refused' >&2; exit 1"}
	s := startBash(t, ph)
	r := s.run(context.Background(), protocol.Step{Index: 1, Run: "echo one"}, stepLimit)
	assert.True(t, r.ended)
	assert.Equal(t, 1, r.exit)
	assert.Contains(t, r.stderr, "runc run failed: refused")
}

func TestShellSession_ExitEndsTheSession(t *testing.T) {
	s := startBash(t, bashPhase(t))
	first := s.run(context.Background(), protocol.Step{Index: 1, Run: "echo before"}, stepLimit)
	require.Equal(t, "before\n", first.stdout)
	r := s.run(context.Background(), protocol.Step{Index: 2, Run: "echo bye; exit 3"}, stepLimit)
	assert.True(t, r.ended)
	assert.False(t, r.timedOut)
	assert.Equal(t, 3, r.exit)
	assert.Equal(t, "bye\n", r.stdout)

	after := s.run(context.Background(), protocol.Step{Index: 3, Run: "echo too late"}, stepLimit)
	assert.True(t, after.ended, "a step after the shell exited reports the ended session")
	assert.NotContains(t, after.stdout, "too late")
}

func TestShellSession_StepPastItsTimeoutIsKilled(t *testing.T) {
	s := startBash(t, bashPhase(t))
	r := s.run(context.Background(), protocol.Step{Index: 1, Run: "echo started; sleep 60"}, 300*time.Millisecond)
	assert.True(t, r.timedOut)
	assert.True(t, r.ended, "a killed shell cannot run further steps")
	assert.Equal(t, "started\n", r.stdout)
	assert.Equal(t, "SIGKILL", r.signal)
}

func TestShellSession_SignalledJobIsLeftToTheShellsOwnReport(t *testing.T) {
	s := startBash(t, bashPhase(t))
	r := s.run(context.Background(), protocol.Step{Index: 1, Run: "sh -c 'kill -SEGV $$'"}, stepLimit)
	assert.False(t, r.ended)
	assert.Equal(t, 139, r.exit)
	assert.Empty(t, r.signal, "the shell's status alone is not a wait status")
	assert.Contains(t, r.stderr, "Segmentation fault", "bash reports the killed job itself")
}

func TestShellSession_ExitStatusAbove128IsNoSignal(t *testing.T) {
	s := startBash(t, bashPhase(t))
	r := s.run(context.Background(), protocol.Step{Index: 1, Run: "(exit 159)"}, stepLimit)
	assert.Equal(t, 159, r.exit)
	assert.Empty(t, r.signal)
	assert.NotContains(t, r.stderr, "Bad system call")
}

func TestShellSession_CloseEndsTheShell(t *testing.T) {
	s, err := startShell(bashPhase(t), "")
	require.NoError(t, err)
	pid := s.cmd.Process.Pid
	require.NoError(t, s.close())
	<-s.waited
	assert.NotNil(t, s.state)
	_, err = os.Stat(fmt.Sprintf("/proc/%d/cmdline", pid))
	assert.True(t, os.IsNotExist(err), "the shell process is gone")
}

func TestStartShell_MissingShellFails(t *testing.T) {
	_, err := startShell(protocol.Phase{Shell: []string{"/nonexistent/bash"}}, "")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "start shell [/nonexistent/bash]")
}

func execPhase(t *testing.T) protocol.Phase {
	t.Helper()
	if _, err := os.Stat("/bin/sh"); err != nil {
		t.Skipf("the exec session tests run /bin/sh, which this host lacks: %v", err)
	}
	return protocol.Phase{Session: protocol.SessionExec, Shell: []string{"/bin/sh", "-c"}, Dir: t.TempDir()}
}

func TestExecSession_RunsEachStepWithShC(t *testing.T) {
	tests := []struct {
		run            string
		stdout, stderr string
		exit           int
		signal         string
	}{
		{run: "echo one; echo two", stdout: "one\ntwo\n"},
		{run: "echo err >&2; exit 3", stderr: "err\n", exit: 3},
		{run: "cat", stdout: ""}, // stdin is closed: cat returns at once
		{run: "printf abc", stdout: "abc"},
		{run: "echo $TSEMLAB_TEST_VAR", stdout: "from-phase\n"},
		{run: "kill -SEGV $$", exit: 139, signal: "SIGSEGV"},
		{run: "kill -SYS $$", exit: 159, signal: "SIGSYS"},
	}
	phase := execPhase(t)
	phase.Env = []string{"TSEMLAB_TEST_VAR=from-phase"}
	s := &execSession{phase: phase}
	for i, tt := range tests {
		t.Run(tt.run, func(t *testing.T) {
			r := s.run(context.Background(), protocol.Step{Index: i + 1, Run: tt.run}, stepLimit)
			require.NoError(t, r.err)
			assert.False(t, r.timedOut)
			assert.False(t, r.ended, "an exec session never ends")
			assert.Equal(t, tt.stdout, r.stdout)
			assert.Equal(t, tt.stderr, r.stderr)
			assert.Equal(t, tt.exit, r.exit)
			assert.Equal(t, tt.signal, r.signal)
		})
	}
	require.NoError(t, s.close())
}

func TestExecSession_StepsDoNotShareState(t *testing.T) {
	s := &execSession{phase: execPhase(t)}
	s.run(context.Background(), protocol.Step{Index: 1, Run: "cd /; V=1"}, stepLimit)
	r := s.run(context.Background(), protocol.Step{Index: 2, Run: "echo \"$PWD:$V\""}, stepLimit)
	assert.Equal(t, s.phase.Dir+":\n", r.stdout)
}

func TestExecSession_TimeoutKillsTheProcessGroup(t *testing.T) {
	// A duration no other process on the host will have in its argv.
	mark := fmt.Sprintf("1000.%d", os.Getpid())
	s := &execSession{phase: execPhase(t)}
	r := s.run(context.Background(), protocol.Step{Index: 1, Run: "sleep " + mark + " & sleep " + mark}, 300*time.Millisecond)
	require.NoError(t, r.err)
	assert.True(t, r.timedOut)
	assert.Equal(t, "SIGKILL", r.signal)
	// SIGKILL is delivered asynchronously; wait for the sleeps to be gone.
	assert.Eventually(t, func() bool { return len(liveProcesses(t, "sleep\x00"+mark+"\x00")) == 0 },
		10*time.Second, 20*time.Millisecond, "sleeps left behind: %v", liveProcesses(t, "sleep\x00"+mark+"\x00"))
}

func TestExecSession_MissingShellIsAnOrchestratorError(t *testing.T) {
	s := &execSession{phase: protocol.Phase{Shell: []string{"/nonexistent/sh", "-c"}}}
	r := s.run(context.Background(), protocol.Step{Index: 4, Run: "true"}, stepLimit)
	require.Error(t, r.err)
	assert.Contains(t, r.err.Error(), "start step 4")
}

// liveProcesses returns the pids whose command line is cmdline (zombies
// have none).
func liveProcesses(t *testing.T, cmdline string) []string {
	t.Helper()
	dirs, err := filepath.Glob("/proc/[0-9]*")
	require.NoError(t, err)
	var pids []string
	for _, d := range dirs {
		b, err := os.ReadFile(filepath.Join(d, "cmdline"))
		if err == nil && bytes.Equal(b, []byte(cmdline)) {
			pids = append(pids, filepath.Base(d))
		}
	}
	return pids
}

func TestQuietGoRuntimes_TurnsOffMappingNamesForChildren(t *testing.T) {
	for _, tt := range []struct{ before, after string }{
		{"", "decoratemappings=0"},
		{"madvdontneed=1", "madvdontneed=1,decoratemappings=0"},
		{"decoratemappings=1", "decoratemappings=1"}, // the user's own choice stays
	} {
		t.Setenv("GODEBUG", tt.before)
		quietGoRuntimes()
		assert.Equal(t, tt.after, os.Getenv("GODEBUG"))
	}
}

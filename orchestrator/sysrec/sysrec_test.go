package sysrec

import (
	"os"
	"os/exec"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// canTrace skips when this host forbids ptrace (a container without
// CAP_SYS_PTRACE, or Yama's ptrace_scope 3), failing under CI.
func canTrace(t *testing.T) {
	t.Helper()
	if b, err := os.ReadFile("/proc/sys/kernel/yama/ptrace_scope"); err == nil && string(b) == "3\n" {
		if os.Getenv("CI") == "true" {
			t.Fatal("Yama's ptrace_scope is 3 on this CI host: ptrace is disabled")
		}
		t.Skip("needs ptrace; Yama's ptrace_scope is 3 here")
	}
}

func TestRun_FollowsChildrenAndCountsTheirCalls(t *testing.T) {
	canTrace(t)
	cmd := exec.Command("/bin/sh", "-c", "ls / >/dev/null; (exit 3)")
	rec, err := Run(cmd)
	require.NoError(t, err)
	assert.Equal(t, 3, rec.ExitCode)
	assert.Empty(t, rec.Signal)
	assert.Positive(t, rec.Counts["execve"], "the shell's exec of ls, seen from the shell's child: %v", rec.Counts)
	assert.Positive(t, rec.Counts["getdents64"], "ls, a child, read the directory: %v", rec.Counts)
	assert.Positive(t, rec.Counts["exit_group"])
	assert.Positive(t, rec.Counts["clone"]+rec.Counts["clone3"]+rec.Counts["fork"]+rec.Counts["vfork"])
}

func TestRun_ReportsTheSignalThatKilledTheCommand(t *testing.T) {
	canTrace(t)
	rec, err := Run(exec.Command("/bin/sh", "-c", "kill -SYS $$"))
	require.NoError(t, err)
	assert.Equal(t, "SIGSYS", rec.Signal)
	assert.Equal(t, 128+31, rec.ExitCode)
	assert.Positive(t, rec.Counts["kill"])
}

// TestRun_FollowsThreads traces this test binary running helperThreads: a
// Go program whose goroutines run on several threads.
func TestRun_FollowsThreads(t *testing.T) {
	canTrace(t)
	self, err := os.Executable()
	require.NoError(t, err)
	cmd := exec.Command(self, "-test.run=^TestHelperThreads$")
	cmd.Env = append(os.Environ(), "SYSREC_HELPER=1")
	rec, err := Run(cmd)
	require.NoError(t, err)
	assert.Equal(t, 0, rec.ExitCode)
	assert.Positive(t, rec.Counts["clone"]+rec.Counts["clone3"], "threads: %v", rec.Counts)
	assert.GreaterOrEqual(t, rec.Counts["getppid"], 8, "every thread's calls are seen: %v", rec.Counts)
}

func TestHelperThreads(t *testing.T) {
	if os.Getenv("SYSREC_HELPER") != "1" {
		t.Skip("helper for TestRun_FollowsThreads")
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			os.Getppid()
		}()
	}
	wg.Wait()
}

package runner

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tsemlab/tsemlab/harness/boot"
	"github.com/tsemlab/tsemlab/harness/image"
	"github.com/tsemlab/tsemlab/harness/lab"
	"github.com/tsemlab/tsemlab/harness/result"
	"github.com/tsemlab/tsemlab/harness/scenario"
	"github.com/tsemlab/tsemlab/internal/vmtest"
	"github.com/tsemlab/tsemlab/protocol"
)

// These tests boot real kernels under QEMU. They need qemu-system-x86_64 and
// apt (for the stock kernel), which `make test` installs; -short skips them.

var (
	labs   = map[string]*lab.Lab{}
	labsMu sync.Mutex
)

// prepare returns a lab for kernelPath ("" = the stock kernel), built once
// per test binary.
func prepare(t *testing.T, kernelPath string) *lab.Lab {
	t.Helper()
	vmtest.Require(t)
	labsMu.Lock()
	defer labsMu.Unlock()
	if l := labs[kernelPath]; l != nil {
		return l
	}
	src, err := image.FindSource(".")
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	l, err := lab.Prepare(ctx, lab.Options{KernelPath: kernelPath, Accel: "auto", CacheDir: cacheDir(t), SourceDir: src, Log: testLog(t)})
	require.NoError(t, err)
	labs[kernelPath] = l
	return l
}

func testLog(t *testing.T) *slog.Logger { return discard() }

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func runScenarios(t *testing.T, l *lab.Lab, files ...string) *result.Run {
	t.Helper()
	all, err := scenario.LoadAll(context.Background(), files)
	require.NoError(t, err)
	c := labConfig(l, vmtest.ResultsDir(t))
	c.RootFS = workloadImages(t, all)
	return Run(context.Background(), c, all)
}

// snapshots is the snapshot cache the tests share with tsemlab itself.
// A cache directory that cannot be made fails the lab's preparation
// first, with its reason; the snapshots then go to a temporary one.
var snapshots = func() *boot.Snapshots {
	d, err := lab.CacheDir(discard())
	if err != nil {
		d = os.TempDir()
	}
	return &boot.Snapshots{Dir: filepath.Join(d, "snapshots")}
}()

// labConfig is the runner configuration for a prepared lab, writing to
// out: scenarios restore a snapshot, as `tsemlab run` does by default.
func labConfig(l *lab.Lab, out string) Config {
	return Config{
		Kernel: l.Kernel, Image: l.Image, Accel: l.Accel, QEMU: l.QEMU, QEMUVersion: l.QEMUVersion,
		OutDir: out, Log: discard(), Facts: l.Facts, Snapshots: snapshots,
	}
}

func scenarioFile(t *testing.T, name, yaml string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name+".yaml")
	require.NoError(t, os.WriteFile(p, []byte(yaml), 0o644))
	return p
}

func TestRun_StockKernel_CapsChownPassesAndTSEMScenarioSkips(t *testing.T) {
	l := prepare(t, "")
	all, err := scenario.LoadAll(t.Context(), []string{"../../scenarios/caps-chown.yaml", "../../scenarios/process-grep.yaml"})
	require.NoError(t, err)
	c := labConfig(l, t.TempDir())
	c.Snapshots = nil
	run := Run(context.Background(), c, all)
	require.Len(t, run.Scenarios, 2)

	caps := run.Scenarios[0]
	assert.Equal(t, result.Pass, caps.Status, "reason: %s\nconsole: %s", caps.Reason, caps.ConsoleTail)
	require.Len(t, caps.Phases, 1)
	require.Len(t, caps.Phases[0].Steps, 4)
	drop := caps.Phases[0].Steps[1]
	assert.Equal(t, protocol.OutcomeDeny, drop.Seen)
	assert.Contains(t, result.DescribeEvidence(drop.Evidence), "decided by: stderr: chown")
	assert.NotEmpty(t, caps.Env.KernelSHA256)
	assert.NotEmpty(t, caps.Env.InitramfsSHA256)
	assert.NotEmpty(t, caps.Env.QEMUVersion)
	assert.NotEmpty(t, caps.Env.Accel)
	assert.FileExists(t, filepath.Join(caps.Dir, "console.log"))
	assert.FileExists(t, filepath.Join(caps.Dir, "result.json"))
	assert.Positive(t, caps.GuestUptimeAtHello.Seconds())
	assert.Equal(t, "cold boot (snapshots off)", caps.Env.Boot)
	require.NotNil(t, caps.GuestBoot)
	assert.Positive(t, caps.GuestBoot.OrchestratorStart.Seconds())
	assert.Less(t, caps.GuestBoot.InitStart.Seconds(), caps.GuestBoot.OrchestratorStart.Seconds())

	grep := run.Scenarios[1]
	assert.Equal(t, result.Skip, grep.Status)
	assert.Contains(t, grep.Reason, "lacks the tsem security module")
	assert.Contains(t, grep.Reason, "--kernel")
}

func TestRun_WrongExpectationFailsWithWantAndGot(t *testing.T) {
	l := prepare(t, "")
	f := scenarioFile(t, "wrong", `
name: wrong
phases:
  - name: p
    steps:
      - run: echo hello
        expect: {outcome: deny, stdout_contains: goodbye}
`)
	run := runScenarios(t, l, f)
	sc := run.Scenarios[0]
	require.Equal(t, result.Fail, sc.Status, sc.Reason)
	st := sc.Phases[0].Steps[0]
	assert.Equal(t, protocol.OutcomeDeny, st.Expected)
	assert.Equal(t, protocol.OutcomeAllow, st.Seen)
	failed := result.Failed(st.Checks)
	require.Len(t, failed, 2)
	assert.Contains(t, failed[1].Got, "hello")
}

func TestRun_KernelPanicIsCrashNotDenial(t *testing.T) {
	l := prepare(t, "")
	f := scenarioFile(t, "panic", `
name: panic
phases:
  - name: p
    steps:
      - run: echo c > /proc/sysrq-trigger
        expect: {outcome: deny}
`)
	run := runScenarios(t, l, f)
	sc := run.Scenarios[0]
	require.Equal(t, result.Crash, sc.Status, "reason %s\nconsole:\n%s", sc.Reason, sc.ConsoleTail)
	assert.Contains(t, sc.Reason, "during step p/1")
	assert.Contains(t, sc.Crash, "Kernel panic")
}

// TestRun_GoCommandsWorkOnTheirMainThread: every u-root command in the
// guest runs its main on the process's main thread (package
// internal/mainthread, linked into the busybox), because TSEM models a Go
// program's events differently by thread. The stock kernel shows that the
// busybox links the package and that cat's opens come from its main
// thread; its scheduler rarely moves a goroutine, so only a kernel that
// does (the defconfig TSEM kernel moved 3 of 100 unpinned cats) can show
// the loop failing without the package: set TSEMLAB_TSEM_KERNEL to run it
// there too.
func TestRun_GoCommandsWorkOnTheirMainThread(t *testing.T) {
	kernels := []string{""}
	if k := os.Getenv("TSEMLAB_TSEM_KERNEL"); k != "" {
		kernels = append(kernels, k)
	} else {
		t.Log("TSEMLAB_TSEM_KERNEL unset: the stock kernel only")
	}
	f := scenarioFile(t, "mainthread", `
name: mainthread
phases:
  - name: p
    steps:
      - run: strings /bbin/bb | grep tsemlab/internal/mainthread.init
        expect: {outcome: allow, stdout_contains: internal/mainthread.init}
      - run: 'set -- $(mainthread); [ -n "$2" ] && [ "$2" = "$4" ] && echo same'
        expect: {outcome: allow, stdout_contains: same}
      - run: |
          n=0
          for i in $(seq 100); do
            out=$(cat /proc/self/stat /etc/passwd /etc/group /proc/cpuinfo /proc/meminfo /proc/thread-self/stat)
            pid=${out%% *}; last=${out##*$'\n'}; tid=${last%% *}
            [ -n "$pid" ] && [ "$pid" = "$tid" ] || n=$((n+1))
          done
          echo "off-main=$n."
        expect: {outcome: allow, stdout_contains: "off-main=0."}
`)
	for _, k := range kernels {
		name := "stock"
		if k != "" {
			name = filepath.Base(k)
		}
		t.Run(name, func(t *testing.T) {
			run := runScenarios(t, prepare(t, k), f)
			sc := run.Scenarios[0]
			require.Equal(t, result.Pass, sc.Status, "%s\n%s\nconsole:\n%s", sc.Reason, failures(sc), sc.ConsoleTail)
		})
	}
}

// TestRun_GuestInitSurvivesSignalsAndReapsOrphans: the guest's init (pid
// 1) outlives a step that signals it, and reaps the processes orphaned to
// it (a daemon's exited child is not left a zombie).
func TestRun_GuestInitSurvivesSignalsAndReapsOrphans(t *testing.T) {
	l := prepare(t, "")
	f := scenarioFile(t, "init", `
name: init
phases:
  - name: p
    steps:
      - run: kill -TERM 1; kill -HUP 1; kill -INT 1; sleep 0.5; echo alive
        expect: {outcome: allow, stdout_contains: alive}
      - run: 'n=0; (sleep 0.2 &); sleep 1; for f in /proc/[0-9]*/stat; do read -r l < $f; s=${l##*) }; [ "${s%% *}" = Z ] && n=$((n+1)); done; echo "zombies=$n."'
        expect: {outcome: allow, stdout_contains: "zombies=0."}
`)
	run := runScenarios(t, l, f)
	sc := run.Scenarios[0]
	require.Equal(t, result.Pass, sc.Status, "reason %s\nconsole:\n%s", sc.Reason, sc.ConsoleTail)
}

func TestRun_TimeoutNamesTheRunningStep(t *testing.T) {
	l := prepare(t, "")
	f := scenarioFile(t, "slow", `
name: slow
step_timeout: 5m
phases:
  - name: p
    steps:
      - run: "true"
      - run: sleep 600
`)
	all, err := scenario.LoadAll(context.Background(), []string{f})
	require.NoError(t, err)
	// Long enough for a boot on a loaded 2-core machine; the scenario's
	// end then always falls in the sleep.
	c := labConfig(l, vmtest.ResultsDir(t))
	c.Timeout = 60 * time.Second
	run := Run(context.Background(), c, all)
	sc := run.Scenarios[0]
	require.Equal(t, result.Timeout, sc.Status, sc.Reason)
	assert.Contains(t, sc.Reason, "step p/2 (sleep 600) was running")
	assert.Equal(t, result.Pass, sc.Phases[0].Steps[0].Status)
	assert.Equal(t, result.NotRun, sc.Phases[0].Steps[1].Status)
}

// TestRun_TSEMKernel_ScenariosPass runs every shipped scenario for real on
// a TSEM kernel, container-mode and workload-image ones included: every one
// must pass, none may skip.
func TestRun_TSEMKernel_ScenariosPass(t *testing.T) {
	k := os.Getenv("TSEMLAB_TSEM_KERNEL")
	if k == "" {
		t.Skip("needs a TSEM-enabled bzImage in TSEMLAB_TSEM_KERNEL (see README, TSEM kernels); the stock-kernel tests above cover the same runner path")
	}
	l := prepare(t, k)
	files, err := filepath.Glob("../../scenarios/*.yaml")
	require.NoError(t, err)
	run := runScenarios(t, l, files...)
	ran := 0
	for _, sc := range run.Scenarios {
		all, err := scenario.LoadAll(context.Background(), []string{sc.File})
		require.NoError(t, err)
		spec := all[0]
		switch {
		case !slices.Contains(spec.Requires.LSM, "tsem") && sc.Status == result.Skip:
			assert.Contains(t, sc.Reason, "lacks", "%s may skip only for what the kernel lacks", sc.Name)
		case !slices.Contains(spec.Requires.LSM, "tsem"):
			assert.Equal(t, result.Pass, sc.Status, "%s: %s", sc.Name, sc.Reason)
		default:
			ran++
			assert.Equal(t, result.Pass, sc.Status, "%s: %s\n%s", sc.Name, sc.Reason, sc.Crash)
			assert.Contains(t, sc.Env.LSMs, "tsem")
			for _, p := range sc.Phases {
				assert.NotEmpty(t, p.NamespaceID, "%s/%s has no namespace id", sc.Name, p.Name)
				for _, st := range p.Steps {
					assert.NotEmpty(t, st.Evidence, "%s %s/%d has no evidence", sc.Name, p.Name, st.Index)
				}
			}
		}
	}
	assert.GreaterOrEqual(t, ran, 8, "TSEM scenarios run, container mode and images included")
}

// The verdict rules on a real guest (stock kernel, no TSEM): refusal text
// on stdout is no denial, an exit status above 128 is no signal, EPERM on
// stderr with a failing exit is.
func TestRun_VerdictsComeOnlyFromEvidence(t *testing.T) {
	l := prepare(t, "")
	f := scenarioFile(t, "verdicts", `
name: verdicts
phases:
  - name: exec
    steps:
      - run: echo 'Operation not permitted'
        expect: {outcome: allow}
      - run: echo 'Operation not permitted' >&2; exit 0
        expect: {outcome: allow}
      - run: "echo 'chown - Operation not permitted' >&2; exit 1"
        expect: {outcome: deny}
      - run: kill -SYS $$
        expect: {outcome: deny}
  - name: shell
    session: shell
    steps:
      - run: (exit 159)
        expect: {outcome: error, exit_code: 159}
      - run: sh -c 'kill -SYS $$'
        expect: {outcome: deny}
`)
	run := runScenarios(t, l, f)
	sc := run.Scenarios[0]
	require.Equal(t, result.Pass, sc.Status, "%s\n%s", sc.Reason, sc.ConsoleTail)
	steps := sc.Phases[1].Steps
	assert.Empty(t, steps[0].Signal, "(exit 159) is not a signal")
	assert.Contains(t, result.DescribeEvidence(steps[1].Evidence), "killed by SIGSYS (the shell reported")
	assert.Contains(t, result.DescribeEvidence(sc.Phases[0].Steps[3].Evidence), "killed by SIGSYS (from the wait status)")
}

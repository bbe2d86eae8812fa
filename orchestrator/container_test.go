package orchestrator

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tsemlab/tsemlab/protocol"
)

func writeFile(path, content string) error { return os.WriteFile(path, []byte(content), 0o644) }

// fakeRunc returns testdata/fake-runc, with its log and the container's
// cgroup in temporary places; FAKE_RUNC is left to each test.
func fakeRunc(t *testing.T) string {
	t.Helper()
	if _, err := os.Stat("/bin/bash"); err != nil {
		t.Skipf("the fake runc runs /bin/bash as the container's shell, which this host lacks: %v", err)
	}
	p, err := filepath.Abs("testdata/fake-runc")
	require.NoError(t, err)
	t.Setenv("FAKE_RUNC_LOG", filepath.Join(t.TempDir(), "runc.log"))
	t.Setenv("FAKE_RUNC", "")
	return p
}

// containerPhase runs one container-mode phase of steps through runPhase,
// as the guest does, and returns what was reported.
func containerPhase(t *testing.T, o *orchestrator, steps ...protocol.Step) []protocol.StepEnd {
	t.Helper()
	cg := filepath.Join(o.img.layout.Cgroup, "tsemlab", containerID)
	require.NoError(t, os.MkdirAll(cg, 0o755))
	t.Setenv("FAKE_CGROUP", cg)
	for i := range steps {
		steps[i].Index = i + 1
	}
	ph := protocol.Phase{Name: "p", Session: protocol.SessionShell, Shell: []string{"/bin/bash"}, Env: []string{"A=b"}, Steps: steps}
	rec := o.out.(*recorder)
	rec.msgs = nil
	require.NoError(t, o.runPhase(context.Background(), ph))
	var ends []protocol.StepEnd
	for _, m := range rec.msgs {
		if m.Kind == protocol.KindStepEnd {
			ends = append(ends, *m.Result)
		}
	}
	return ends
}

func runcLog(t *testing.T) []string {
	b, err := os.ReadFile(os.Getenv("FAKE_RUNC_LOG"))
	require.NoError(t, err)
	return strings.Split(strings.TrimSpace(string(b)), "\n")
}

func guestErrors(o *orchestrator) []string {
	var out []string
	for _, m := range o.out.(*recorder).msgs {
		if m.Kind == protocol.KindError {
			out = append(out, m.Error)
		}
	}
	return out
}

// assertGone checks that the phase left nothing that would block the next:
// no runc state, no process of the container, every mount undone.
func assertGone(t *testing.T, o *orchestrator, f *fakeMounter) {
	t.Helper()
	l := o.img.layout
	assert.NoDirExists(t, filepath.Join(l.Runc, containerID), "runc state left behind")
	listed, _ := os.ReadFile(filepath.Join(os.Getenv("FAKE_CGROUP"), "cgroup.procs"))
	deleted, _ := os.ReadFile(os.Getenv("FAKE_RUNC_LOG") + ".procs")
	for _, f := range strings.Fields(string(listed) + " " + string(deleted)) {
		pid, _ := strconv.Atoi(f)
		assert.False(t, alive(pid), "container process %d left running", pid)
	}
	assert.Equal(t, []string{"umount " + l.Root, "umount " + l.Phase}, f.ops[len(f.ops)-2:])
	assert.Nil(t, o.img.work)
}

func TestContainerPhase_StepsAreTypedIntoTheContainersShell(t *testing.T) {
	o, f, _ := imageOrchestrator(t, protocol.ModeContainer)
	ends := containerPhase(t, o, protocol.Step{Run: "echo hi; echo err >&2"}, protocol.Step{Run: "false"}, protocol.Step{Run: "echo $A"})
	require.Len(t, ends, 3)
	assert.Equal(t, "hi\n", ends[0].Stdout)
	assert.Equal(t, "err\n", ends[0].Stderr)
	assert.Equal(t, 1, ends[1].ExitCode)
	assert.Equal(t, protocol.SessionShell, ends[1].Session)
	assert.False(t, ends[1].ShellExited)
	assert.Empty(t, guestErrors(o))

	l := o.img.layout
	log := runcLog(t)
	assert.Equal(t, "--root "+l.Runc+" run --no-pivot --bundle "+filepath.Join(l.Phase, "bundle")+" tsemlab", log[0])
	assert.Equal(t, "--root "+l.Runc+" delete --force tsemlab", log[len(log)-1], "the container is deleted after every phase")
	assertGone(t, o, f)

	var cfg specs.Spec
	b, err := os.ReadFile(filepath.Join(l.Phase, "bundle", "config.json"))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &cfg))
	assert.Equal(t, []string{"/bin/bash"}, cfg.Process.Args)
	assert.Equal(t, l.Root, cfg.Root.Path)
	assert.Equal(t, "debian-minimal", cfg.Hostname)
	assert.Contains(t, cfg.Process.Env, "A=b")
	assert.Contains(t, cfg.Process.Env, "PS4="+tracePrefix, "the session's stderr marker needs the container shell's PS4")
}

func TestContainerPhase_ARefusedStartEndsThePhaseAndIsCleanedUp(t *testing.T) {
	o, f, _ := imageOrchestrator(t, protocol.ModeContainer)
	t.Setenv("FAKE_RUNC", "refuse-run")
	ends := containerPhase(t, o, protocol.Step{Run: "ls"}, protocol.Step{Run: "ls"})
	require.Len(t, ends, 2)
	assert.True(t, ends[0].ShellExited)
	assert.Equal(t, 1, ends[0].ExitCode)
	assert.Contains(t, ends[0].Stderr, "container with given ID already exists")
	assert.Equal(t, "the session's shell had already exited", ends[1].NotRun)
	assert.Contains(t, runcLog(t), "--root "+o.img.layout.Runc+" delete --force tsemlab")
	assert.Empty(t, guestErrors(o))
	assertGone(t, o, f)
}

func TestContainerPhase_ATimedOutStepIsKilledAndTheNextPhaseRuns(t *testing.T) {
	o, f, _ := imageOrchestrator(t, protocol.ModeContainer)
	start := time.Now()
	ends := containerPhase(t, o, protocol.Step{Run: "exec sleep 600", Timeout: protocol.Duration(time.Second)}, protocol.Step{Run: "true"})
	require.Len(t, ends, 2)
	assert.True(t, ends[0].TimedOut)
	assert.Less(t, time.Since(start), time.Minute, "a container holding the session's pipes does not hang the phase")
	assert.Equal(t, "the session's shell had already exited", ends[1].NotRun)
	assert.Empty(t, guestErrors(o))
	assertGone(t, o, f)

	f.ops = nil
	ends = containerPhase(t, o, protocol.Step{Run: "echo again"})
	require.Len(t, ends, 1)
	assert.Equal(t, "again\n", ends[0].Stdout, "the next phase creates its container under the same name")
}

func TestContainerPhase_WhenRuncRefusesToDeleteTheContainerIsRemovedByHand(t *testing.T) {
	o, f, _ := imageOrchestrator(t, protocol.ModeContainer)
	t.Setenv("FAKE_RUNC", "refuse-delete")
	ends := containerPhase(t, o, protocol.Step{Run: "exec sleep 600", Timeout: protocol.Duration(time.Second)})
	require.Len(t, ends, 1)
	assert.True(t, ends[0].TimedOut)
	errs := guestErrors(o)
	require.Len(t, errs, 1, "a refused cleanup is reported")
	assert.Contains(t, errs[0], "cleanup after phase p: remove container tsemlab: runc delete --force tsemlab: exit status 1: ERRO[0000] unable to signal init: permission denied (removed by hand)")
	assertGone(t, o, f)

	t.Setenv("FAKE_RUNC", "")
	ends = containerPhase(t, o, protocol.Step{Run: "echo again"})
	require.Len(t, ends, 1)
	assert.Equal(t, "again\n", ends[0].Stdout, "a container runc would not delete does not block the next one")
}

func TestContainerPhase_AFailedSetupStillRemovesEverything(t *testing.T) {
	o, f, _ := imageOrchestrator(t, protocol.ModeContainer)
	cg := filepath.Join(o.img.layout.Cgroup, "tsemlab", containerID)
	require.NoError(t, os.MkdirAll(cg, 0o755))
	t.Setenv("FAKE_CGROUP", cg)
	rec := o.out.(*recorder)
	ph := protocol.Phase{Name: "p", Session: protocol.SessionShell, Shell: []string{"/bin/bash"}, Caps: &protocol.Caps{Drop: []string{"CAP_NOSUCH"}},
		Steps: []protocol.Step{{Index: 1, Run: "true"}}}
	require.NoError(t, o.runPhase(context.Background(), ph))
	var end *protocol.PhaseInfo
	for _, m := range rec.msgs {
		if m.Kind == protocol.KindPhaseEnd {
			end = m.Phase
		}
	}
	require.NotNil(t, end)
	assert.Equal(t, `oci: unknown capability "CAP_NOSUCH"`, end.Error)
	assert.Equal(t, []string{"--root " + o.img.layout.Runc + " delete --force tsemlab"}, runcLog(t))
	assertGone(t, o, f)
}

func TestContainerPhase_TheCgroupsRuncMadeAboveTheContainerGo(t *testing.T) {
	// runc 1.1 makes /tsemlab and /tsemlab/tsemlab in each hierarchy and
	// deletes only the latter; a phase that finds /tsemlab left by the
	// one before gets events its model never saw (seen on a TSEM kernel).
	o, f, _ := imageOrchestrator(t, protocol.ModeContainer)
	cg := o.img.layout.Cgroup
	for _, d := range []string{filepath.Join(cg, "tsemlab"), filepath.Join(cg, "devices", "tsemlab"), filepath.Join(cg, "devices", "other")} {
		require.NoError(t, os.MkdirAll(d, 0o755))
	}
	ends := containerPhase(t, o, protocol.Step{Run: "true"})
	require.Len(t, ends, 1)
	assert.NoDirExists(t, filepath.Join(cg, "tsemlab"))
	assert.NoDirExists(t, filepath.Join(cg, "devices", "tsemlab"))
	assert.DirExists(t, filepath.Join(cg, "devices", "other"), "only the container's own path is removed")
	assertGone(t, o, f)
}

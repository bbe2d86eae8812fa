package runner

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tsemlab/tsemlab/harness/boot"
	"github.com/tsemlab/tsemlab/harness/result"
	"github.com/tsemlab/tsemlab/harness/scenario"
)

// leaveTraces leaves a file, a mount and a process behind, and checks
// they are there.
const leaveTraces = `
name: leave-traces
phases:
  - name: p
    steps:
      - run: echo left > /tmp/tsemlab-marker && echo left > /tsemlab-marker
      - run: mkdir -p /mnt/tsemlab && mount -t tmpfs tsemlab-mark /mnt/tsemlab
      - run: bash -c 'while :; do sleep 100; done; echo tsemlab-leftover' </dev/null >/dev/null 2>&1 &
      - run: grep -l 'tsemlab-leftove[r]' /proc/[0-9]*/cmdline; grep 'tsemlab-mar[k]' /proc/mounts; cat /tmp/tsemlab-marker
        expect: {stdout_contains: [/cmdline, tsemlab-mark /mnt/tsemlab tmpfs, left]}
`

// seesNone checks that none of it is there (u-root's grep exits 0
// whether it finds something or not: its output tells).
const seesNone = `
name: sees-none
phases:
  - name: p
    steps:
      - run: test ! -e /tmp/tsemlab-marker && test ! -e /tsemlab-marker
      - run: test -z "$(grep -l 'tsemlab-leftove[r]' /proc/[0-9]*/cmdline)"
      - run: test -z "$(grep 'tsemlab-mar[k]' /proc/mounts)"
      - run: printf '%(%s)T' -1
`

func restored(t *testing.T, sc *result.Scenario) {
	t.Helper()
	assert.True(t, strings.HasPrefix(sc.Env.Boot, "restored snapshot "), "%s: %s", sc.Name, sc.Env.Boot)
}

// Every scenario restores the same snapshot in a VM of its own: what one
// left behind (files, mounts, processes) is not there for the next.
func TestRun_Snapshot_NothingOfAScenarioReachesTheNext(t *testing.T) {
	l := prepare(t, "")
	run := runScenarios(t, l, scenarioFile(t, "a", leaveTraces), scenarioFile(t, "b", seesNone))
	for _, sc := range run.Scenarios {
		require.Equal(t, result.Pass, sc.Status, "%s: %s\n%s", sc.Name, sc.Reason, sc.ConsoleTail)
		restored(t, sc)
	}
	// The clock is the host's, not the snapshot's (made hours ago, maybe).
	steps := run.Scenarios[1].Phases[0].Steps
	guestNow, err := strconv.ParseInt(steps[len(steps)-1].Stdout, 10, 64)
	require.NoError(t, err)
	assert.InDelta(t, time.Now().Unix(), guestNow, 120, "guest clock")
	// The second VM was restored while the first scenario ran.
	assert.Equal(t, run.Scenarios[0].Env.Boot+" (readied ahead)", run.Scenarios[1].Env.Boot, "one snapshot")
	log, err := os.ReadFile(filepath.Join(run.Scenarios[1].Dir, "console.log"))
	require.NoError(t, err)
	assert.Contains(t, string(log), "[tsemlab] restored from snapshot")
}

// Several VMs restore one snapshot at once.
func TestRun_Snapshot_ParallelRestores(t *testing.T) {
	l := prepare(t, "")
	too := strings.Replace(seesNone, "name: sees-none", "name: sees-none-too", 1)
	all, err := scenario.LoadAll(t.Context(), []string{"../../scenarios/caps-chown.yaml", scenarioFile(t, "b", seesNone), scenarioFile(t, "c", too)})
	require.NoError(t, err)
	c := labConfig(l, t.TempDir())
	c.Jobs = 3
	run := Run(context.Background(), c, all)
	for _, sc := range run.Scenarios {
		assert.Equal(t, result.Pass, sc.Status, "%s: %s\n%s", sc.Name, sc.Reason, sc.ConsoleTail)
		restored(t, sc)
	}
}

// A snapshot that does not load (here: its state file is garbage) makes
// the scenario boot cold, saying why.
func TestRun_Snapshot_FailedRestoreBootsColdAndSaysWhy(t *testing.T) {
	l := prepare(t, "")
	c := labConfig(l, t.TempDir())
	spec := boot.Spec{QEMU: c.QEMU, Kernel: c.Kernel.Path, Image: c.Image, Accel: c.Accel.Accel, KernelSHA256: c.Kernel.SHA256, QEMUVersion: c.QEMUVersion}
	good, err := snapshots.Get(context.Background(), spec)
	require.NoError(t, err)
	bad := &boot.Snapshots{Dir: t.TempDir()}
	dir := filepath.Join(bad.Dir, good.Meta.Key)
	require.NoError(t, os.Mkdir(dir, 0o755))
	for _, f := range []string{"ram", "initrd.cpio", "meta.json", "console.log"} {
		require.NoError(t, os.Link(filepath.Join(good.Dir, f), filepath.Join(dir, f)))
	}
	require.NoError(t, os.WriteFile(filepath.Join(dir, "state"), []byte("not a migration stream"), 0o644))
	c.Snapshots = bad

	all, err := scenario.LoadAll(t.Context(), []string{"../../scenarios/caps-chown.yaml"})
	require.NoError(t, err)
	run := Run(context.Background(), c, all)
	sc := run.Scenarios[0]
	require.Equal(t, result.Pass, sc.Status, "%s\n%s", sc.Reason, sc.ConsoleTail)
	assert.True(t, strings.HasPrefix(sc.Env.Boot, "cold boot: restore snapshot "+good.Meta.Key+": "), sc.Env.Boot)
	data, err := os.ReadFile(filepath.Join(sc.Dir, "result.json"))
	require.NoError(t, err)
	var saved result.Scenario
	require.NoError(t, json.Unmarshal(data, &saved))
	assert.Equal(t, sc.Env.Boot, saved.Env.Boot, "result.json records it")
}

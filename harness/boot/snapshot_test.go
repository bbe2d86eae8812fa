package boot

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tsemlab/tsemlab/harness/image"
	"github.com/tsemlab/tsemlab/harness/qemu"
	"github.com/tsemlab/tsemlab/internal/testutil"
	"github.com/tsemlab/tsemlab/protocol"
)

func keySpec() Spec {
	return Spec{
		QEMU: "qemu-system-x86_64", Kernel: "/cache/vmlinuz", Image: &image.Image{Path: "/cache/base.cpio", SHA256: "1111"},
		Accel: qemu.TCG, Dir: "/tmp/tsemlab-run-1", KernelSHA256: "abcd", QEMUVersion: "QEMU emulator version 7.2.22",
	}
}

func key(t *testing.T, s Spec) string {
	t.Helper()
	k, err := s.SnapshotKey()
	require.NoError(t, err)
	require.Len(t, k, 16)
	return k
}

func TestSnapshotKey_SameMachineSameKeyWhateverThePlanAndSockets(t *testing.T) {
	base := key(t, keySpec())
	s := keySpec()
	s.Dir = "/tmp/tsemlab-run-2"
	s.Plan = protocol.Plan{Version: protocol.Version, Scenario: "other", Phases: []protocol.Phase{{Name: "p"}}}
	s.ConsoleLog = &bytes.Buffer{}
	s.ConsoleLines = 7
	s.RestoreLimit = time.Second
	assert.Equal(t, base, key(t, s))
}

func TestSnapshotKey_EverythingTheMachineIsMadeOfChangesIt(t *testing.T) {
	base := key(t, keySpec())
	changes := map[string]func(*Spec){
		"kernel":      func(s *Spec) { s.KernelSHA256 = "ef01" },
		"image":       func(s *Spec) { s.Image = &image.Image{Path: "/cache/base.cpio", SHA256: "2222"} },
		"qemu":        func(s *Spec) { s.QEMUVersion = "QEMU emulator version 8.2.0" },
		"accelerator": func(s *Spec) { s.Accel = qemu.KVM },
		"memory":      func(s *Spec) { s.MemoryMiB = 2048 },
		"kernel args": func(s *Spec) { s.Append = []string{"tsem_mode=1"} },
		"qemu binary": func(s *Spec) { s.QEMU = "/opt/qemu/bin/qemu-system-x86_64" },
	}
	seen := map[string]string{base: "base"}
	for what, change := range changes {
		s := keySpec()
		change(&s)
		k := key(t, s)
		assert.NotContains(t, seen, k, "%s does not change the key (same as %s)", what, seen[k])
		seen[k] = what
	}
}

func TestRestoreConfig_PinsTheRestoreCommandLine(t *testing.T) {
	cfg, err := keySpec().restoreConfig("/cache/snapshots/0123456789abcdef")
	require.NoError(t, err)
	testutil.Golden(t, filepath.Join("testdata", "restore-cmdline.golden"), []byte(strings.Join(cfg.Cmdline(), "\n")+"\n"))
}

// writeSnapshot lays out a complete snapshot of key in dir/key.
func writeSnapshot(t *testing.T, dir, key string, created time.Time) *Snapshot {
	t.Helper()
	snap := &Snapshot{Dir: filepath.Join(dir, key), Meta: SnapshotMeta{Key: key, Created: created}}
	require.NoError(t, os.MkdirAll(snap.Dir, 0o755))
	for _, f := range []string{snap.State(), snap.RAM(), snap.Initrd()} {
		require.NoError(t, os.WriteFile(f, []byte("x"), 0o644))
	}
	require.NoError(t, writeJSONFile(filepath.Join(snap.Dir, "meta.json"), snap.Meta))
	require.NoError(t, os.Chtimes(snap.Dir, created, created))
	return snap
}

func TestOpenSnapshot_OnlyAWholeOneOfItsKey(t *testing.T) {
	dir := t.TempDir()
	writeSnapshot(t, dir, "k1", time.Now())
	snap, err := openSnapshot(filepath.Join(dir, "k1"), "k1")
	require.NoError(t, err)
	assert.Equal(t, "k1", snap.Meta.Key)

	_, err = openSnapshot(filepath.Join(dir, "k1"), "k2")
	assert.ErrorContains(t, err, "is keyed k1")
	require.NoError(t, os.Remove(snap.State()))
	_, err = openSnapshot(filepath.Join(dir, "k1"), "k1")
	assert.ErrorContains(t, err, "state")
	_, err = openSnapshot(filepath.Join(dir, "none"), "none")
	assert.Error(t, err)
}

func TestPrune_KeepsTheNewestAndTheOneJustMade(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	for i, k := range []string{"a", "b", "c", "d"} {
		writeSnapshot(t, dir, k, now.Add(-time.Duration(i+1)*time.Hour))
	}
	writeSnapshot(t, dir, "old-but-current", now.Add(-10*time.Hour))
	unfinished := filepath.Join(dir, ".e-123")
	require.NoError(t, os.Mkdir(unfinished, 0o755))
	require.NoError(t, os.Chtimes(unfinished, now.Add(-2*time.Hour), now.Add(-2*time.Hour)))
	recent := filepath.Join(dir, ".f-456")
	require.NoError(t, os.Mkdir(recent, 0o755))

	(&Snapshots{Dir: dir, Keep: 3}).prune("old-but-current")
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	var left []string
	for _, e := range entries {
		left = append(left, e.Name())
	}
	assert.ElementsMatch(t, []string{"a", "b", "old-but-current", ".f-456"}, left)
}

// Pruning goes by last use: a snapshot made long ago but restored just now
// stays, and the lock files of pruned snapshots (and of snapshots long
// gone) go with them.
func TestPrune_KeepsTheSnapshotsUsedLast(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	for i, k := range []string{"new", "newer", "oldest"} {
		writeSnapshot(t, dir, k, now.Add(-time.Duration(i+1)*time.Hour))
		require.NoError(t, os.WriteFile(filepath.Join(dir, k+".lock"), nil, 0o644))
	}
	require.NoError(t, os.Chtimes(filepath.Join(dir, "oldest"), now.Add(-9*time.Hour), now.Add(-9*time.Hour)))
	gone := filepath.Join(dir, "gone.lock")
	require.NoError(t, os.WriteFile(gone, nil, 0o644))
	require.NoError(t, os.Chtimes(gone, now.Add(-2*time.Hour), now.Add(-2*time.Hour)))
	c := &Snapshots{Dir: dir, Keep: 3}

	// Get marks a snapshot it opens used (touch), as a restore of
	// "oldest" does here.
	touch(filepath.Join(dir, "oldest"))
	writeSnapshot(t, dir, "just-made", now)
	c.prune("just-made")

	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	var left []string
	for _, e := range entries {
		left = append(left, e.Name())
	}
	assert.ElementsMatch(t, []string{"just-made", "oldest", "oldest.lock", "new", "new.lock"}, left)
}

func TestLaterWriter_HoldsUntilToldWhereWithinTheBound(t *testing.T) {
	l := &laterWriter{}
	_, _ = l.Write([]byte("early "))
	var got bytes.Buffer
	l.set(&got)
	_, _ = l.Write([]byte("late"))
	assert.Equal(t, "early late", got.String())

	l = &laterWriter{}
	n, err := l.Write(bytes.Repeat([]byte("x"), maxHeld+10))
	require.NoError(t, err)
	assert.Equal(t, maxHeld+10, n, "a console never blocks QEMU")
	got.Reset()
	l.set(&got)
	assert.Equal(t, maxHeld, got.Len())
}

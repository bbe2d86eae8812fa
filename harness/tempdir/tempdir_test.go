package tempdir

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// tmp points os.TempDir() at a fresh directory for the test.
func tmp(t *testing.T) string {
	t.Helper()
	d := t.TempDir()
	t.Setenv("TMPDIR", d)
	return d
}

// deadPID is the PID of a process that has exited.
func deadPID(t *testing.T) int {
	t.Helper()
	cmd := exec.Command("true")
	require.NoError(t, cmd.Run())
	return cmd.Process.Pid
}

// leftover makes a tsemlab-* directory as a run would have left it, with
// the given owner file content ("" for none), last changed age ago.
func leftover(t *testing.T, root, name, owner string, age time.Duration) string {
	t.Helper()
	d := filepath.Join(root, Prefix+name)
	require.NoError(t, os.MkdirAll(filepath.Join(d, "sub"), 0o700))
	require.NoError(t, os.WriteFile(filepath.Join(d, "sub", "initrd.cpio"), []byte("x"), 0o600))
	if owner != "" {
		require.NoError(t, os.WriteFile(filepath.Join(d, OwnerFile), []byte(owner), 0o600))
	}
	when := time.Now().Add(-age)
	require.NoError(t, os.Chtimes(d, when, when))
	return d
}

func TestNew_RecordsThisProcessAsOwner(t *testing.T) {
	root := tmp(t)
	d, err := New("caps-chown")
	require.NoError(t, err)
	assert.Equal(t, root, filepath.Dir(d))
	assert.Regexp(t, `^tsemlab-caps-chown-\d+$`, filepath.Base(d))
	st, err := os.Stat(d)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o700), st.Mode().Perm())
	pid, start, err := readOwner(filepath.Join(d, OwnerFile))
	require.NoError(t, err)
	assert.Equal(t, os.Getpid(), pid)
	assert.NotZero(t, start)
	assert.True(t, running(pid, start))
}

func TestSweep_RemovesOnlyOldDirectoriesOfDeadOwners(t *testing.T) {
	root := tmp(t)
	self := fmt.Sprintf("%d %d\n", os.Getpid(), startTime(os.Getpid()))
	dead := fmt.Sprintf("%d %d\n", deadPID(t), 12345)
	reused := fmt.Sprintf("%d %d\n", os.Getpid(), startTime(os.Getpid())+1)

	gone := []string{
		leftover(t, root, "killed-run", dead, 2*time.Hour),
		leftover(t, root, "pid-reused", reused, 2*time.Hour),
	}
	kept := []string{
		leftover(t, root, "live-owner", self, 2*time.Hour),
		leftover(t, root, "dead-but-young", dead, time.Minute),
		leftover(t, root, "no-owner-file", "", 2*time.Hour),
		leftover(t, root, "garbled-owner", "not a pid\n", 2*time.Hour),
	}
	other := filepath.Join(root, "other-dead", OwnerFile)
	require.NoError(t, os.MkdirAll(filepath.Dir(other), 0o700))
	require.NoError(t, os.WriteFile(other, []byte(dead), 0o600))
	old := time.Now().Add(-2 * time.Hour)
	require.NoError(t, os.Chtimes(filepath.Dir(other), old, old))
	kept = append(kept, filepath.Dir(other))

	// A symbolic link named like ours, to a directory that looks stale,
	// is not followed.
	target := leftover(t, t.TempDir(), "elsewhere", dead, 2*time.Hour)
	link := filepath.Join(root, Prefix+"link")
	require.NoError(t, os.Symlink(target, link))

	var logs bytes.Buffer
	Sweep(slog.New(slog.NewTextHandler(&logs, nil)))
	for _, d := range gone {
		assert.NoDirExists(t, d)
		assert.Contains(t, logs.String(), d)
	}
	for _, d := range kept {
		assert.DirExists(t, d)
	}
	assert.DirExists(t, target)
	_, err := os.Lstat(link)
	assert.NoError(t, err, "the link itself is left alone")
}

func TestReadOwner_RefusesLinksAndFIFOs(t *testing.T) {
	d := t.TempDir()
	real := filepath.Join(d, "real")
	require.NoError(t, os.WriteFile(real, []byte("1 1\n"), 0o600))
	link := filepath.Join(d, "link")
	require.NoError(t, os.Symlink(real, link))
	_, _, err := readOwner(link)
	assert.Error(t, err)

	fifo := filepath.Join(d, "fifo")
	require.NoError(t, syscall.Mkfifo(fifo, 0o600))
	done := make(chan error, 1)
	go func() { _, _, err := readOwner(fifo); done <- err }()
	select {
	case err := <-done:
		assert.Error(t, err)
	case <-time.After(5 * time.Second):
		t.Fatal("readOwner blocked on a FIFO")
	}
}

func TestParseStartTime_CountsFieldsAfterTheCommandName(t *testing.T) {
	tail := " S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 987654 20 21\n"
	for in, want := range map[string]uint64{
		"42 (tsemlab)" + tail:   987654,
		"42 (a) b (c d)" + tail: 987654,
		"42 (tsemlab) S 1 2 3":  0,
		"no parenthesis at all": 0,
		"42 (x) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 zz": 0,
	} {
		assert.Equal(t, want, parseStartTime([]byte(in)), in)
	}
	assert.NotZero(t, startTime(os.Getpid()))
	assert.Zero(t, startTime(deadPID(t)))
}

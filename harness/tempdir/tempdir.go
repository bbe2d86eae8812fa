// Package tempdir creates tsemlab's temporary directories and removes the
// ones a killed tsemlab left behind.
//
// A run removes its own temporary directories on every exit it sees, but
// not when it is killed (SIGKILL, the OOM killer, a lost CI machine), and
// each one holds a copy of the guest image. So every directory New makes
// records its owner in a file, owner.pid: the creating process's PID and
// its start time from /proc/PID/stat, which together name one process for
// the life of the system (a PID alone is reused). Sweep, which `tsemlab
// run` calls at start, removes the directories whose owner is gone.
package tempdir

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

const (
	// Prefix starts the name of every directory New makes.
	Prefix = "tsemlab-"
	// OwnerFile, inside each directory, holds "PID STARTTIME\n".
	OwnerFile = "owner.pid"
	// MaxAge is how long Sweep leaves a directory alone whatever its
	// owner file says, so that nothing just created is ever swept.
	MaxAge = time.Hour
)

// New creates a directory named tsemlab-NAME-RANDOM in os.TempDir(), mode
// 0700, with its owner file, and returns its path. The caller removes it.
func New(name string) (string, error) {
	dir, err := os.MkdirTemp("", Prefix+name+"-")
	if err != nil {
		return "", err
	}
	owner := fmt.Sprintf("%d %d\n", os.Getpid(), startTime(os.Getpid()))
	if err := os.WriteFile(filepath.Join(dir, OwnerFile), []byte(owner), 0o600); err != nil {
		os.RemoveAll(dir)
		return "", fmt.Errorf("temporary directory: %w", err)
	}
	return dir, nil
}

// Sweep removes from os.TempDir() every tsemlab-* directory of this user
// that is older than MaxAge and whose owner file names a process that is
// gone. It never follows symbolic links and leaves alone what it cannot
// judge: directories without an owner file, of other users, or unreadable.
// What it removes and what it fails to remove is logged.
func Sweep(log *slog.Logger) {
	root := os.TempDir()
	entries, err := os.ReadDir(root)
	if err != nil {
		log.Debug("cannot sweep stale temporary directories", "dir", root, "err", err)
		return
	}
	cutoff := time.Now().Add(-MaxAge)
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), Prefix) || !e.IsDir() {
			continue // e.IsDir is false for a symbolic link
		}
		dir := filepath.Join(root, e.Name())
		if !stale(dir, cutoff) {
			continue
		}
		if err := os.RemoveAll(dir); err != nil {
			log.Warn("cannot remove a killed tsemlab's temporary directory", "dir", dir, "err", err)
			continue
		}
		log.Info("removed a killed tsemlab's temporary directory", "dir", dir)
	}
}

// stale reports whether dir is this user's, older than cutoff, and owned
// by a process that no longer runs.
func stale(dir string, cutoff time.Time) bool {
	st, err := os.Lstat(dir)
	if err != nil || !st.IsDir() || !st.ModTime().Before(cutoff) {
		return false
	}
	if sys, ok := st.Sys().(*syscall.Stat_t); !ok || int(sys.Uid) != os.Getuid() {
		return false
	}
	pid, start, err := readOwner(filepath.Join(dir, OwnerFile))
	if err != nil {
		return false
	}
	return !running(pid, start)
}

// readOwner reads an owner file without following a link or blocking on a
// FIFO planted in its place.
func readOwner(path string) (pid int, start uint64, err error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() {
		return 0, 0, errors.New("not a regular file")
	}
	b, err := io.ReadAll(io.LimitReader(f, 64))
	if err != nil {
		return 0, 0, err
	}
	fields := strings.Fields(string(b))
	if len(fields) != 2 {
		return 0, 0, fmt.Errorf("%s: want \"PID STARTTIME\", got %q", path, b)
	}
	pid, err = strconv.Atoi(fields[0])
	if err != nil || pid <= 0 {
		return 0, 0, fmt.Errorf("%s: bad PID %q", path, fields[0])
	}
	start, err = strconv.ParseUint(fields[1], 10, 64)
	if err != nil {
		return 0, 0, fmt.Errorf("%s: bad start time %q", path, fields[1])
	}
	return pid, start, nil
}

// running reports whether process pid exists and started at start. When
// either start time is unknown (0), any process with that PID counts.
func running(pid int, start uint64) bool {
	if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); err != nil {
		return false
	}
	now := startTime(pid)
	return start == 0 || now == 0 || now == start
}

// startTime is field 22 of /proc/PID/stat: when the process started, in
// clock ticks after boot; 0 when it cannot be read.
func startTime(pid int) uint64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	return parseStartTime(b)
}

// parseStartTime reads field 22 of a /proc/PID/stat line; 0 if it has none.
func parseStartTime(b []byte) uint64 {
	// The command name (field 2) is in parentheses and may hold spaces
	// and parentheses itself: count fields after the last ')'.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0
	}
	fields := strings.Fields(string(b[i+1:]))
	const startField = 22 - 3 // fields after the name start at field 3
	if len(fields) <= startField {
		return 0
	}
	v, _ := strconv.ParseUint(fields[startField], 10, 64)
	return v
}

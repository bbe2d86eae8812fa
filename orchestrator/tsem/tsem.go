// Package tsem drives the TSEM security module through securityfs, from
// inside the guest: it detects TSEM, writes control commands (create a
// modeling namespace, load a model, enforce, seal) and reads a namespace's
// model files.
//
// All paths are relative to a root directory, DefaultRoot on a real
// system, so tests can point the package at a temporary directory laid out
// like securityfs:
//
//	<root>/lsm                         comma list of active LSMs
//	<root>/tsem/control                write-only command channel
//	<root>/tsem/id                     the reader's namespace id
//	<root>/tsem/aggregate              hardware aggregate (zeros without a TPM)
//	<root>/tsem/internal_tma/model0/   measurement, state, trajectory, ...
//
// The package uses raw file descriptors (golang.org/x/sys/unix) rather than
// os.File: os.Open sets O_NONBLOCK with fcntl(2) and registers the
// descriptor with epoll, and in a sealed, enforcing namespace every such
// call is a security event of its own.
package tsem

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/tsemlab/tsemlab/protocol"
	"golang.org/x/sys/unix"
)

// DefaultRoot is where securityfs is mounted.
const DefaultRoot = protocol.SecurityFS

// ErrNotTSEMKernel means the running kernel has no active TSEM.
var ErrNotTSEMKernel = errors.New("kernel has no active TSEM (boot a TSEM kernel with tsem in CONFIG_LSM or lsm=)")

// Info describes the TSEM of the running kernel.
type Info struct {
	// Root is the securityfs root the information was read from.
	Root string
	// LSMs are the active security modules, in order.
	LSMs []string
	// Model0 is true when internal_tma/model0 exists (internal modeling).
	Model0 bool
	// ExternalTMA is true when external_tma exists.
	ExternalTMA bool
}

// Detect reads <root>/lsm and checks for the tsem directory. It returns an
// error wrapping ErrNotTSEMKernel when tsem is not an active LSM or its
// directory is missing. An empty root means DefaultRoot.
func Detect(root string) (Info, error) {
	if root == "" {
		root = DefaultRoot
	}
	info := Info{Root: root}
	data, err := readFile(filepath.Join(root, "lsm"))
	if err != nil {
		return info, fmt.Errorf("detect TSEM: %w (is securityfs mounted on %s?)", err, root)
	}
	for _, l := range strings.Split(strings.TrimSpace(string(data)), ",") {
		if l = strings.TrimSpace(l); l != "" {
			info.LSMs = append(info.LSMs, l)
		}
	}
	active := false
	for _, l := range info.LSMs {
		if l == "tsem" {
			active = true
		}
	}
	if !active {
		return info, fmt.Errorf("detect TSEM: active LSMs are %q: %w", strings.Join(info.LSMs, ","), ErrNotTSEMKernel)
	}
	dir := filepath.Join(root, "tsem")
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return info, fmt.Errorf("detect TSEM: tsem is an active LSM but %s is missing: %w", dir, ErrNotTSEMKernel)
	}
	info.Model0 = isDir(filepath.Join(dir, "internal_tma", "model0"))
	info.ExternalTMA = isDir(filepath.Join(dir, "external_tma"))
	return info, nil
}

func isDir(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}

// FS reads and writes the tsem directory of one securityfs root.
type FS struct {
	// Root is the securityfs root; "" means DefaultRoot.
	Root string
}

func (fs FS) path(elem ...string) string {
	root := fs.Root
	if root == "" {
		root = DefaultRoot
	}
	return filepath.Join(append([]string{root, "tsem"}, elem...)...)
}

// ID returns the id of the caller's modeling namespace (0 is the root
// namespace). The kernel refuses to open the file once the caller's
// namespace is sealed, so read it before sealing.
func (fs FS) ID() (uint64, error) {
	data, err := readFile(fs.path("id"))
	if err != nil {
		return 0, fmt.Errorf("read namespace id: %w", err)
	}
	id, err := strconv.ParseUint(strings.TrimSpace(string(data)), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("read namespace id: %w", err)
	}
	return id, nil
}

// Aggregate returns the hardware aggregate in hex (all zeros without a TPM).
func (fs FS) Aggregate() (string, error) {
	data, err := readFile(fs.path("aggregate"))
	if err != nil {
		return "", fmt.Errorf("read aggregate: %w", err)
	}
	v, err := ParseHex(data)
	if err != nil {
		return "", fmt.Errorf("read aggregate: %w", err)
	}
	return v, nil
}

// OpenControl opens the control file for writing.
func (fs FS) OpenControl() (*Control, error) { return OpenControl(fs.path("control")) }

// OpenModel0 opens the eight model0 files (see OpenModel0).
func (fs FS) OpenModel0() (*Model0, error) { return OpenModel0(fs.path("internal_tma", "model0")) }

// readFile reads a small file with open(2), read(2) and close(2) only.
func readFile(path string) ([]byte, error) {
	fd, err := openRead(path)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	data, err := readAll(fd)
	if err != nil {
		return nil, &os.PathError{Op: "read", Path: path, Err: err}
	}
	return data, nil
}

func openRead(path string) (int, error) {
	for {
		fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return -1, &os.PathError{Op: "open", Path: path, Err: err}
		}
		return fd, nil
	}
}

// readAll reads from fd's current offset to end of file with read(2).
func readAll(fd int) ([]byte, error) {
	var out []byte
	buf := make([]byte, 64*1024)
	for {
		n, err := unix.Read(fd, buf)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return out, err
		}
		if n == 0 {
			return out, nil
		}
		out = append(out, buf[:n]...)
	}
}

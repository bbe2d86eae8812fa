package orchestrator

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tsemlab/tsemlab/protocol"
)

// layout is where a workload image goes in the guest. Every phase uses the
// same paths, so that what TSEM learns in one phase names the same files
// in the next; tests move them to a temporary directory.
type layout struct {
	// Images holds the read-only images, each mounted once per scenario
	// in a directory named after it.
	Images string
	// Phase is a tmpfs made fresh for every phase: the overlay's upper and
	// work directories and the container bundle live on it, so that
	// unmounting it removes all a phase wrote.
	Phase string
	// Root is the phase's root: the overlay of Phase/upper on its image.
	Root string
	// Runc is a tmpfs holding runc's state.
	Runc string
	// Cgroup is the cgroup file system runc puts containers in.
	Cgroup string
	// Proc is the proc file system, to find what still runs in Root.
	Proc string
	// Tools is where the tools drive's programs are copied to.
	Tools string
}

// guestLayout is the layout inside the guest.
var guestLayout = layout{
	Images: "/tsemlab/images",
	Phase:  "/tsemlab/phase",
	Root:   "/tsemlab/root",
	Runc:   "/tsemlab/runc",
	Cgroup: "/sys/fs/cgroup",
	Proc:   "/proc",
	Tools:  protocol.ToolsDir,
}

// imageEnv is the environment of processes in the image's root, before
// the phase's own: the Debian PATH rather than u-root's.
var imageEnv = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root"}

// mount is one mount(2) a workload needs, as data, so that which mounts a
// phase gets is a pure function of the layout.
type mount struct {
	Source, Target, FSType string
	Flags                  uintptr
	Data                   string
	// Mkdirs are made, after the mounts before this one, besides Target.
	Mkdirs []string
}

func (m mount) String() string {
	s := "mount"
	if m.FSType != "" {
		s += " -t " + m.FSType
	}
	var opts []string
	for _, f := range []struct {
		flag uintptr
		name string
	}{{unix.MS_RDONLY, "ro"}, {unix.MS_BIND, "bind"}, {unix.MS_REC, "rec"}, {unix.MS_NOSUID, "nosuid"}, {unix.MS_NODEV, "nodev"}, {unix.MS_NOEXEC, "noexec"}} {
		if m.Flags&f.flag != 0 {
			opts = append(opts, f.name)
		}
	}
	if m.Data != "" {
		opts = append(opts, m.Data)
	}
	if len(opts) > 0 {
		s += " -o " + strings.Join(opts, ",")
	}
	return s + " " + m.Source + " " + m.Target
}

// image is where the image called name is mounted.
func (l layout) image(name string) string { return filepath.Join(l.Images, name) }

// imageMounts mount a drive's image read-only.
func (l layout) imageMounts(d protocol.Drive) []mount {
	fstype := d.FSType
	if fstype == "" {
		fstype = "erofs"
	}
	return []mount{{Source: d.Device, Target: l.image(d.Image), FSType: fstype, Flags: unix.MS_RDONLY}}
}

// overlayMounts give a phase a fresh writable root over its image. The
// overlay has a null UUID (uuid=off): by default a new overlay gets a
// random one (6.6 and later), and TSEM puts a file's s_uuid into its
// events, so every phase's files would differ from the learned ones.
func (l layout) overlayMounts(image string) []mount {
	upper, work := filepath.Join(l.Phase, "upper"), filepath.Join(l.Phase, "work")
	return []mount{
		{Source: "tmpfs", Target: l.Phase, FSType: "tmpfs", Data: "mode=0755"},
		{Source: "overlay", Target: l.Root, FSType: "overlay", Mkdirs: []string{upper, work},
			Data: "lowerdir=" + l.image(image) + ",upperdir=" + upper + ",workdir=" + work + ",uuid=off"},
	}
}

// processMounts are what processes chrooted into the phase's root need:
// /proc, /sys, the guest's /dev (its device nodes) and a /tmp of their own.
func (l layout) processMounts() []mount {
	const safe = unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC
	return []mount{
		{Source: "proc", Target: filepath.Join(l.Root, "proc"), FSType: "proc", Flags: safe},
		{Source: "sysfs", Target: filepath.Join(l.Root, "sys"), FSType: "sysfs", Flags: safe},
		// Not recursive: a bind with submounts (/dev/pts) could only be
		// detached lazily.
		{Source: "/dev", Target: filepath.Join(l.Root, "dev"), Flags: unix.MS_BIND},
		{Source: "tmpfs", Target: filepath.Join(l.Root, "tmp"), FSType: "tmpfs", Flags: unix.MS_NOSUID | unix.MS_NODEV, Data: "mode=1777"},
	}
}

// runcMounts give runc a tmpfs for its state.
func (l layout) runcMounts() []mount {
	return []mount{{Source: "tmpfs", Target: l.Runc, FSType: "tmpfs", Data: "mode=0700"}}
}

// hasController reports whether a file laid out like /proc/cgroups lists
// the cgroup controller name as enabled.
func hasController(cgroups, name string) bool {
	b, _ := os.ReadFile(cgroups)
	for _, line := range strings.Split(string(b), "\n") {
		// subsys_name hierarchy num_cgroups enabled
		if f := strings.Fields(line); len(f) == 4 && f[0] == name && f[3] == "1" {
			return true
		}
	}
	return false
}

// mounter does the mounts; tests record them instead.
type mounter interface {
	mount(m mount) error
	unmount(target string, flags int) error
	mkdirAll(path string) error
}

// sysMounter is the real one.
type sysMounter struct{}

func (sysMounter) mount(m mount) error {
	return unix.Mount(m.Source, m.Target, m.FSType, m.Flags, m.Data)
}

func (sysMounter) unmount(target string, flags int) error { return unix.Unmount(target, flags) }

func (sysMounter) mkdirAll(path string) error { return os.MkdirAll(path, 0o755) }

// mountAll makes each mount in order, pushing its unmount as soon as it
// exists; on an error the mounts already made stay on td for the caller to
// undo.
func mountAll(mt mounter, ms []mount, td *teardown) error {
	for _, m := range ms {
		for _, d := range append(slices.Clone(m.Mkdirs), m.Target) {
			if err := mt.mkdirAll(d); err != nil {
				return fmt.Errorf("%s: %w", m, err)
			}
		}
		if err := mt.mount(m); err != nil {
			return fmt.Errorf("%s: %w", m, err)
		}
		target := m.Target
		td.push("umount "+target, func() error { return unmount(mt, target) })
	}
	return nil
}

// unmount unmounts target, detaching it lazily when something still uses
// it, so that a busy mount never blocks the next phase (which mounts afresh
// on the same path); a lazy detach is still reported.
func unmount(mt mounter, target string) error {
	err := mt.unmount(target, 0)
	if !errors.Is(err, unix.EBUSY) {
		return err
	}
	if derr := mt.unmount(target, unix.MNT_DETACH); derr != nil {
		return fmt.Errorf("%w; lazy detach: %w", err, derr)
	}
	return fmt.Errorf("%s was busy and was detached lazily (something still runs there)", target)
}

// teardown is a stack of undo steps, pushed as each resource comes to
// exist and run in reverse on every exit path; a failing step does not
// stop the ones below it.
type teardown struct {
	steps []undo
}

type undo struct {
	what string
	do   func() error
}

func (t *teardown) push(what string, do func() error) { t.steps = append(t.steps, undo{what, do}) }

// run undoes everything, newest first, and returns every failure.
func (t *teardown) run() error {
	var errs []error
	for i := len(t.steps) - 1; i >= 0; i-- {
		if err := t.steps[i].do(); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", t.steps[i].what, err))
		}
	}
	t.steps = nil
	return errors.Join(errs...)
}

// waitForDevice waits for a block device the kernel is still probing.
func waitForDevice(ctx context.Context, path string, limit time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	for {
		if _, err := os.Stat(path); err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("no %s after %s: the image's disk did not appear (virtio_blk not loaded?)", path, limit)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// rootedPIDs lists the processes whose root directory is root or below it:
// a chrooted phase's steps and whatever they left running.
func rootedPIDs(proc, root string) []int {
	entries, _ := os.ReadDir(proc)
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		dir, err := os.Readlink(filepath.Join(proc, e.Name(), "root"))
		if err == nil && (dir == root || strings.HasPrefix(dir, root+"/")) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// killRooted kills every process rooted in root and waits briefly for
// them to go, so that the phase's mounts are free.
func killRooted(proc, root string) error {
	pids := rootedPIDs(proc, root)
	for _, pid := range pids {
		_ = unix.Kill(pid, unix.SIGKILL)
	}
	for deadline := time.Now().Add(2 * time.Second); len(pids) > 0 && time.Now().Before(deadline); pids = rootedPIDs(proc, root) {
		time.Sleep(20 * time.Millisecond)
	}
	if len(pids) > 0 {
		return fmt.Errorf("processes %v in %s survived SIGKILL", pids, root)
	}
	return nil
}

// loopbackUp brings up the guest's loopback interface, the only network it
// has: HTTP steps reach servers over it.
func loopbackUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("loopback: %w", err)
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return fmt.Errorf("loopback: %w", err)
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return fmt.Errorf("loopback: get flags: %w", err)
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		return fmt.Errorf("loopback: bring lo up: %w", err)
	}
	return nil
}

// filesystems lists the file system types the kernel has, from a file
// laid out like /proc/filesystems ("nodev\ttmpfs"); nil when unreadable.
func filesystems(path string) []string {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 0 {
			out = append(out, f[len(f)-1])
		}
	}
	return out
}

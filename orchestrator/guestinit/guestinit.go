// Package guestinit is the test VM's init (pid 1): it mounts what the
// guest needs, starts the orchestrator with the console as its controlling
// terminal, reaps the processes orphaned to it while the orchestrator
// runs, and ends the VM should the orchestrator stop without doing so.
//
// It replaces u-root's init (the image still holds u-root's commands in
// /bbin): under TCG on a tinyconfig TSEM kernel, u-root's init took 0.73 s
// from the kernel starting /init to the orchestrator's start (its busybox
// binary's Go start, the banner, a module scan, netlink, mounting cgroup v1
// controllers the kernel lacks, each failure logged to the serial console).
// With this init it is 0.45 s: its own Go start 0.16 s (a one-line Go init
// takes 0.14 s), its mounts 0.06 s, the orchestrator's exec and start the
// rest. It imports nothing beyond the standard library and
// golang.org/x/sys/unix to stay that small: every package a Go program
// links runs its initializers at start, and under TCG that is time.
package guestinit

import (
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Orchestrator is the program init starts.
const Orchestrator = "/bin/tsemlab-guest"

// The environment init gives the orchestrator says when init's main
// started and when its setup was done (guest uptime in nanoseconds), so the
// hello can say where boot time went.
const (
	EnvMain  = "TSEMLAB_INIT_MAIN"
	EnvReady = "TSEMLAB_INIT_READY"
)

// Path is the orchestrator's PATH (u-root's, less its Go toolchain
// directories): host programs in /bin come before u-root's in /bbin.
const Path = "/usr/sbin:/usr/bin:/sbin:/bin:/usr/local/bin:/usr/local/sbin:/bbin"

// consoleLevel is the console log level init sets, as u-root's init did:
// the kernel's warnings (WARN_ON splats among them) reach the console log,
// where the host looks for kernel crashes, while the command line's quiet
// keeps the boot itself silent.
const consoleLevel = 5

// Main is init's main. It returns only if it cannot end the VM.
func Main() {
	started := Uptime()
	ignoreSignals()
	for _, err := range Setup() {
		// Only what the orchestrator needs is reported; optional mounts
		// the kernel lacks are not errors.
		fmt.Fprintf(os.Stderr, "tsemlab-init: %v\n", err)
	}
	env := append(Env(), EnvMain+"="+strconv.FormatInt(int64(started), 10), EnvReady+"="+strconv.FormatInt(int64(Uptime()), 10))
	pid, err := start(Orchestrator, env)
	if err != nil {
		fmt.Fprintf(os.Stderr, "tsemlab-init: start %s: %v\n", Orchestrator, err)
		end()
		return
	}
	status := reapUntil(pid)
	fmt.Fprintf(os.Stderr, "tsemlab-init: %s %s without ending the VM; ending it\n", Orchestrator, Describe(status))
	end()
}

// ignoreSignals keeps init alive when a step signals pid 1 (kill 1): the
// kernel delivers to init only the signals it handles, and the Go runtime
// handles SIGTERM and the like by exiting, which would panic the kernel
// ("Attempted to kill init"). They are caught and dropped, not set to
// SIG_IGN, which the orchestrator and every step would inherit.
func ignoreSignals() {
	c := make(chan os.Signal, 8)
	signal.Notify(c, unix.SIGTERM, unix.SIGINT, unix.SIGHUP, unix.SIGQUIT, unix.SIGUSR1, unix.SIGUSR2, unix.SIGPIPE)
	go func() {
		for range c {
		}
	}()
}

// Env is the environment init starts the orchestrator with.
func Env() []string {
	return []string{"PATH=" + Path, "HOME=/", "USER=root", "TERM=linux"}
}

// start starts path as a session leader whose controlling terminal is the
// console (init's fd 0, 1 and 2, opened by the kernel).
func start(path string, env []string) (int, error) {
	attr := &os.ProcAttr{
		Env:   env,
		Files: []*os.File{os.Stdin, os.Stdout, os.Stderr},
		Sys:   &unix.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0},
	}
	p, err := os.StartProcess(path, []string{path}, attr)
	if err != nil {
		return 0, err
	}
	pid := p.Pid
	// init waits with wait4(-1), which reaps orphans too; the Process is
	// not waited on.
	_ = p.Release()
	return pid, nil
}

// reapUntil reaps every child until pid ends, and returns pid's status.
func reapUntil(pid int) unix.WaitStatus {
	for {
		var ws unix.WaitStatus
		p, err := unix.Wait4(-1, &ws, 0, nil)
		switch {
		case err == unix.EINTR:
			continue
		case err != nil:
			// No children left: pid ended unseen, which cannot happen.
			return ws
		case p == pid:
			return ws
		}
	}
}

// Describe says how a process ended.
func Describe(ws unix.WaitStatus) string {
	switch {
	case ws.Exited():
		return fmt.Sprintf("exited with status %d", ws.ExitStatus())
	case ws.Signaled():
		return fmt.Sprintf("was killed by signal %d (%s)", int(ws.Signal()), unix.SignalName(ws.Signal()))
	}
	return fmt.Sprintf("ended (wait status %#x)", uint32(ws))
}

// end ends the VM (QEMU runs with -no-reboot: a restart ends it).
func end() {
	unix.Sync()
	_ = unix.Reboot(unix.LINUX_REBOOT_CMD_RESTART)
	// Without CAP_SYS_BOOT the host's timeout ends the VM.
	for {
		time.Sleep(time.Hour)
	}
}

// Uptime is the guest's CLOCK_BOOTTIME.
func Uptime() time.Duration {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts); err != nil {
		return 0
	}
	return time.Duration(ts.Nano())
}

// Setup mounts the file systems the guest uses, brings the loopback
// interface up and sets the console log level. It returns the errors that
// matter; each step is tried whatever failed before.
func Setup() []error {
	old := unix.Umask(0)
	defer unix.Umask(old)
	var errs []error
	for _, m := range Mounts {
		if err := m.apply(); err != nil && !m.Optional {
			errs = append(errs, err)
		}
	}
	cgroups, err := os.ReadFile("/proc/cgroups")
	if err == nil {
		for _, m := range CgroupMounts(string(cgroups)) {
			if err := m.apply(); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if err := loopbackUp(); err != nil {
		errs = append(errs, fmt.Errorf("loopback: %w", err))
	}
	if _, _, e := unix.Syscall(unix.SYS_SYSLOG, unix.SYSLOG_ACTION_CONSOLE_LEVEL, 0, consoleLevel); e != 0 {
		errs = append(errs, fmt.Errorf("console log level: %w", e))
	}
	return errs
}

// Mount is one step of the guest's file system set-up: a mount (with its
// mount point made first), or a symbolic link when Link is set.
type Mount struct {
	Source, Target, FSType, Data string
	// Mode is the mount point's mode should it need making.
	Mode os.FileMode
	// Link makes Target a symbolic link to Link instead.
	Link string
	// Optional steps fail quietly: the kernel may lack the file system.
	Optional bool
}

func (m Mount) apply() error {
	if m.Link != "" {
		_ = os.Remove(m.Target)
		if err := os.Symlink(m.Link, m.Target); err != nil {
			return fmt.Errorf("link %s -> %s: %w", m.Target, m.Link, err)
		}
		return nil
	}
	if err := os.MkdirAll(m.Target, m.Mode); err != nil {
		return fmt.Errorf("mount %s on %s: %w", m.FSType, m.Target, err)
	}
	if err := unix.Mount(m.Source, m.Target, m.FSType, 0, m.Data); err != nil {
		return fmt.Errorf("mount %s on %s: %w", m.FSType, m.Target, err)
	}
	return nil
}

// Mounts are the guest's file systems, in order (u-root's init mounted the
// same, less efivarfs and a copy of /etc; the initramfs root is writable).
var Mounts = []Mount{
	{Source: "devtmpfs", Target: "/dev", FSType: "devtmpfs", Mode: 0o755},
	{Source: "proc", Target: "/proc", FSType: "proc", Mode: 0o555},
	{Source: "tmpfs", Target: "/tmp", FSType: "tmpfs", Mode: 0o777},
	{Source: "devpts", Target: "/dev/pts", FSType: "devpts", Data: "newinstance,ptmxmode=666,gid=5,mode=620", Mode: 0o755},
	// devpts with newinstance needs /dev/ptmx to be its ptmx.
	{Target: "/dev/ptmx", Link: "/dev/pts/ptmx"},
	{Source: "tmpfs", Target: "/dev/shm", FSType: "tmpfs", Mode: 0o777},
	{Source: "sysfs", Target: "/sys", FSType: "sysfs", Mode: 0o555},
	// TSEM's control plane and the LSMs' files.
	{Source: "securityfs", Target: "/sys/kernel/security", FSType: "securityfs", Optional: true},
	{Source: "debugfs", Target: "/sys/kernel/debug", FSType: "debugfs", Optional: true},
	// The cgroup v1 hierarchies go under it (runc needs them; a kernel
	// without cgroups has no /sys/fs/cgroup).
	{Source: "cgroup", Target: "/sys/fs/cgroup", FSType: "tmpfs", Mode: 0o755, Optional: true},
}

// cgroupHierarchies are the cgroup v1 hierarchies, each with the
// controllers it mounts together and the names linked to it, as u-root's
// init laid them out (runc in the guest uses this layout).
var cgroupHierarchies = []struct {
	controllers []string
	links       []string
}{
	{controllers: []string{"memory"}},
	{controllers: []string{"freezer"}},
	{controllers: []string{"devices"}},
	{controllers: []string{"cpu", "cpuacct"}, links: []string{"cpu", "cpuacct"}},
	{controllers: []string{"blkio"}},
	{controllers: []string{"cpuset"}},
	{controllers: []string{"pids"}},
	{controllers: []string{"net_cls", "net_prio"}, links: []string{"net_cls", "net_prio"}},
	{controllers: []string{"hugetlb"}},
	{controllers: []string{"perf_event"}},
}

// CgroupMounts are the mounts of the cgroup v1 hierarchies whose
// controllers the kernel has and enables, from /proc/cgroups. A hierarchy
// the kernel lacks is left out: u-root's init tried them all, and the
// kernel logged each failure to the console.
func CgroupMounts(procCgroups string) []Mount {
	enabled := map[string]bool{}
	for _, line := range strings.Split(procCgroups, "\n") {
		f := strings.Fields(line)
		if len(f) == 4 && !strings.HasPrefix(f[0], "#") && f[3] == "1" {
			enabled[f[0]] = true
		}
	}
	var out []Mount
	for _, h := range cgroupHierarchies {
		ok := true
		for _, c := range h.controllers {
			ok = ok && enabled[c]
		}
		if !ok {
			continue
		}
		name := strings.Join(h.controllers, ",")
		out = append(out, Mount{Source: "cgroup", Target: "/sys/fs/cgroup/" + name, FSType: "cgroup", Data: name, Mode: 0o555})
		for _, l := range h.links {
			out = append(out, Mount{Target: "/sys/fs/cgroup/" + l, Link: "/sys/fs/cgroup/" + name})
		}
	}
	return out
}

// loopbackUp sets lo up, as the kernel leaves it down.
func loopbackUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		if err == unix.EAFNOSUPPORT {
			return nil // no IPv4: nothing to bring up
		}
		return err
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return err
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	return unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr)
}

package orchestrator

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/tsemlab/tsemlab/seccomp"
)

// stepexecFlags is what the stepexec mode does before it execs the step.
type stepexecFlags struct {
	private, proc, nnp bool
	chroot, pivot      string
	drop, add          string
	apparmor, user     string
	seccomp            string
}

// Stepexec is the `stepexec` mode: it prepares the process the
// orchestrator started (in the step's new namespaces, when it asked for
// them) and execs the step. In order: the AppArmor profile for the exec
// (written while /proc is still at hand), private mount propagation, the
// new root (chroot, or pivot_root with the old root unmounted), a /proc
// of the step's PID namespace, the capability bounding set, the user,
// no_new_privs, and last the seccomp filter, so that only the exec itself
// runs under it. The thread is locked: AppArmor's exec attribute,
// no_new_privs and the filter belong to the thread that execs.
func Stepexec(args []string) error {
	runtime.LockOSThread()
	var f stepexecFlags
	fs := flag.NewFlagSet("stepexec", flag.ContinueOnError)
	fs.BoolVar(&f.private, "private", false, "make every mount private (a new mount namespace)")
	fs.BoolVar(&f.proc, "proc", false, "mount a proc of the step's PID namespace on /proc")
	fs.BoolVar(&f.nnp, "nnp", false, "set no_new_privs")
	fs.StringVar(&f.chroot, "chroot", "", "chroot(2) into this directory")
	fs.StringVar(&f.pivot, "pivot", "", "pivot_root(2) into this directory and unmount the old root")
	fs.StringVar(&f.drop, "drop", "", "capabilities to drop, comma-separated, or ALL")
	fs.StringVar(&f.add, "add", "", "capabilities to keep after dropping")
	fs.StringVar(&f.apparmor, "apparmor", "", "AppArmor profile to exec into")
	fs.StringVar(&f.user, "user", "", "UID:GID to run as")
	fs.StringVar(&f.seccomp, "seccomp", "", "seccomp profile (JSON file) to enforce")
	if err := fs.Parse(args); err != nil {
		return err
	}
	argv := fs.Args()
	if len(argv) == 0 {
		return errors.New("stepexec: no command")
	}
	filter, err := f.prepare()
	if err != nil {
		return fmt.Errorf("stepexec: %w", err)
	}
	path, err := exec.LookPath(argv[0])
	if err != nil {
		return fmt.Errorf("stepexec: %w", err)
	}
	ex, err := newExecve(path, argv, stepEnv(os.Environ()))
	if err != nil {
		return fmt.Errorf("stepexec: %w", err)
	}
	if err := f.restrict(filter); err != nil {
		return fmt.Errorf("stepexec: %w", err)
	}
	return fmt.Errorf("stepexec: exec %s: %w", path, ex.run())
}

// execve is an execve(2) whose arguments are made before it runs, so that
// nothing of the Go runtime runs between the seccomp filter and the exec:
// syscall.Exec first takes the runtime's exec lock, which waits on a futex
// when another thread holds it, and a profile need not allow futex (seen
// under load: "seccomp: errno at futex by tsemlab-guest" instead of the
// step; the learned profile of ls has no futex).
type execve struct {
	path       *byte
	argv, envv []*byte
}

func newExecve(path string, argv, env []string) (*execve, error) {
	p, err := syscall.BytePtrFromString(path)
	if err != nil {
		return nil, err
	}
	a, err := syscall.SlicePtrFromStrings(argv)
	if err != nil {
		return nil, err
	}
	e, err := syscall.SlicePtrFromStrings(env)
	if err != nil {
		return nil, err
	}
	return &execve{path: p, argv: a, envv: e}, nil
}

// run replaces the process; it returns only the reason it could not.
func (x *execve) run() error {
	_, _, errno := syscall.RawSyscall(syscall.SYS_EXECVE, uintptr(unsafe.Pointer(x.path)),
		uintptr(unsafe.Pointer(&x.argv[0])), uintptr(unsafe.Pointer(&x.envv[0])))
	runtime.KeepAlive(x)
	return errno
}

// errnoNamed is err's message with system errors by name ("EACCES")
// instead of their text ("permission denied"): stepexec failing to set up
// a step is a harness failure, and the judge reads strerror texts on a
// step's stderr as a refusal of the step.
func errnoNamed(err error) string {
	msg := err.Error()
	var errno syscall.Errno
	if errors.As(err, &errno) {
		if name := unix.ErrnoName(errno); name != "" {
			msg = strings.ReplaceAll(msg, errno.Error(), name)
		}
	}
	return msg
}

// prepare does everything up to the new root and returns the seccomp
// filter to install last (nil without one).
func (f *stepexecFlags) prepare() ([]unix.SockFilter, error) {
	var filter []unix.SockFilter
	if f.seccomp != "" {
		var err error
		if filter, err = loadFilter(f.seccomp); err != nil {
			return nil, err
		}
	}
	if f.apparmor != "" {
		if err := appArmorExec(f.apparmor); err != nil {
			return nil, err
		}
	}
	if f.private {
		if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
			return nil, fmt.Errorf("make mounts private: %w", err)
		}
	}
	switch {
	case f.pivot != "":
		if err := pivotRoot(f.pivot); err != nil {
			return nil, err
		}
	case f.chroot != "":
		if err := unix.Chroot(f.chroot); err != nil {
			return nil, fmt.Errorf("chroot %s: %w", f.chroot, err)
		}
		if err := unix.Chdir("/"); err != nil {
			return nil, err
		}
	}
	if f.proc {
		_ = os.MkdirAll("/proc", 0o555)
		if err := unix.Mount("proc", "/proc", "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
			return nil, fmt.Errorf("mount /proc of the new PID namespace: %w", err)
		}
	}
	return filter, nil
}

// restrict drops what the step must not have, the filter last.
func (f *stepexecFlags) restrict(filter []unix.SockFilter) error {
	if f.drop != "" || f.add != "" {
		if err := limitCaps(f.drop, f.add); err != nil {
			return err
		}
	}
	if f.user != "" {
		if err := setUser(f.user); err != nil {
			return err
		}
	}
	if f.nnp || filter != nil {
		if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
			return fmt.Errorf("set no_new_privs: %w", err)
		}
	}
	if f.nnp {
		if err := nnpTook(); err != nil {
			return err
		}
	}
	if filter != nil {
		quiet()
		prog := unix.SockFprog{Len: uint16(len(filter)), Filter: &filter[0]}
		// SECCOMP_FILTER_FLAG_LOG: every refusal (errno included, which
		// the kernel does not log by default) reaches the audit log and
		// so the step's evidence, naming the call.
		_, _, e := unix.RawSyscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, unix.SECCOMP_FILTER_FLAG_LOG, uintptr(unsafe.Pointer(&prog)))
		if e != 0 {
			return fmt.Errorf("install seccomp filter: %w", e)
		}
	}
	return nil
}

// quiet keeps the Go runtime, as far as it can, from signalling this
// thread between the filter's installation and the exec: a signal handler
// returns through rt_sigreturn, which a profile need not allow (the
// learned ones of C programs do not), and a refused rt_sigreturn crashes
// the helper with SIGTRAP instead of running the step. The runtime
// signals a thread to preempt a goroutine that has run for 10ms and to
// stop the world for a garbage collection: so finish any collection,
// allow no new one, and start a fresh time slice; the filter and the exec
// then take microseconds. loadFilter allows rt_sigreturn for what remains.
func quiet() {
	runtime.GC()
	debug.SetGCPercent(-1)
	runtime.Gosched()
}

// helperCalls are the calls the Go runtime of the helper can still make
// on its thread between installing the filter and the exec, whatever the
// profile says: rt_sigreturn, as a signal handler returns (quiet makes
// signals rare, not impossible; Docker's default profile allows it too),
// and the runtime's waits: futex, nanosleep, sched_yield (seen on the
// stock kernel, even unloaded and with the exec made raw and preemption
// off: seccomp-too-tight killed at futex by tsemlab-guest, not at its
// execve). The step's program runs with them allowed too; a profile
// meant to refuse them cannot be enforced by this helper.
var helperCalls = []string{"rt_sigreturn", "futex", "nanosleep", "clock_nanosleep", "sched_yield"}

// loadFilter reads a profile and assembles its filter.
func loadFilter(file string) ([]unix.SockFilter, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("read seccomp profile: %w", err)
	}
	p, err := seccomp.Parse(data)
	if err != nil {
		return nil, fmt.Errorf("seccomp profile %s: %w", file, err)
	}
	// helperCalls are always allowed: the first rule naming a call
	// decides it.
	p.Syscalls = append([]seccomp.Rule{{Names: helperCalls, Action: seccomp.ActAllow}}, p.Syscalls...)
	raw, err := p.Filter()
	if err != nil {
		return nil, fmt.Errorf("seccomp profile %s: %w", file, err)
	}
	out := make([]unix.SockFilter, len(raw))
	for i, r := range raw {
		out[i] = unix.SockFilter{Code: r.Op, Jt: r.Jt, Jf: r.Jf, K: r.K}
	}
	return out, nil
}

// appArmorExec asks AppArmor to confine this thread's next exec to
// profile.
func appArmorExec(profile string) error {
	var err error
	for _, p := range []string{"/proc/thread-self/attr/apparmor/exec", "/proc/thread-self/attr/exec"} {
		if err = os.WriteFile(p, []byte("exec "+profile), 0); err == nil {
			return nil
		}
	}
	return fmt.Errorf("confine the step to AppArmor profile %s: %w", profile, err)
}

// pivotRoot makes dir the root of this mount namespace and unmounts the
// old root. The initramfs (rootfs) cannot be pivoted away from, so a
// recursive bind of it is moved over / first and becomes the root that is
// pivoted: then the new root sits on the namespace's rootfs mount, where
// ".." ends, and the old root is detached.
func pivotRoot(dir string) error {
	const stand = "/tmp/.tsemlab-pivot"
	if err := os.MkdirAll(stand, 0o700); err != nil {
		return err
	}
	steps := []struct {
		what string
		do   func() error
	}{
		{"bind / on " + stand, func() error { return unix.Mount("/", stand, "", unix.MS_BIND|unix.MS_REC, "") }},
		{"enter " + stand, func() error { return unix.Chdir(stand) }},
		{"move it over /", func() error { return unix.Mount(".", "/", "", unix.MS_MOVE, "") }},
		{"chroot to it", func() error { return unix.Chroot(".") }},
		{"bind " + dir + " on itself", func() error { return unix.Mount(dir, dir, "", unix.MS_BIND|unix.MS_REC, "") }},
		{"enter " + dir, func() error { return unix.Chdir(dir) }},
		{"pivot_root", func() error { return unix.PivotRoot(".", ".") }},
		{"unmount the old root", func() error { return unix.Unmount(".", unix.MNT_DETACH) }},
		{"enter /", func() error { return unix.Chdir("/") }},
	}
	for _, s := range steps {
		if err := s.do(); err != nil {
			return fmt.Errorf("pivot_root into %s: %s: %w", dir, s.what, err)
		}
	}
	return nil
}

// setUser switches every thread to UID:GID with no supplementary groups.
func setUser(spec string) error {
	u, g, _ := strings.Cut(spec, ":")
	uid, err := strconv.Atoi(u)
	if err != nil {
		return fmt.Errorf("user %q: %w", spec, err)
	}
	gid := uid
	if g != "" {
		if gid, err = strconv.Atoi(g); err != nil {
			return fmt.Errorf("user %q: %w", spec, err)
		}
	}
	if err := syscall.Setgroups(nil); err != nil {
		return fmt.Errorf("drop supplementary groups: %w", err)
	}
	if err := syscall.Setgid(gid); err != nil {
		return fmt.Errorf("set group %d: %w", gid, err)
	}
	if err := syscall.Setuid(uid); err != nil {
		return fmt.Errorf("set user %d: %w", uid, err)
	}
	return nil
}

// stepexecWanted reports whether a step needs the stepexec mode.
func stepexecWanted(f stepexecFlags) bool {
	return f != (stepexecFlags{})
}

// argv returns the stepexec command line for f.
func (f stepexecFlags) argv(self string) []string {
	out := []string{self, "stepexec"}
	for _, b := range []struct {
		name string
		on   bool
	}{{"-private", f.private}, {"-proc", f.proc}, {"-nnp", f.nnp}} {
		if b.on {
			out = append(out, b.name)
		}
	}
	for _, s := range []struct{ name, val string }{
		{"-chroot", f.chroot}, {"-pivot", f.pivot}, {"-drop", f.drop}, {"-add", f.add},
		{"-apparmor", f.apparmor}, {"-user", f.user}, {"-seccomp", f.seccomp},
	} {
		if s.val != "" {
			out = append(out, s.name, s.val)
		}
	}
	return append(out, "--")
}

// labsDir holds the files the labs prepare per phase: profiles to enforce
// and the system call records of learn phases.
var labsDir = filepath.Join(os.TempDir(), "tsemlab-labs")

// ChrootEscape is the `chroot-escape` mode, the classic break-out from a
// chroot that the namespaces lab demonstrates: a root process with
// CAP_SYS_CHROOT chroots into a subdirectory without entering it, so its
// working directory lies outside its root and ".." from there is never
// stopped at the root; it climbs to the top, chroots there and execs the
// command. After pivot_root with the old root unmounted there is nothing
// above the new root to climb to.
func ChrootEscape(args []string) error {
	if len(args) > 0 && args[0] == "--" {
		args = args[1:]
	}
	if len(args) == 0 {
		return errors.New("chroot-escape: usage: chroot-escape -- COMMAND...")
	}
	const sub = ".tsemlab-escape"
	if err := os.MkdirAll(sub, 0o700); err != nil {
		return fmt.Errorf("chroot-escape: %w", err)
	}
	if err := unix.Chroot(sub); err != nil {
		return fmt.Errorf("chroot-escape: chroot %s: %w", sub, err)
	}
	for range 256 {
		if err := unix.Chdir(".."); err != nil {
			return fmt.Errorf("chroot-escape: climb: %w", err)
		}
	}
	if err := unix.Chroot("."); err != nil {
		return fmt.Errorf("chroot-escape: chroot to the top: %w", err)
	}
	if err := unix.Chdir("/"); err != nil {
		return err
	}
	path, err := exec.LookPath(args[0])
	if err != nil {
		return fmt.Errorf("chroot-escape: %w", err)
	}
	return syscall.Exec(path, args, os.Environ())
}

// nnpTook checks that no_new_privs is set after prctl said it was: a
// security module whose task_prctl hook returns 0 for a call it does not
// handle tells the kernel the call was handled, and prctl then returns 0
// having done nothing (seen: TSEM at 0f925b5b). A step asked to run with
// no_new_privs must not run without it as if it had.
func nnpTook() error {
	v, err := unix.PrctlRetInt(unix.PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0)
	if err != nil {
		return fmt.Errorf("read no_new_privs back: %w", err)
	}
	if v != 1 {
		return errors.New("no_new_privs is not set although prctl(PR_SET_NO_NEW_PRIVS) returned 0: a security module's task_prctl hook answered for the kernel (TSEM at 0f925b5b returns 0 for every prctl), so the step would run with its privileges; not running it")
	}
	return nil
}

// stepGodebug carries the step's own GODEBUG past the helper, which runs
// with asynchronous preemption off (stepexecEnv): "unset", or "set:" and
// the value.
const stepGodebug = "TSEMLAB_STEP_GODEBUG"

// stepexecEnv is the stepexec helper's environment for a step whose
// environment is env. The helper runs without asynchronous preemption: a
// preempted goroutine locked to its thread parks the thread on a futex,
// and between the seccomp filter and the exec that futex is refused
// (seen under load: seccomp-too-tight killed at futex, not at its
// execve). The step gets env as it was (stepEnv).
func stepexecEnv(env []string) []string {
	orig, had := lookupEnv(env, "GODEBUG")
	mark, debug := "unset", "asyncpreemptoff=1"
	if had {
		mark = "set:" + orig
		if orig != "" {
			debug = orig + "," + debug
		}
	}
	return environ(env, []string{"GODEBUG=" + debug, stepGodebug + "=" + mark})
}

// stepEnv undoes stepexecEnv: the step's environment.
func stepEnv(env []string) []string {
	mark, ok := lookupEnv(env, stepGodebug)
	if !ok {
		return env
	}
	var out []string
	for _, kv := range env {
		if !strings.HasPrefix(kv, stepGodebug+"=") && !strings.HasPrefix(kv, "GODEBUG=") {
			out = append(out, kv)
		}
	}
	if v, set := strings.CutPrefix(mark, "set:"); set {
		out = append(out, "GODEBUG="+v)
	}
	return out
}

func lookupEnv(env []string, key string) (string, bool) {
	for i := len(env) - 1; i >= 0; i-- {
		if v, ok := strings.CutPrefix(env[i], key+"="); ok {
			return v, true
		}
	}
	return "", false
}

package orchestrator

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"

	"github.com/tsemlab/tsemlab/protocol"
)

func TestLabArgv_WrapsOnlyStepsThatAskForIt(t *testing.T) {
	sh := []string{"/bin/sh", "-c", "ls /"}
	learn := protocol.Phase{Name: "learn", Seccomp: &protocol.Seccomp{Mode: protocol.SeccompLearn, Export: "x.json"}}
	enforce := protocol.Phase{Name: "enf", Seccomp: &protocol.Seccomp{Mode: protocol.SeccompEnforce, Profile: "x.json"},
		Caps: &protocol.Caps{Drop: []string{"CAP_CHOWN"}}, AppArmor: &protocol.AppArmor{File: "apparmor/a", Name: "phase-profile"}}
	tests := []struct {
		name  string
		ph    protocol.Phase
		st    protocol.Step
		want  []string
		wraps bool
	}{
		{name: "plain step", ph: protocol.Phase{Name: "p"}, st: protocol.Step{Index: 1}},
		{name: "caps alone stay with capexec", ph: protocol.Phase{Name: "p"}, st: protocol.Step{Index: 1, Caps: &protocol.Caps{Drop: []string{"ALL"}}}},
		{name: "learn runs the recorder", ph: learn, st: protocol.Step{Index: 2}, wraps: true,
			want: []string{"/g", "seccomp-learn", "-out", labsDir + "/learn.2.syscalls.json", "--", "/bin/sh", "-c", "ls /"}},
		{name: "enforce with caps and the phase's AppArmor profile", ph: enforce, st: protocol.Step{Index: 1}, wraps: true,
			want: []string{"/g", "stepexec", "-drop", "CAP_CHOWN", "-apparmor", "phase-profile", "-seccomp", labsDir + "/enf.seccomp.json", "--", "/bin/sh", "-c", "ls /"}},
		{name: "a step's own AppArmor profile wins", ph: enforce, st: protocol.Step{Index: 1, AppArmor: &protocol.AppArmor{Name: "own"}}, wraps: true,
			want: []string{"/g", "stepexec", "-drop", "CAP_CHOWN", "-apparmor", "own", "-seccomp", labsDir + "/enf.seccomp.json", "--", "/bin/sh", "-c", "ls /"}},
		{name: "new pid and mount namespaces get private mounts and a /proc", ph: protocol.Phase{Name: "p"},
			st: protocol.Step{Namespaces: []string{"pid", "mount"}, PivotRoot: "/jail"}, wraps: true,
			want: []string{"/g", "stepexec", "-private", "-proc", "-pivot", "/jail", "--", "/bin/sh", "-c", "ls /"}},
		{name: "a new pid namespace alone mounts nothing", ph: protocol.Phase{Name: "p"}, st: protocol.Step{Namespaces: []string{"pid"}}},
		{name: "user, no_new_privs, chroot", ph: protocol.Phase{Name: "p"},
			st: protocol.Step{User: "1000:1000", NoNewPrivileges: true, Chroot: "/jail"}, wraps: true,
			want: []string{"/g", "stepexec", "-nnp", "-chroot", "/jail", "-user", "1000:1000", "--", "/bin/sh", "-c", "ls /"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := labArgv("/g", tt.ph, tt.st, sh)
			assert.Equal(t, tt.wraps, ok)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestLabAttr_NamespacesAtClone(t *testing.T) {
	var attr syscall.SysProcAttr
	labAttr(&attr, protocol.Step{Namespaces: []string{"pid", "mount", "net", "uts", "ipc"}})
	assert.Equal(t, uintptr(syscall.CLONE_NEWPID|syscall.CLONE_NEWNS|syscall.CLONE_NEWNET|syscall.CLONE_NEWUTS|syscall.CLONE_NEWIPC), attr.Cloneflags)
	assert.Empty(t, attr.UidMappings)

	attr = syscall.SysProcAttr{}
	labAttr(&attr, protocol.Step{Namespaces: []string{"user"}})
	assert.Equal(t, uintptr(syscall.CLONE_NEWUSER), attr.Cloneflags)
	assert.Equal(t, []syscall.SysProcIDMap{{ContainerID: 0, HostID: 0, Size: 1<<32 - 1}}, attr.UidMappings, "ids map to themselves")
}

func TestLabAfter_LearnStepTakesTheRecordedStatus(t *testing.T) {
	ph := protocol.Phase{Name: "t-learn-after", Seccomp: &protocol.Seccomp{Mode: protocol.SeccompLearn}}
	st := protocol.Step{Index: 1}
	r := labAfter(ph, st, ran{exit: 127})
	assert.Contains(t, r.stderr, "were not recorded")
	assert.Equal(t, 127, r.exit)
}

func TestErrnoNamed_HarnessFailuresDoNotReadAsRefusals(t *testing.T) {
	err := fmt.Errorf("stepexec: exec /bin/sh: %w", syscall.EACCES)
	assert.Equal(t, "stepexec: exec /bin/sh: EACCES", errnoNamed(err))
	assert.Equal(t, "stepexec: no command", errnoNamed(errors.New("stepexec: no command")))
}

func TestLoadFilter_AlwaysAllowsRtSigreturn(t *testing.T) {
	path := filepath.Join(t.TempDir(), "p.json")
	require.NoError(t, os.WriteFile(path, []byte(`{"defaultAction": "SCMP_ACT_KILL_PROCESS", "syscalls": [{"names": ["rt_sigreturn"], "action": "SCMP_ACT_ERRNO"}]}`), 0o644))
	filter, err := loadFilter(path)
	require.NoError(t, err)
	raw := make([]bpf.RawInstruction, len(filter))
	for i, f := range filter {
		raw[i] = bpf.RawInstruction{Op: f.Code, Jt: f.Jt, Jf: f.Jf, K: f.K}
	}
	insts, ok := bpf.Disassemble(raw)
	require.True(t, ok)
	vm, err := bpf.NewVM(insts)
	require.NoError(t, err)
	call := func(nr uint32) uint32 {
		// x/net/bpf loads words big-endian; the kernel loads them in
		// the machine's order.
		data := make([]byte, 64)
		binary.BigEndian.PutUint32(data[0:], nr)
		binary.BigEndian.PutUint32(data[4:], 0xc000003e)
		ret, err := vm.Run(data)
		require.NoError(t, err)
		return uint32(ret)
	}
	assert.Equal(t, uint32(unix.SECCOMP_RET_ALLOW), call(unix.SYS_RT_SIGRETURN), "whatever the profile says")
	assert.Equal(t, uint32(unix.SECCOMP_RET_ALLOW), call(unix.SYS_FUTEX), "the helper's runtime waits")
	assert.Equal(t, uint32(unix.SECCOMP_RET_ALLOW), call(unix.SYS_NANOSLEEP))
	assert.Equal(t, uint32(unix.SECCOMP_RET_KILL_PROCESS), call(unix.SYS_EXECVE))
}

func TestExecve_ReplacesTheProcess(t *testing.T) {
	if os.Getenv("TSEMLAB_EXECVE_HELPER") == "1" {
		x, err := newExecve("/bin/echo", []string{"echo", "replaced"}, []string{"A=b"})
		if err != nil {
			os.Exit(3)
		}
		fmt.Println(x.run())
		os.Exit(4)
	}
	if _, err := os.Stat("/bin/echo"); err != nil {
		t.Skipf("the exec test runs /bin/echo, which this host lacks: %v", err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestExecve_ReplacesTheProcess$")
	cmd.Env = append(os.Environ(), "TSEMLAB_EXECVE_HELPER=1")
	out, err := cmd.Output()
	require.NoError(t, err)
	assert.Equal(t, "replaced\n", string(out))
}

func TestExecve_AFailedExecReturnsItsErrno(t *testing.T) {
	x, err := newExecve("/nonexistent/tsemlab", []string{"x"}, nil)
	require.NoError(t, err)
	assert.ErrorIs(t, x.run(), syscall.ENOENT)
}

func TestStepexecEnv_TheHelperRunsWithoutPreemptionTheStepAsAsked(t *testing.T) {
	for _, env := range [][]string{
		{"A=b"},
		{"A=b", "GODEBUG=decoratemappings=0"},
		{"GODEBUG="},
	} {
		helper := stepexecEnv(env)
		debug, _ := lookupEnv(helper, "GODEBUG")
		assert.Contains(t, debug, "asyncpreemptoff=1", "%v", env)
		assert.ElementsMatch(t, env, stepEnv(helper), "the step gets its own environment back")
	}
	assert.Equal(t, []string{"A=b"}, stepEnv([]string{"A=b"}), "without the mark nothing changes")
}

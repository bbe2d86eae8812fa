package seccomp

import (
	"encoding/binary"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

const auditArchX86_64 = 0xc000003e

// run evaluates a filter on one system call the way the kernel does, on
// a struct seccomp_data. x/net/bpf's VM loads words big-endian where the
// kernel loads them in the machine's order, so the fields are written
// big-endian here.
func run(t *testing.T, prog []bpf.RawInstruction, arch uint32, nr int) uint32 {
	t.Helper()
	insts, ok := bpf.Disassemble(prog)
	require.True(t, ok)
	vm, err := bpf.NewVM(insts)
	require.NoError(t, err)
	data := make([]byte, 64)
	binary.BigEndian.PutUint32(data[0:], uint32(nr))
	binary.BigEndian.PutUint32(data[4:], arch)
	ret, err := vm.Run(data)
	require.NoError(t, err)
	return uint32(ret)
}

func nr(t *testing.T, name string) int {
	n, ok := Number(name)
	require.True(t, ok, name)
	return n
}

func TestAction_KernelValues(t *testing.T) {
	tests := []struct {
		a     Action
		errno uint
		want  uint32
	}{
		{ActAllow, 1, unix.SECCOMP_RET_ALLOW},
		{ActErrno, 1, unix.SECCOMP_RET_ERRNO | 1},
		{ActErrno, 13, unix.SECCOMP_RET_ERRNO | 13},
		{ActKill, 1, unix.SECCOMP_RET_KILL_THREAD},
		{ActKillThread, 1, unix.SECCOMP_RET_KILL_THREAD},
		{ActKillProcess, 1, unix.SECCOMP_RET_KILL_PROCESS},
		{ActTrap, 1, unix.SECCOMP_RET_TRAP},
		{ActLog, 1, unix.SECCOMP_RET_LOG},
		{ActTrace, 7, unix.SECCOMP_RET_TRACE | 7},
	}
	for _, tt := range tests {
		t.Run(string(tt.a), func(t *testing.T) {
			got, err := tt.a.Kernel(tt.errno)
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
	_, err := Action("SCMP_ACT_NOTIFY").Kernel(1)
	assert.Error(t, err)
	_, err = ActErrno.Kernel(1 << 16)
	assert.Error(t, err)
}

func TestFilter_EachRuleAndTheDefault(t *testing.T) {
	eacces := uint(13)
	enosys := uint(38)
	p := &Profile{DefaultAction: ActErrno, DefaultErrnoRet: &enosys, Syscalls: []Rule{
		{Names: []string{"read", "write", "arm_fadvise64_64"}, Action: ActAllow},
		{Names: []string{"mkdir"}, Action: ActErrno, ErrnoRet: &eacces},
		{Names: []string{"chmod"}, Action: ActErrno},
		{Names: []string{"execve"}, Action: ActKillProcess},
		{Names: []string{"read"}, Action: ActKillProcess},
	}}
	prog, err := p.Filter()
	require.NoError(t, err)
	assert.Equal(t, uint32(unix.SECCOMP_RET_ALLOW), run(t, prog, auditArchX86_64, nr(t, "read")), "the first rule naming a call decides")
	assert.Equal(t, uint32(unix.SECCOMP_RET_ALLOW), run(t, prog, auditArchX86_64, nr(t, "write")))
	assert.Equal(t, uint32(unix.SECCOMP_RET_ERRNO|13), run(t, prog, auditArchX86_64, nr(t, "mkdir")))
	assert.Equal(t, uint32(unix.SECCOMP_RET_ERRNO|1), run(t, prog, auditArchX86_64, nr(t, "chmod")), "EPERM unless errnoRet says otherwise")
	assert.Equal(t, uint32(unix.SECCOMP_RET_KILL_PROCESS), run(t, prog, auditArchX86_64, nr(t, "execve")))
	assert.Equal(t, uint32(unix.SECCOMP_RET_ERRNO|38), run(t, prog, auditArchX86_64, nr(t, "fchmodat")), "the default, with defaultErrnoRet")
	assert.Equal(t, uint32(unix.SECCOMP_RET_ERRNO|38), run(t, prog, 0x40000003, 5), "another architecture gets the default")
}

func TestFilter_DefaultOnlyAndDefaultAllow(t *testing.T) {
	prog, err := (&Profile{DefaultAction: ActKillProcess}).Filter()
	require.NoError(t, err)
	assert.Equal(t, uint32(unix.SECCOMP_RET_KILL_PROCESS), run(t, prog, auditArchX86_64, 0))

	deny, err := Parse([]byte(`{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["fchmodat"],"action":"SCMP_ACT_ERRNO"}]}`))
	require.NoError(t, err)
	prog, err = deny.Filter()
	require.NoError(t, err)
	assert.Equal(t, uint32(unix.SECCOMP_RET_ALLOW), run(t, prog, auditArchX86_64, nr(t, "openat")))
	assert.Equal(t, uint32(unix.SECCOMP_RET_ERRNO|1), run(t, prog, auditArchX86_64, nr(t, "fchmodat")))
}

func TestParseAudit_NamesTheSyscall(t *testing.T) {
	line := `audit: type=1326 audit(1733000000.512:42): auid=4294967295 uid=0 gid=0 ses=4294967295 subj=unconfined pid=213 comm="tsemlab-guest" exe="/bin/tsemlab-guest" sig=31 arch=c000003e syscall=59 compat=0 ip=0x4a2b6e code=0x80000000`
	a, ok := ParseAudit(line)
	require.True(t, ok)
	assert.Equal(t, "execve", a.Name)
	assert.Equal(t, 213, a.PID)
	assert.Equal(t, "kill_process at execve (x86_64 syscall 59) by tsemlab-guest[213]", a.String())

	a, ok = ParseAudit(`audit: type=1326 audit(1.2:3): pid=9 comm="chmod" exe="/bbin/bb" sig=0 arch=c000003e syscall=268 compat=0 ip=0x1 code=0x50000`)
	require.True(t, ok)
	assert.Equal(t, "errno at fchmodat (x86_64 syscall 268) by chmod[9]", a.String())

	_, ok = ParseAudit(`audit: type=1400 audit(1.2:3): apparmor="DENIED" operation="mknod"`)
	assert.False(t, ok)
}

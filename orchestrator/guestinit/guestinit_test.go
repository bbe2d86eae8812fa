package guestinit

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"golang.org/x/sys/unix"
)

// procCgroupsStock is /proc/cgroups of Debian's cloud kernel (6.1): every
// v1 controller enabled, misc and rdma among them.
const procCgroupsStock = `#subsys_name	hierarchy	num_cgroups	enabled
cpuset	0	1	1
cpu	0	1	1
cpuacct	0	1	1
blkio	0	1	1
memory	0	1	1
devices	0	1	1
freezer	0	1	1
net_cls	0	1	1
perf_event	0	1	1
net_prio	0	1	1
hugetlb	0	1	1
pids	0	1	1
rdma	0	1	1
misc	0	1	1
`

// procCgroupsTiny is a tinyconfig + virt.config kernel's: only devices,
// and memory compiled in but disabled (cgroup_disable=memory).
const procCgroupsTiny = `#subsys_name	hierarchy	num_cgroups	enabled
devices	0	1	1
memory	0	1	0
`

func TestCgroupMounts_StockKernelGetsUrootsLayout(t *testing.T) {
	var got []string
	for _, m := range CgroupMounts(procCgroupsStock) {
		if m.Link != "" {
			got = append(got, m.Target+" -> "+m.Link)
			continue
		}
		assert.Equal(t, "cgroup", m.FSType)
		assert.Equal(t, "cgroup", m.Source)
		got = append(got, m.Target+" ("+m.Data+")")
	}
	assert.Equal(t, []string{
		"/sys/fs/cgroup/memory (memory)",
		"/sys/fs/cgroup/freezer (freezer)",
		"/sys/fs/cgroup/devices (devices)",
		"/sys/fs/cgroup/cpu,cpuacct (cpu,cpuacct)",
		"/sys/fs/cgroup/cpu -> /sys/fs/cgroup/cpu,cpuacct",
		"/sys/fs/cgroup/cpuacct -> /sys/fs/cgroup/cpu,cpuacct",
		"/sys/fs/cgroup/blkio (blkio)",
		"/sys/fs/cgroup/cpuset (cpuset)",
		"/sys/fs/cgroup/pids (pids)",
		"/sys/fs/cgroup/net_cls,net_prio (net_cls,net_prio)",
		"/sys/fs/cgroup/net_cls -> /sys/fs/cgroup/net_cls,net_prio",
		"/sys/fs/cgroup/net_prio -> /sys/fs/cgroup/net_cls,net_prio",
		"/sys/fs/cgroup/hugetlb (hugetlb)",
		"/sys/fs/cgroup/perf_event (perf_event)",
	}, got)
}

func TestCgroupMounts_OnlyEnabledControllersAreMounted(t *testing.T) {
	assert.Equal(t, []Mount{{Source: "cgroup", Target: "/sys/fs/cgroup/devices", FSType: "cgroup", Data: "devices", Mode: 0o555}},
		CgroupMounts(procCgroupsTiny))
	// cpu without cpuacct cannot be mounted as u-root's cpu,cpuacct.
	assert.Empty(t, CgroupMounts("cpu 0 1 1\n"))
	assert.Empty(t, CgroupMounts(""))
}

func TestMounts_OrderAndRequiredOnes(t *testing.T) {
	index := map[string]int{}
	for i, m := range Mounts {
		index[m.Target] = i
	}
	// /dev first (everything after may need device nodes); devpts before
	// /dev/ptmx is linked to its ptmx; sysfs before what goes under it.
	assert.Equal(t, 0, index["/dev"])
	assert.Less(t, index["/dev/pts"], index["/dev/ptmx"])
	assert.Less(t, index["/sys"], index["/sys/kernel/security"])
	assert.Less(t, index["/sys"], index["/sys/fs/cgroup"])
	for _, m := range Mounts {
		switch m.Target {
		case "/dev", "/proc", "/tmp", "/sys":
			assert.False(t, m.Optional, "%s is required", m.Target)
		case "/sys/kernel/security", "/sys/kernel/debug", "/sys/fs/cgroup":
			assert.True(t, m.Optional, "a kernel may lack %s", m.Target)
		}
	}
}

func TestDescribe(t *testing.T) {
	assert.Equal(t, "exited with status 3", Describe(unix.WaitStatus(3<<8)))
	assert.Equal(t, "was killed by signal 9 (SIGKILL)", Describe(unix.WaitStatus(9)))
}

func TestEnv_PathPutsHostProgramsBeforeUroot(t *testing.T) {
	assert.Contains(t, Env(), "PATH="+Path)
	assert.Less(t, strings.Index(Path, "/bin:"), strings.Index(Path, "/bbin"))
}

// TestIgnoreSignals_KeepsTheProcessAlive: without the handlers SIGUSR1
// would end this test binary, as SIGTERM would end the guest's init and
// panic its kernel.
func TestIgnoreSignals_KeepsTheProcessAlive(t *testing.T) {
	ignoreSignals()
	for _, sig := range []unix.Signal{unix.SIGUSR1, unix.SIGHUP} {
		assert.NoError(t, unix.Kill(unix.Getpid(), sig))
	}
	time.Sleep(50 * time.Millisecond)
}

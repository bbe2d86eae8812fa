package seccomp

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// Action is what a profile says to do with a system call, in libseccomp's
// spelling ("SCMP_ACT_ERRNO").
type Action string

// Actions a profile may use.
const (
	ActAllow       Action = "SCMP_ACT_ALLOW"
	ActErrno       Action = "SCMP_ACT_ERRNO"
	ActKill        Action = "SCMP_ACT_KILL"
	ActKillThread  Action = "SCMP_ACT_KILL_THREAD"
	ActKillProcess Action = "SCMP_ACT_KILL_PROCESS"
	ActTrap        Action = "SCMP_ACT_TRAP"
	ActLog         Action = "SCMP_ACT_LOG"
	ActTrace       Action = "SCMP_ACT_TRACE"
)

// Actions lists the actions tsemlab enforces, in the order messages name
// them. SCMP_ACT_NOTIFY is left out: it needs a supervisor process.
var Actions = []Action{ActAllow, ActErrno, ActKill, ActKillThread, ActKillProcess, ActTrap, ActLog, ActTrace}

// DefaultErrno is the errno SCMP_ACT_ERRNO returns when a profile names
// none, as in Docker.
const DefaultErrno = uint(unix.EPERM)

// Kernel returns the seccomp filter return value (SECCOMP_RET_*) for a,
// with errno the value SCMP_ACT_ERRNO returns (and SCMP_ACT_TRACE passes
// to the tracer). SCMP_ACT_KILL kills the thread, as in libseccomp.
func (a Action) Kernel(errno uint) (uint32, error) {
	if errno > 0xffff {
		return 0, fmt.Errorf("errno %d does not fit the 16 bits a filter returns", errno)
	}
	switch a {
	case ActAllow:
		return unix.SECCOMP_RET_ALLOW, nil
	case ActErrno:
		return unix.SECCOMP_RET_ERRNO | uint32(errno), nil
	case ActKill, ActKillThread:
		return unix.SECCOMP_RET_KILL_THREAD, nil
	case ActKillProcess:
		return unix.SECCOMP_RET_KILL_PROCESS, nil
	case ActTrap:
		return unix.SECCOMP_RET_TRAP, nil
	case ActLog:
		return unix.SECCOMP_RET_LOG, nil
	case ActTrace:
		return unix.SECCOMP_RET_TRACE | uint32(errno), nil
	}
	return 0, fmt.Errorf("unknown action %q", string(a))
}

// Describe says what the kernel does for a filter return value, as an
// audit record's code= field gives it ("kill_process", "errno 1").
func Describe(ret uint32) string {
	data := ret & unix.SECCOMP_RET_DATA
	switch ret & unix.SECCOMP_RET_ACTION_FULL {
	case unix.SECCOMP_RET_KILL_PROCESS:
		return "kill_process"
	case unix.SECCOMP_RET_KILL_THREAD:
		return "kill_thread"
	case unix.SECCOMP_RET_TRAP:
		return "trap"
	case unix.SECCOMP_RET_ERRNO:
		if data == 0 {
			// The audit record's code= holds the action only.
			return "errno"
		}
		if name := unix.ErrnoName(unix.Errno(data)); name != "" {
			return fmt.Sprintf("errno %s", name)
		}
		return fmt.Sprintf("errno %d", data)
	case unix.SECCOMP_RET_USER_NOTIF:
		return "user_notif"
	case unix.SECCOMP_RET_TRACE:
		return "trace"
	case unix.SECCOMP_RET_LOG:
		return "log"
	case unix.SECCOMP_RET_ALLOW:
		return "allow"
	}
	return fmt.Sprintf("action %#x", ret)
}

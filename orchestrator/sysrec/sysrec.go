// Package sysrec records the system calls a process tree makes, with
// ptrace(2): the recorder starts the command stopped at its first
// instruction, follows every fork, vfork, clone (threads included) and
// exec with PTRACE_O_TRACESYSGOOD|TRACEFORK|TRACEVFORK|TRACECLONE|TRACEEXEC,
// and counts each system call entry by name.
//
// Why ptrace and not a seccomp filter: a SECCOMP_RET_LOG filter records
// through the kernel's audit log, which is rate limited (printk allows a
// burst of ten lines) and shares a ring buffer with everything else, so
// counts would be lost exactly when a workload is busy; a user-notification
// filter is exact but must be installed by the process itself before it
// execs, and every call the installer makes until then (handing the
// listener to the supervisor) blocks on a supervisor that does not have it
// yet. ptrace is exact and needs nothing from the traced program, at the
// price of two stops per call (a step runs several times slower while
// learning) and of one tracer thread: ptrace requests must come from the
// thread that became the tracer, so Run locks its goroutine to its OS
// thread for the whole recording.
//
// The recording starts after the command's own execve (the tracer sees its
// first stop there): a profile learned this way has what the workload
// needs, not what a launcher needs to start it. That is the lesson of
// seccomp-too-tight.yaml.
package sysrec

import (
	"errors"
	"fmt"
	"os/exec"
	"runtime"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/tsemlab/tsemlab/seccomp"
)

// auditArchX86_64 is AUDIT_ARCH_X86_64: system call numbers are read from
// orig_rax with the x86_64 table (x32 calls carry their own bit).
const auditArchX86_64 = 0xc000003e

// Record is what a recording saw.
type Record struct {
	// Counts are system call entries by name; numbers with no name are
	// counted as "syscall_N".
	Counts map[string]int `json:"counts"`
	// ExitCode and Signal are the command's own wait status: its exit
	// code, or 128+n and the signal's name when a signal killed it.
	ExitCode int    `json:"exit_code"`
	Signal   string `json:"signal,omitempty"`
}

// options are the ptrace options that make the tracer follow the whole
// tree and tell system call stops from signals.
const options = unix.PTRACE_O_TRACESYSGOOD | unix.PTRACE_O_TRACEFORK | unix.PTRACE_O_TRACEVFORK |
	unix.PTRACE_O_TRACECLONE | unix.PTRACE_O_TRACEEXEC | unix.PTRACE_O_EXITKILL

// Run starts cmd traced and records it and everything it starts until the
// last of them has exited. cmd must not have been started; its
// SysProcAttr gains Ptrace. Run waits for the processes itself: do not
// call cmd.Wait.
func Run(cmd *exec.Cmd) (*Record, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Ptrace = true
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start traced %s: %w", cmd.Path, err)
	}
	pid := cmd.Process.Pid
	var ws unix.WaitStatus
	if _, err := unix.Wait4(pid, &ws, unix.WALL, nil); err != nil {
		return nil, fmt.Errorf("wait for traced %s to stop: %w", cmd.Path, err)
	}
	if !ws.Stopped() {
		return nil, fmt.Errorf("traced %s did not stop at its start (wait status %#x)", cmd.Path, uint32(ws))
	}
	if err := unix.PtraceSetOptions(pid, options); err != nil {
		_ = unix.Kill(pid, unix.SIGKILL)
		return nil, fmt.Errorf("set ptrace options: %w", err)
	}
	t := &tracer{leader: pid, rec: &Record{Counts: map[string]int{}}, inCall: map[int]bool{}, fresh: map[int]bool{}, seen: map[int]bool{pid: true}}
	if err := unix.PtraceSyscall(pid, 0); err != nil {
		return nil, fmt.Errorf("resume traced %s: %w", cmd.Path, err)
	}
	return t.rec, t.loop()
}

// tracer follows one traced tree.
type tracer struct {
	leader int
	rec    *Record
	// inCall is set between a thread's system call entry and exit stops.
	inCall map[int]bool
	// fresh are new tracees whose first stop (a SIGSTOP the kernel sends
	// them) is still to come; seen are all tracees met so far.
	fresh, seen map[int]bool
}

// loop handles stops until no tracee is left.
func (t *tracer) loop() error {
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, unix.WALL, nil)
		switch {
		case errors.Is(err, unix.EINTR):
			continue
		case errors.Is(err, unix.ECHILD):
			return nil
		case err != nil:
			return fmt.Errorf("wait for tracees: %w", err)
		}
		t.handle(pid, ws)
	}
}

func (t *tracer) handle(pid int, ws unix.WaitStatus) {
	switch {
	case ws.Exited(), ws.Signaled():
		if pid == t.leader {
			t.rec.ExitCode = ws.ExitStatus()
			if ws.Signaled() {
				t.rec.ExitCode, t.rec.Signal = 128+int(ws.Signal()), unix.SignalName(ws.Signal())
			}
		}
		delete(t.inCall, pid)
		return
	case !ws.Stopped():
		return
	}
	sig := ws.StopSignal()
	if !t.seen[pid] {
		t.seen[pid], t.fresh[pid] = true, true
	}
	inject := 0
	switch {
	case sig == unix.SIGTRAP|0x80:
		if !t.inCall[pid] {
			t.count(pid)
		}
		t.inCall[pid] = !t.inCall[pid]
	case sig == unix.SIGTRAP && ws.TrapCause() > 0:
		t.event(pid, ws.TrapCause())
	case sig == unix.SIGSTOP && t.fresh[pid]:
		delete(t.fresh, pid)
	default:
		delete(t.fresh, pid)
		inject = int(sig)
	}
	// ESRCH: the tracee was killed meanwhile; its exit is still to come.
	_ = unix.PtraceSyscall(pid, inject)
}

// event handles a ptrace event stop.
func (t *tracer) event(pid, cause int) {
	msg, err := unix.PtraceGetEventMsg(pid)
	if err != nil {
		return
	}
	switch cause {
	case unix.PTRACE_EVENT_FORK, unix.PTRACE_EVENT_VFORK, unix.PTRACE_EVENT_CLONE:
		child := int(msg)
		if !t.seen[child] {
			t.seen[child], t.fresh[child] = true, true
		}
	case unix.PTRACE_EVENT_EXEC:
		// A thread that execs takes the thread group's id; the id it had
		// is gone without an exit of its own. The exit stop of execve
		// comes next.
		if old := int(msg); old != pid {
			delete(t.inCall, old)
		}
		t.inCall[pid] = true
	}
}

// count records the system call pid is entering.
func (t *tracer) count(pid int) {
	var regs unix.PtraceRegs
	if err := unix.PtraceGetRegs(pid, &regs); err != nil {
		return
	}
	nr := int64(regs.Orig_rax)
	if nr < 0 {
		return
	}
	name := seccomp.Name(auditArchX86_64, int(nr))
	if name == "" {
		name = "syscall_" + strconv.FormatInt(nr, 10)
	}
	t.rec.Counts[name]++
}

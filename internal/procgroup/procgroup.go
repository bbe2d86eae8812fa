// Package procgroup runs a command in a process group of its own that an
// interrupt stops whole, as a terminal's Ctrl-C would.
package procgroup

import (
	"context"
	"fmt"
	"os/exec"
	"syscall"
	"time"
)

// Run runs cmd, which must have been made with exec.CommandContext(ctx,
// ...), in a process group of its own. When ctx ends the whole group gets
// SIGTERM, so that the command and its children can clean up (make deletes
// half-written targets, mmdebstrap unmounts what it mounted), and whatever
// is left of the group after grace is killed, so nothing keeps writing.
// An interrupted run's error is "interrupted: " and ctx's error.
func Run(ctx context.Context, cmd *exec.Cmd, grace time.Duration) error {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM) }
	cmd.WaitDelay = grace
	err := cmd.Run()
	if ctx.Err() != nil {
		if cmd.Process != nil {
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		}
		return fmt.Errorf("interrupted: %w", ctx.Err())
	}
	return err
}

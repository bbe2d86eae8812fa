// Package boot starts one guest for one plan: it writes the plan into an
// initramfs beside the cached base image, configures QEMU, starts it with
// the console captured, and opens the guest's results stream. Every boot
// goes this way: the runner's scenarios, the accelerator probe and
// `tsemlab doctor`.
package boot

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/tsemlab/tsemlab/harness/console"
	"github.com/tsemlab/tsemlab/harness/image"
	"github.com/tsemlab/tsemlab/harness/qemu"
	"github.com/tsemlab/tsemlab/harness/qevent"
	"github.com/tsemlab/tsemlab/protocol"
)

// Spec is one boot.
type Spec struct {
	// QEMU is the binary; "" means qemu-system-x86_64.
	QEMU   string
	Kernel string
	Image  *image.Image
	Plan   protocol.Plan
	Accel  qemu.Accel
	// Append adds kernel command-line arguments to qemu.DefaultAppend.
	Append []string
	// MemoryMiB defaults to 1024.
	MemoryMiB int
	// Dir holds the plan initramfs and the sockets; the caller makes and
	// removes it. Its path must be short: socket paths are limited to
	// about 100 bytes.
	Dir string
	// ConsoleLog receives the whole guest console (within console.MaxLog);
	// nil keeps only the tail.
	ConsoleLog io.Writer
	// ConsoleLines is how many console lines the tail keeps; default 200.
	ConsoleLines int
	Log          *slog.Logger
	// KernelSHA256 and QEMUVersion (its --version line) name the kernel
	// and QEMU in snapshot keys; "" means they are found out.
	KernelSHA256 string
	QEMUVersion  string
	// RestoreLimit bounds a restore, from QEMU's start to the guest's
	// hello; default DefaultRestoreLimit.
	RestoreLimit time.Duration
	// Drives are workload images attached read-only, in order; the plan
	// tells the guest where they are (GuestDrives).
	Drives []Drive
}

// Drive is a workload root filesystem image (see harness/rootfs) attached
// to the guest as a read-only disk.
type Drive struct {
	// Image is the name of its images/ definition.
	Image string
	// Path is the image file on the host.
	Path string
	// FSType is its filesystem ("erofs").
	FSType string
}

// GuestDrives is the plan's record of drives: which guest device holds
// which image, in the order Config attaches them. It does no I/O.
func GuestDrives(drives []Drive) []protocol.Drive {
	var out []protocol.Drive
	for i, d := range drives {
		out = append(out, protocol.Drive{Image: d.Image, Device: qemu.GuestDisk(i), FSType: d.FSType})
	}
	return out
}

// Guest is a started guest.
type Guest struct {
	VM      *qemu.VM
	Events  *qevent.Stream
	Console *console.Console
	// Cmdline is QEMU's argv.
	Cmdline []string
	// Started is when QEMU was started; for a guest restored ahead of
	// its scenario (a Spare), when it was handed its plan.
	Started time.Time
	// removeDir, when set, removes what the guest owns once it stopped
	// (a Spare's socket directory).
	removeDir string
}

// Config returns the QEMU configuration for s with the plan initramfs at
// initrd. It does no I/O.
func (s Spec) Config(initrd string) (*qemu.Config, error) {
	opts := []qemu.Option{
		qemu.WithBinary(s.QEMU),
		qemu.WithKernel(s.Kernel, initrd),
		qemu.WithAppend(qemu.DefaultAppend...),
		qemu.WithAppend(s.Append...),
		qemu.WithAccel(s.Accel),
		qemu.WithMemory(max(s.MemoryMiB, 1024)),
		qemu.WithSockets(filepath.Join(s.Dir, "results.sock"), filepath.Join(s.Dir, "qmp.sock")),
	}
	for _, d := range s.Drives {
		opts = append(opts, qemu.WithReadOnlyDrive(d.Path))
	}
	return qemu.NewConfig(opts...)
}

// Start writes the plan initramfs, starts QEMU and begins reading the
// results channel. The guest is killed when ctx ends; callers Stop it on
// every path.
func Start(ctx context.Context, s Spec) (*Guest, error) {
	initrd := filepath.Join(s.Dir, "initrd.cpio")
	if err := image.WithPlan(s.Image, s.Plan, initrd); err != nil {
		return nil, err
	}
	cfg, err := s.Config(initrd)
	if err != nil {
		return nil, err
	}
	lines := s.ConsoleLines
	if lines == 0 {
		lines = 200
	}
	g := &Guest{Console: console.NewConsole(s.ConsoleLog, lines), Cmdline: cfg.Cmdline(), Started: time.Now()}
	g.VM, err = qemu.Start(ctx, cfg, g.Console, s.Log)
	if err != nil {
		return nil, err
	}
	g.Events = qevent.Read(g.VM.Results())
	return g, nil
}

// Stop ends the guest (QMP quit, then SIGKILL after grace).
func (g *Guest) Stop(grace time.Duration) {
	g.VM.Stop(grace)
	if g.removeDir != "" {
		os.RemoveAll(g.removeDir)
	}
}

// Hello waits for the guest's hello, for probe boots.
func (g *Guest) Hello(ctx context.Context) (*protocol.Message, error) {
	for {
		select {
		case m, ok := <-g.Events.C():
			if !ok {
				return nil, fmt.Errorf("guest ended without a hello; QEMU: %s; console: %s", console.LastLine(g.VM.Stderr()), console.LastLine(g.Console.Tail(3)))
			}
			if m.Kind == protocol.KindHello {
				return &m, nil
			}
		case <-ctx.Done():
			return nil, fmt.Errorf("%w (console: %s)", qemu.ErrNoHello, console.LastLine(g.Console.Tail(3)))
		}
	}
}

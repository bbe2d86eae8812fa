// Package qemu boots a kernel and initramfs under QEMU for one scenario: it
// builds the command line (a pure function of a Config), starts the process,
// captures the console, carries the results serial channel, watches QMP for
// guest panics and shutdowns, and makes sure nothing outlives the caller.
package qemu

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Accel is a QEMU accelerator.
type Accel string

// Accelerators.
const (
	KVM Accel = "kvm"
	TCG Accel = "tcg"
)

// Config is everything the QEMU command line is made from.
type Config struct {
	// Binary is the QEMU executable; default qemu-system-x86_64.
	Binary string
	Kernel string
	Initrd string
	// Append is the kernel command line.
	Append []string
	Accel  Accel
	// MemoryMiB defaults to 1024, CPUs to 1.
	MemoryMiB int
	CPUs      int
	// ResultsSocket is the host's listening UNIX socket QEMU connects the
	// guest's second serial port (ttyS1) to.
	ResultsSocket string
	// QMPSocket is where QEMU serves QMP.
	QMPSocket string
	// NoPVPanic leaves out the pvpanic device.
	NoPVPanic bool
	// MemoryFile backs guest RAM with a file, for snapshots (see
	// VM.Save): with MemoryShared the guest's writes reach the file (the
	// VM a snapshot is taken of); without, the file is mapped copy on
	// write and never changes (the VMs restored from it, any number at
	// once).
	MemoryFile   string
	MemoryShared bool
	// Incoming starts QEMU paused, waiting for a saved state (VM.Load).
	Incoming bool
	// Drives are disk images attached read-only as virtio disks, in
	// order: the guest sees the first as /dev/vda, the next as
	// /dev/vdb, and so on (see GuestDisk).
	Drives []string
}

// Option sets part of a Config; it fails on a value that cannot work.
type Option func(*Config) error

// NewConfig returns a Config with defaults, then the options applied in order.
func NewConfig(opts ...Option) (*Config, error) {
	c := &Config{Binary: "qemu-system-x86_64", MemoryMiB: 1024, CPUs: 1, Accel: TCG}
	for _, o := range opts {
		if err := o(c); err != nil {
			return nil, err
		}
	}
	if c.Kernel == "" {
		return nil, errors.New("qemu: no kernel")
	}
	if c.ResultsSocket == "" || c.QMPSocket == "" {
		return nil, errors.New("qemu: results and QMP sockets must be set")
	}
	return c, nil
}

// WithKernel boots kernel with the initramfs initrd.
func WithKernel(kernel, initrd string) Option {
	return func(c *Config) error {
		c.Kernel, c.Initrd = kernel, initrd
		return nil
	}
}

// WithAppend adds kernel command-line arguments.
func WithAppend(args ...string) Option {
	return func(c *Config) error {
		c.Append = append(c.Append, args...)
		return nil
	}
}

// WithAccel picks the accelerator.
func WithAccel(a Accel) Option {
	return func(c *Config) error {
		if a != KVM && a != TCG {
			return fmt.Errorf("qemu: unknown accelerator %q (want kvm or tcg)", a)
		}
		c.Accel = a
		return nil
	}
}

// WithMemory sets the guest memory in MiB.
func WithMemory(mib int) Option {
	return func(c *Config) error {
		if mib < 128 {
			return fmt.Errorf("qemu: %d MiB of memory is too little for a guest (at least 128)", mib)
		}
		c.MemoryMiB = mib
		return nil
	}
}

// WithSockets sets the results and QMP socket paths.
func WithSockets(results, qmp string) Option {
	return func(c *Config) error {
		c.ResultsSocket, c.QMPSocket = results, qmp
		return nil
	}
}

// WithReadOnlyDrive attaches the raw disk image at path as the next
// read-only virtio disk. QEMU opens it read-only, so a guest can never
// change a cached image, and several guests may share it.
func WithReadOnlyDrive(path string) Option {
	return func(c *Config) error {
		if path == "" {
			return errors.New("qemu: a drive needs an image path")
		}
		c.Drives = append(c.Drives, path)
		return nil
	}
}

// GuestDisk is the guest's device for the i-th drive of a Config (from 0):
// virtio disks are named in the order QEMU's command line adds them.
func GuestDisk(i int) string {
	name := ""
	for i++; i > 0; i = (i - 1) / 26 {
		name = string(rune('a'+(i-1)%26)) + name
	}
	return "/dev/vd" + name
}

// WithBinary sets the QEMU executable.
func WithBinary(path string) Option {
	return func(c *Config) error {
		if path != "" {
			c.Binary = path
		}
		return nil
	}
}

// WithMemoryFile backs guest RAM with the file at path, written through
// when shared, else mapped copy on write.
func WithMemoryFile(path string, shared bool) Option {
	return func(c *Config) error {
		if path == "" {
			return errors.New("qemu: no memory file")
		}
		c.MemoryFile, c.MemoryShared = path, shared
		return nil
	}
}

// WithIncoming starts QEMU waiting for a saved state instead of booting.
func WithIncoming() Option {
	return func(c *Config) error {
		c.Incoming = true
		return nil
	}
}

// DefaultAppend is the kernel command line every boot gets: the console on
// the first serial port, a panic or oops ends the VM at once (QEMU runs with
// -no-reboot), and TSEM does not model the root namespace (scenarios model
// their own namespaces; root modeling makes boot four times slower).
var DefaultAppend = []string{"console=ttyS0", "panic=-1", "oops=panic", "tsem_mode=no_root_modeling", "quiet", "loglevel=4"}

// Cmdline returns QEMU's argv. It does no I/O.
func (c *Config) Cmdline() []string {
	args := []string{c.Binary, "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot"}
	// q35 under both accelerators: microvm does not boot under TCG.
	machine, cpu := "q35,accel=tcg", "max"
	if c.Accel == KVM {
		machine, cpu = "q35,accel=kvm", "host"
	}
	if c.MemoryFile != "" {
		machine += ",memory-backend=ram"
		args = append(args, "-object", fmt.Sprintf("memory-backend-file,id=ram,size=%dM,mem-path=%s,share=%s",
			c.MemoryMiB, optionValue(c.MemoryFile), map[bool]string{true: "on", false: "off"}[c.MemoryShared]))
	}
	args = append(args, "-machine", machine, "-cpu", cpu)
	args = append(args,
		"-m", strconv.Itoa(c.MemoryMiB),
		"-smp", strconv.Itoa(c.CPUs),
		// ttyS0: the console, on QEMU's stdout.
		"-chardev", "stdio,id=console,signal=off",
		"-serial", "chardev:console",
		// ttyS1: the results channel, never mixed with the console.
		"-chardev", "socket,id=results,path="+c.ResultsSocket,
		"-serial", "chardev:results",
		"-qmp", "unix:"+c.QMPSocket+",server=on,wait=off",
	)
	if !c.NoPVPanic {
		args = append(args, "-device", "pvpanic-pci")
	}
	for _, d := range c.Drives {
		// A comma in a QEMU option value is written twice.
		args = append(args, "-drive", "file="+strings.ReplaceAll(d, ",", ",,")+",format=raw,if=virtio,readonly=on")
	}
	args = append(args, "-kernel", c.Kernel)
	if c.Initrd != "" {
		args = append(args, "-initrd", c.Initrd)
	}
	if len(c.Append) > 0 {
		args = append(args, "-append", strings.Join(c.Append, " "))
	}
	if c.Incoming {
		args = append(args, "-incoming", "defer")
	}
	return args
}

// optionValue escapes a value inside a QEMU option list (a comma is
// written twice).
func optionValue(v string) string { return strings.ReplaceAll(v, ",", ",,") }

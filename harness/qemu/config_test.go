package qemu

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tsemlab/tsemlab/internal/testutil"
)

func TestCmdline_PinsEveryFlag(t *testing.T) {
	base := []Option{
		WithKernel("/cache/vmlinuz-6.1.0", "/cache/initramfs.cpio"),
		WithSockets("/run/tsemlab/results.sock", "/run/tsemlab/qmp.sock"),
		WithAppend(DefaultAppend...),
	}
	tests := []struct {
		name   string
		opts   []Option
		mutate func(*Config)
	}{
		{name: "tcg", opts: []Option{WithAccel(TCG)}},
		{name: "kvm", opts: []Option{WithAccel(KVM), WithMemory(2048), WithBinary("/opt/qemu/bin/qemu-system-x86_64")}},
		{name: "tcg-snapshot-source", opts: []Option{WithAccel(TCG), WithMemoryFile("/cache/snapshots/k,1/ram", true)}},
		{name: "tcg-snapshot-restore", opts: []Option{WithAccel(TCG), WithMemoryFile("/cache/snapshots/k/ram", false), WithIncoming()}},
		{name: "tcg-drives", opts: []Option{WithAccel(TCG), WithReadOnlyDrive("/cache/images/httpd-eb2bf6c4bba86aba.erofs"), WithReadOnlyDrive("/odd,name.erofs")}},
		{name: "tcg-no-pvpanic-no-initrd", opts: []Option{WithKernel("/k/bzImage", ""), WithAppend("tsem_mode=1")}, mutate: func(c *Config) {
			c.NoPVPanic = true
			c.CPUs = 2
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := NewConfig(append(append([]Option{}, base...), tt.opts...)...)
			require.NoError(t, err)
			if tt.mutate != nil {
				tt.mutate(c)
			}
			testutil.Golden(t, filepath.Join("testdata", "cmdline-"+tt.name+".golden"), []byte(strings.Join(c.Cmdline(), "\n")+"\n"))
		})
	}
}

func TestGuestDisk_NamesVirtioDisksInOrder(t *testing.T) {
	for i, want := range map[int]string{0: "/dev/vda", 1: "/dev/vdb", 25: "/dev/vdz", 26: "/dev/vdaa", 27: "/dev/vdab", 701: "/dev/vdzz", 702: "/dev/vdaaa"} {
		assert.Equal(t, want, GuestDisk(i), "drive %d", i)
	}
}

func TestCmdline_IsPure(t *testing.T) {
	c, err := NewConfig(WithKernel("/k", "/i"), WithSockets("/r", "/q"))
	require.NoError(t, err)
	first := c.Cmdline()
	first[0] = "changed by the caller"
	assert.Equal(t, "qemu-system-x86_64", c.Cmdline()[0], "Cmdline must return a fresh slice")
}

func TestNew_Defaults(t *testing.T) {
	c, err := NewConfig(WithKernel("/k", ""), WithSockets("/r", "/q"))
	require.NoError(t, err)
	assert.Equal(t, &Config{Binary: "qemu-system-x86_64", Kernel: "/k", MemoryMiB: 1024, CPUs: 1, Accel: TCG, ResultsSocket: "/r", QMPSocket: "/q"}, c)
}

func TestNew_RejectsConfigsThatCannotWork(t *testing.T) {
	ok := []Option{WithKernel("/k", "/i"), WithSockets("/r", "/q")}
	tests := []struct {
		name string
		opts []Option
		want string
	}{
		{"unknown accelerator", append([]Option{WithAccel("xen")}, ok...), `qemu: unknown accelerator "xen" (want kvm or tcg)`},
		{"too little memory", append([]Option{WithMemory(64)}, ok...), "qemu: 64 MiB of memory is too little for a guest (at least 128)"},
		{"drive without a path", append([]Option{WithReadOnlyDrive("")}, ok...), "qemu: a drive needs an image path"},
		{"no kernel", []Option{WithSockets("/r", "/q")}, "qemu: no kernel"},
		{"no sockets", []Option{WithKernel("/k", "/i")}, "qemu: results and QMP sockets must be set"},
		{"no QMP socket", []Option{WithKernel("/k", "/i"), WithSockets("/r", "")}, "qemu: results and QMP sockets must be set"},
		{"no results socket", []Option{WithKernel("/k", "/i"), WithSockets("", "/q")}, "qemu: results and QMP sockets must be set"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := NewConfig(tt.opts...)
			require.Error(t, err)
			assert.Nil(t, c)
			assert.EqualError(t, err, tt.want)
		})
	}
}

func TestOptions_AcceptBoundaryValues(t *testing.T) {
	c, err := NewConfig(WithKernel("/k", ""), WithSockets("/r", "/q"), WithMemory(128), WithAccel(KVM), WithBinary(""))
	require.NoError(t, err)
	assert.Equal(t, 128, c.MemoryMiB)
	assert.Equal(t, KVM, c.Accel)
	assert.Equal(t, "qemu-system-x86_64", c.Binary, "an empty binary keeps the default")
}

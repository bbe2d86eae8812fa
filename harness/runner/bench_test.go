package runner

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/u-root/mkuimage/cpio"

	"github.com/tsemlab/tsemlab/harness/image"
	"github.com/tsemlab/tsemlab/harness/lab"
	"github.com/tsemlab/tsemlab/harness/qemu"
	"github.com/tsemlab/tsemlab/harness/result"
	"github.com/tsemlab/tsemlab/harness/scenario"
)

// Benchmarks (make bench) boot real VMs; each reports seconds per operation
// as custom metrics next to Go's ns/op.

const oneStep = `
name: one-step
phases:
  - name: p
    steps:
      - run: "true"
`

// BenchmarkBootToFirstStep: QEMU start to the orchestrator starting the
// first step, through u-root's init, module loading and the hello.
func BenchmarkBootToFirstStep(b *testing.B) {
	l := prepareB(b)
	f := filepath.Join(b.TempDir(), "one-step.yaml")
	require.NoError(b, os.WriteFile(f, []byte(oneStep), 0o644))
	all, err := scenario.LoadAll(context.Background(), []string{f})
	require.NoError(b, err)
	var first, uptime float64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		run := Run(context.Background(), labConfig(l, b.TempDir()), all)
		sc := run.Scenarios[0]
		require.Equal(b, result.Pass, sc.Status, sc.Reason)
		first += sc.FirstStep.Seconds()
		uptime += sc.GuestUptimeAtHello.Seconds()
	}
	b.ReportMetric(first/float64(b.N), "s-to-first-step")
	b.ReportMetric(uptime/float64(b.N), "s-guest-uptime-at-hello")
}

// BenchmarkBareBoot: the same kernel with a one-line init (a static binary
// that prints a line and reboots): the floor boot-to-first-step is measured
// against.
func BenchmarkBareBoot(b *testing.B) {
	l := prepareB(b)
	dir := b.TempDir()
	initrd := bareInitramfs(b, dir)
	var total float64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		cfg, err := qemu.NewConfig(qemu.WithBinary(l.QEMU), qemu.WithKernel(l.Kernel.Path, initrd), qemu.WithAppend(qemu.DefaultAppend...),
			qemu.WithAccel(l.Accel.Accel), qemu.WithSockets(filepath.Join(dir, "r.sock"), filepath.Join(dir, "q.sock")))
		require.NoError(b, err)
		seen := make(chan struct{})
		w := &watch{marker: []byte("tsemlab-bare-init"), seen: seen}
		start := time.Now()
		vm, err := qemu.Start(context.Background(), cfg, w, discard())
		require.NoError(b, err)
		select {
		case <-seen:
		case <-time.After(5 * time.Minute):
			b.Fatal("bare init never printed")
		}
		total += time.Since(start).Seconds()
		vm.Stop(time.Second)
		os.Remove(filepath.Join(dir, "r.sock"))
	}
	b.ReportMetric(total/float64(b.N), "s-to-init-line")
}

// BenchmarkSuite: every shipped scenario on the lab's kernel.
func BenchmarkSuite(b *testing.B) {
	l := prepareB(b)
	all, err := scenario.LoadAll(context.Background(), []string{"../../scenarios"})
	require.NoError(b, err)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		run := Run(context.Background(), labConfig(l, b.TempDir()), all)
		for _, sc := range run.Scenarios {
			require.Contains(b, []result.Status{result.Pass, result.Skip}, sc.Status, "%s: %s", sc.Name, sc.Reason)
		}
	}
}

// BenchmarkPrepareCacheHit: what a run pays before booting when the kernel,
// image and accelerator answer are all cached.
func BenchmarkPrepareCacheHit(b *testing.B) {
	prepareB(b)
	src, err := image.FindSource(".")
	require.NoError(b, err)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		_, err := lab.Prepare(context.Background(), lab.Options{Accel: "auto", CacheDir: cacheDir(b), SourceDir: src, Log: discard()})
		require.NoError(b, err)
	}
}

func prepareB(b *testing.B) *lab.Lab {
	b.Helper()
	src, err := image.FindSource(".")
	require.NoError(b, err)
	l, err := lab.Prepare(context.Background(), lab.Options{KernelPath: os.Getenv("TSEMLAB_BENCH_KERNEL"), Accel: "auto", CacheDir: cacheDir(b), SourceDir: src, Log: discard()})
	require.NoError(b, err)
	return l
}

// bareInitramfs builds an initramfs whose /init is a static Go program of
// one statement that matters: print a line, then end the VM.
func bareInitramfs(b *testing.B, dir string) string {
	src := filepath.Join(dir, "init.go")
	require.NoError(b, os.WriteFile(src, []byte(`package main

import ("os"; "syscall")

func main() {
	os.Stdout.WriteString("tsemlab-bare-init\n")
	syscall.Reboot(syscall.LINUX_REBOOT_CMD_RESTART)
}
`), 0o644))
	bin := filepath.Join(dir, "init")
	cmd := exec.Command("go", "build", "-o", bin, src)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=")
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	require.NoError(b, err, string(out))
	data, err := os.ReadFile(bin)
	require.NoError(b, err)
	initrd := filepath.Join(dir, "bare.cpio")
	f, err := os.Create(initrd)
	require.NoError(b, err)
	defer f.Close()
	w := cpio.Newc.Writer(f)
	require.NoError(b, cpio.WriteRecords(w, []cpio.Record{
		cpio.Directory("dev", 0o755),
		cpio.CharDev("dev/console", 0o600, 5, 1),
		cpio.StaticFile("init", string(data), 0o755),
	}))
	require.NoError(b, cpio.WriteTrailer(w))
	return initrd
}

type watch struct {
	buf    bytes.Buffer
	marker []byte
	seen   chan struct{}
	done   bool
}

func (w *watch) Write(p []byte) (int, error) {
	w.buf.Write(p)
	if !w.done && bytes.Contains(w.buf.Bytes(), w.marker) {
		w.done = true
		close(w.seen)
	}
	return len(p), nil
}

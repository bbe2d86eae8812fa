package runner

import (
	"bytes"
	"context"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/u-root/mkuimage/cpio"

	"github.com/tsemlab/tsemlab/harness/boot"
	"github.com/tsemlab/tsemlab/harness/image"
	"github.com/tsemlab/tsemlab/harness/lab"
	"github.com/tsemlab/tsemlab/harness/qemu"
	"github.com/tsemlab/tsemlab/harness/result"
	"github.com/tsemlab/tsemlab/harness/scenario"
)

// Benchmarks (make bench) boot real VMs. Each reports its samples' median,
// minimum and maximum in seconds as custom metrics next to Go's ns/op, and
// logs every run's samples. They measure the stock kernel, and the kernels
// TSEMLAB_BENCH_KERNELS names (NAME=PATH or PATH, comma-separated: a
// tinyconfig and a defconfig-based TSEM kernel, say) side by side.

const oneStep = `
name: one-step
phases:
  - name: p
    steps:
      - run: "true"
`

// BenchmarkBoot: per kernel, each run boots three ways, one after the
// other: bare (a one-line static init: the floor), cold (the guest's init
// and its mounts, orchestrator, modules, hello, to the first step) and restored (a VM
// loading the machine's snapshot, to the first step). It reports the cold
// boot against the bare one, where the cold boot's time went (guest
// clock), the restore, and each scenario's time outside its step.
func BenchmarkBoot(b *testing.B) {
	for _, k := range benchKernels(b) {
		b.Run(k.name, func(b *testing.B) { benchBoot(b, k.path) })
	}
}

// bootSamples are BenchmarkBoot's measurements, one per run each.
type bootSamples struct {
	bare, cold, coldHello, restored, restoredHello          samples
	coldOverhead, restoredOverhead                          samples
	beforeKernel, kernelToInit, initToOrchestrator, modules samples
	// The guest's init: its Go start (kernel starting /init to init's
	// main), its mounts, and the orchestrator's exec and Go start.
	initGoStart, initSetup, orchestratorExec samples
	describe                                 samples
}

func benchBoot(b *testing.B, kernelPath string) {
	if sizingRun(b) {
		return
	}
	l := prepareB(b, kernelPath)
	dir := b.TempDir()
	bare := bareInitramfs(b, dir)
	f := filepath.Join(dir, "one-step.yaml")
	require.NoError(b, os.WriteFile(f, []byte(oneStep), 0o644))
	all, err := scenario.LoadAll(context.Background(), []string{f})
	require.NoError(b, err)
	// The snapshot is made before anything is timed: that is one cold
	// boot and a save, once per machine and cache.
	snap := ensureSnapshot(b, l)
	var s bootSamples
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		s.bare.add(bareBoot(b, l, bare, dir))
		cold := runOne(b, labConfig(l, b.TempDir()), all, nil)
		warm := runOne(b, labConfig(l, b.TempDir()), all, snapshots)
		require.True(b, strings.HasPrefix(warm.Env.Boot, "restored snapshot"), warm.Env.Boot)
		s.cold.add(cold.FirstStep.Seconds())
		s.coldHello.add(cold.BootTime.Seconds())
		s.restored.add(warm.FirstStep.Seconds())
		s.restoredHello.add(warm.BootTime.Seconds())
		s.coldOverhead.add((cold.Duration.Std() - cold.StepsTime()).Seconds())
		s.restoredOverhead.add((warm.Duration.Std() - warm.StepsTime()).Seconds())
		if gb := cold.GuestBoot; gb != nil {
			// Host wall time to the hello minus the guest's uptime then:
			// QEMU's start, firmware and the kernel's decompression.
			s.beforeKernel.add(cold.BootTime.Seconds() - cold.GuestUptimeAtHello.Seconds())
			s.kernelToInit.add(gb.InitStart.Seconds())
			s.initToOrchestrator.add(gb.OrchestratorStart.Seconds() - gb.InitStart.Seconds())
			s.modules.add(gb.ModulesTook.Seconds())
			if gb.InitMain > 0 {
				s.initGoStart.add(gb.InitMain.Seconds() - gb.InitStart.Seconds())
				s.initSetup.add(gb.InitReady.Seconds() - gb.InitMain.Seconds())
				s.orchestratorExec.add(gb.OrchestratorStart.Seconds() - gb.InitReady.Seconds())
			}
			s.describe.add(gb.DescribeTook.Seconds())
		}
		b.Logf("run %d: bare %.2fs; cold %.2fs to first step (hello %.2fs, guest uptime %.2fs); restored %.2fs to first step (hello %.2fs); outside the step: cold %.2fs, restored %.2fs",
			i+1, s.bare[i], s.cold[i], s.coldHello[i], cold.GuestUptimeAtHello.Seconds(), s.restored[i], s.restoredHello[i], s.coldOverhead[i], s.restoredOverhead[i])
	}
	b.StopTimer()
	s.report(b)
	b.ReportMetric(snap.Meta.SaveTime.Std().Seconds(), "snapshot-save-s")
}

func (s *bootSamples) report(b *testing.B) {
	s.bare.report(b, "bare")
	s.cold.report(b, "cold")
	b.ReportMetric(s.cold.median()/s.bare.median(), "cold/bare")
	s.restored.report(b, "restored")
	s.restoredHello.report(b, "restore-to-hello")
	s.coldOverhead.report(b, "cold-overhead")
	s.restoredOverhead.report(b, "restored-overhead")
	b.ReportMetric(s.beforeKernel.median(), "qemu+firmware-s")
	b.ReportMetric(s.kernelToInit.median(), "kernel-to-init-s")
	b.ReportMetric(s.initToOrchestrator.median(), "init-to-orchestrator-s")
	b.ReportMetric(s.initGoStart.median(), "init-go-start-s")
	b.ReportMetric(s.initSetup.median(), "init-mounts-s")
	b.ReportMetric(s.orchestratorExec.median(), "orchestrator-exec-s")
	b.ReportMetric(s.modules.median(), "modules-s")
	b.ReportMetric(s.describe.median(), "describe-s")
}

// BenchmarkSuite: per kernel and suite (the shipped scenarios, and
// testdata/bench-suite where every scenario boots), cold and from a
// snapshot, each run runs the suite at -j1 and then at -j2 (longest first
// from the -j1 timings). It reports both wall times, their ratio, and each
// scenario's time outside its steps.
func BenchmarkSuite(b *testing.B) {
	suites := []struct{ name, dir string }{{"stock-suite", "../../scenarios"}, {"bench-suite", "testdata/bench-suite"}}
	for _, k := range benchKernels(b) {
		for _, su := range suites {
			for _, mode := range []string{"snapshot", "cold"} {
				b.Run(k.name+"/"+su.name+"/"+mode, func(b *testing.B) { benchSuite(b, k.path, su.dir, mode == "snapshot") })
			}
		}
	}
}

func benchSuite(b *testing.B, kernelPath, dir string, snap bool) {
	if sizingRun(b) {
		return
	}
	l := prepareB(b, kernelPath)
	all, err := scenario.LoadAll(context.Background(), []string{dir})
	require.NoError(b, err)
	if snap {
		ensureSnapshot(b, l)
	}
	images := workloadImages(b, all)
	timings := filepath.Join(b.TempDir(), "timings.json")
	var j1, j2, overhead, tsemOverhead samples
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		var walls [2]float64
		for j := 1; j <= 2; j++ {
			c := labConfig(l, b.TempDir())
			c.Jobs, c.Timings, c.RootFS = j, timings, images
			if !snap {
				c.Snapshots = nil
			}
			start := time.Now()
			run := Run(context.Background(), c, all)
			walls[j-1] = time.Since(start).Seconds()
			for _, sc := range run.Scenarios {
				// A scenario that fails on a kernel bug (nnp-setuid on a
				// TSEM kernel whose prctl hook swallows every call) still
				// ran every step: its time counts.
				require.Contains(b, []result.Status{result.Pass, result.Skip, result.Fail}, sc.Status, "%s: %s", sc.Name, sc.Reason)
				if sc.Status == result.Fail {
					b.Logf("%s failed (%s); its time still counts", sc.Name, sc.Reason)
				}
				if j == 1 && sc.Status != result.Skip {
					outside := (sc.Duration.Std() - sc.StepsTime()).Seconds()
					overhead.add(outside)
					if tsemScenario(sc) {
						tsemOverhead.add(outside)
					}
				}
			}
		}
		j1.add(walls[0])
		j2.add(walls[1])
		b.Logf("run %d: -j1 %.1fs, -j2 %.1fs (%.2fx)", i+1, walls[0], walls[1], walls[1]/walls[0])
	}
	b.StopTimer()
	j1.report(b, "j1")
	j2.report(b, "j2")
	b.ReportMetric(j2.median()/j1.median(), "j2/j1")
	overhead.report(b, "overhead")
	tsemOverhead.report(b, "tsem-overhead")
	b.ReportMetric(float64(len(overhead))/float64(b.N), "booted/run")
}

// tsemScenario says whether a scenario ran a phase in a TSEM namespace.
func tsemScenario(sc *result.Scenario) bool {
	for _, p := range sc.Phases {
		if p.NamespaceID != "" {
			return true
		}
	}
	return false
}

// BenchmarkPrepareCacheHit: what a run pays before booting when the kernel,
// image and accelerator answer are all cached.
func BenchmarkPrepareCacheHit(b *testing.B) {
	prepareB(b, "")
	src, err := image.FindSource(".")
	require.NoError(b, err)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		_, err := lab.Prepare(context.Background(), lab.Options{Accel: "auto", CacheDir: cacheDir(b), SourceDir: src, Log: discard()})
		require.NoError(b, err)
	}
}

type benchKernel struct{ name, path string }

// benchKernels is the stock kernel, then those TSEMLAB_BENCH_KERNELS
// names.
func benchKernels(b *testing.B) []benchKernel {
	ks := []benchKernel{{"stock", ""}}
	env := os.Getenv("TSEMLAB_BENCH_KERNELS")
	if env == "" {
		b.Log("TSEMLAB_BENCH_KERNELS is unset: tinyconfig and defconfig-based kernels are not measured, only the stock kernel; set it to NAME=PATH,... (bzImages) to measure them side by side")
		return ks
	}
	for _, f := range strings.Split(env, ",") {
		name, path, ok := strings.Cut(strings.TrimSpace(f), "=")
		if !ok {
			name, path = kernelName(name), name
		}
		ks = append(ks, benchKernel{name, path})
	}
	return ks
}

// kernelName names a bzImage by its build tree when it is in one.
func kernelName(path string) string {
	if tree, ok := strings.CutSuffix(filepath.Clean(path), "/arch/x86/boot/bzImage"); ok {
		return filepath.Base(tree)
	}
	return filepath.Base(path)
}

// sizingRun reports Go's first call of a benchmark, with b.N = 1, when
// -benchtime gives a count above 1: that call only sizes the run, and is
// skipped here so that no VM boots for nothing.
func sizingRun(b *testing.B) bool {
	if b.N != 1 {
		return false
	}
	f := flag.Lookup("test.benchtime")
	if f == nil {
		return false
	}
	n, err := strconv.Atoi(strings.TrimSuffix(f.Value.String(), "x"))
	return strings.HasSuffix(f.Value.String(), "x") && err == nil && n > 1
}

func prepareB(b *testing.B, kernelPath string) *lab.Lab {
	b.Helper()
	src, err := image.FindSource(".")
	require.NoError(b, err)
	l, err := lab.Prepare(context.Background(), lab.Options{KernelPath: kernelPath, Accel: "auto", CacheDir: cacheDir(b), SourceDir: src, Log: discard()})
	require.NoError(b, err)
	return l
}

// ensureSnapshot makes the lab's machine's snapshot unless it exists.
func ensureSnapshot(b *testing.B, l *lab.Lab) *boot.Snapshot {
	b.Helper()
	c := labConfig(l, "")
	snap, err := snapshots.Get(context.Background(), boot.Spec{
		QEMU: c.QEMU, Kernel: c.Kernel.Path, Image: c.Image, Accel: c.Accel.Accel, KernelSHA256: c.Kernel.SHA256, QEMUVersion: c.QEMUVersion,
	})
	require.NoError(b, err)
	return snap
}

// runOne runs one scenario, restored from snaps or (nil) cold, and
// requires it to pass.
func runOne(b *testing.B, c Config, all []*scenario.Scenario, snaps *boot.Snapshots) *result.Scenario {
	c.Snapshots = snaps
	sc := Run(context.Background(), c, all).Scenarios[0]
	require.Equal(b, result.Pass, sc.Status, sc.Reason)
	return sc
}

// bareBoot boots the lab's kernel with the one-line init and returns the
// seconds from QEMU's start to its line.
func bareBoot(b *testing.B, l *lab.Lab, initrd, dir string) float64 {
	cfg, err := qemu.NewConfig(qemu.WithBinary(l.QEMU), qemu.WithKernel(l.Kernel.Path, initrd), qemu.WithAppend(qemu.DefaultAppend...),
		qemu.WithAccel(l.Accel.Accel), qemu.WithSockets(filepath.Join(dir, "r.sock"), filepath.Join(dir, "q.sock")))
	require.NoError(b, err)
	seen := make(chan struct{})
	w := &watch{marker: []byte("tsemlab-bare-init"), seen: seen}
	start := time.Now()
	vm, err := qemu.Start(context.Background(), cfg, w, discard())
	require.NoError(b, err)
	defer func() {
		vm.Stop(time.Second)
		os.Remove(filepath.Join(dir, "r.sock"))
	}()
	select {
	case <-seen:
	case <-time.After(5 * time.Minute):
		b.Fatal("bare init never printed")
	}
	return time.Since(start).Seconds()
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

// samples are one measurement's values in seconds, one per run.
type samples []float64

func (s *samples) add(v float64) { *s = append(*s, v) }

func (s samples) sorted() []float64 {
	c := append([]float64{}, s...)
	sort.Float64s(c)
	return c
}

func (s samples) median() float64 {
	c := s.sorted()
	switch {
	case len(c) == 0:
		return 0
	case len(c)%2 == 1:
		return c[len(c)/2]
	}
	return (c[len(c)/2-1] + c[len(c)/2]) / 2
}

// report reports the median, minimum and maximum as NAME-s, NAME-min-s
// and NAME-max-s.
func (s samples) report(b *testing.B, name string) {
	if len(s) == 0 {
		return
	}
	c := s.sorted()
	b.ReportMetric(s.median(), name+"-s")
	b.ReportMetric(c[0], name+"-min-s")
	b.ReportMetric(c[len(c)-1], name+"-max-s")
}

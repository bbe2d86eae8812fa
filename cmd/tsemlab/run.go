package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/tsemlab/tsemlab/harness/boot"
	"github.com/tsemlab/tsemlab/harness/lab"
	"github.com/tsemlab/tsemlab/harness/report"
	"github.com/tsemlab/tsemlab/harness/resultdir"
	"github.com/tsemlab/tsemlab/harness/runner"
	"github.com/tsemlab/tsemlab/harness/scenario"
	"github.com/tsemlab/tsemlab/harness/tempdir"
)

type runFlags struct {
	kernel, out, junit, json, format, accel string
	jobs                                    int
	timeout                                 time.Duration
	only, skip                              []string
	memory                                  int
	appendArgs                              []string
	snapshot                                string
}

func runCmd(g *globals) *cobra.Command {
	f := &runFlags{}
	c := &cobra.Command{
		Use:   "run [flags] PATH...",
		Short: "Boot the kernel and run scenarios (files or directories)",
		Long: `Run boots one VM per scenario and reports each step's outcome against the
scenario's expectations. Scenarios are validated first: any error exits 2
before anything boots. Results go to --out (console log, plan, result JSON and
artifacts per scenario; results.json for the run), rewritten as each scenario
ends, so an interrupted run keeps what it found.

With no --kernel, Debian's linux-image-cloud-amd64 is fetched with apt on
first use and cached (it has no TSEM: TSEM scenarios are skipped with the
reason). The guest image is built from this source tree with u-root on first
use and cached by a hash of its inputs, and so are the workload images
(images/NAME.yaml) that scenarios name with image: (a minute or more each, as
root; see images/README.md). Those build in the background, one at a time,
while the kernel and guest image are readied and the scenarios that need no
image run; a scenario waits only for its own images, and the images only
skipped scenarios name are not built.

With --snapshot=auto (the default) the guest boots once per kernel, image,
accelerator, memory size, kernel arguments and QEMU version: it is saved
right after its orchestrator starts, and every scenario restores that
snapshot in a VM of its own and is sent its plan, so no state of one
scenario reaches another. Snapshots are cached under the cache directory
(snapshots/, the twelve used last); a restore that fails falls back to a
cold boot, and the result's environment says which it was and why.
--snapshot=off boots every scenario cold. With one job, the scenarios that
boot with the same workload drives run one after the other; with -j N the
scenarios that took longest last time start first (timings.json in the
cache); results stay in file order.`,
		Example: `  tsemlab run scenarios/
  tsemlab run --kernel ~/tsem/arch/x86/boot/bzImage --junit junit.xml scenarios/process-grep.yaml
  tsemlab run --format ktap --only caps-chown scenarios/`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error { return doRun(cmd, g, f, args) },
	}
	fl := c.Flags()
	fl.StringVar(&f.kernel, "kernel", os.Getenv("TSEMLAB_KERNEL"), "bzImage to boot (default: Debian's cloud kernel, fetched and cached; env TSEMLAB_KERNEL)")
	fl.StringVar(&f.out, "out", "", "results directory (default results/<UTC time>-<random>, linked from results/latest)")
	fl.StringVar(&f.junit, "junit", "", "write JUnit XML to this file")
	fl.StringVar(&f.json, "json", "", "write the results as JSON to this file")
	fl.StringVar(&f.format, "format", "human", "stdout format: human, ktap or json")
	fl.StringVar(&f.accel, "accel", "auto", "accelerator: auto (probe KVM, fall back to TCG), kvm or tcg")
	fl.IntVarP(&f.jobs, "jobs", "j", 1, "VMs to run in parallel")
	fl.DurationVar(&f.timeout, "timeout", 0, "per-scenario time limit, overriding the scenarios' own (not scaled)")
	fl.StringSliceVar(&f.only, "only", nil, "run only scenarios with these names")
	fl.StringSliceVar(&f.skip, "skip", nil, "leave out scenarios with these names")
	fl.IntVar(&f.memory, "memory", 1024, "guest memory in MiB")
	fl.StringSliceVar(&f.appendArgs, "append", nil, "extra kernel command-line arguments")
	fl.StringVar(&f.snapshot, "snapshot", envOr("TSEMLAB_SNAPSHOT", "auto"), "auto: boot once, restore a snapshot per scenario (cold boot if that fails); off: boot every scenario (env TSEMLAB_SNAPSHOT)")
	return c
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func doRun(cmd *cobra.Command, g *globals, f *runFlags, args []string) error {
	ctx := cmd.Context()
	if !slices.Contains(report.Formats, f.format) {
		return badInput(fmt.Errorf("--format %q: use human, ktap or json", f.format))
	}
	if f.jobs < 1 {
		return badInput(fmt.Errorf("-j %d: need at least 1", f.jobs))
	}
	if f.snapshot != "auto" && f.snapshot != "off" {
		return badInput(fmt.Errorf("--snapshot %q: use auto or off", f.snapshot))
	}
	scenarios, err := scenario.LoadAll(ctx, args)
	if err != nil {
		return loadFailed(ctx, err)
	}
	scenarios, err = scenario.Select(scenarios, f.only, f.skip)
	if err != nil {
		return badInput(err)
	}
	tempdir.Sweep(g.log)
	src, err := lab.SourceDir()
	if err != nil {
		return &exitError{code: exitInfra, err: err}
	}
	cache, err := lab.CacheDir(g.log)
	if err != nil {
		return &exitError{code: exitInfra, err: err}
	}
	// The workload images build in the background from here on, while the
	// kernel and the guest image are readied and the scenarios that need
	// no image run.
	builds, err := lab.StartRootFS(ctx, rootfsOptions(g, src, cache), scenarios)
	if err != nil {
		if errors.Is(err, lab.ErrInfra) {
			return &exitError{code: exitInfra, err: err}
		}
		return badInput(err)
	}
	defer builds.Close()
	// A nil *Builds in the interface would not be a nil Images.
	var images runner.Images
	if builds != nil {
		images = builds
	}
	l, err := lab.Prepare(ctx, lab.Options{KernelPath: f.kernel, Accel: f.accel, CacheDir: cache, SourceDir: src, Log: g.log})
	if err != nil {
		if ctx.Err() != nil {
			return &exitError{code: exitInfra, err: fmt.Errorf("interrupted: %w", err)}
		}
		return &exitError{code: exitInfra, err: err}
	}
	defer l.Close()
	out := f.out
	if out == "" {
		if out, err = resultdir.New("results", time.Now()); err != nil {
			return &exitError{code: exitInfra, err: err}
		}
		if err := resultdir.Latest(out); err != nil {
			g.log.Warn("results/latest still points at an earlier run", "err", err)
		}
	} else if err := os.MkdirAll(out, 0o755); err != nil {
		return &exitError{code: exitInfra, err: err}
	}
	human := f.format == "human"
	color := human && isTerminal(os.Stdout) && os.Getenv("CI") == "" && os.Getenv("NO_COLOR") == ""
	progressTo := os.Stdout
	if !human {
		progressTo = os.Stderr
	}
	progress := report.NewProgress(progressTo, report.HumanOptions{Color: color})
	var snapshots *boot.Snapshots
	if f.snapshot == "auto" {
		snapshots = &boot.Snapshots{Dir: filepath.Join(cache, "snapshots"), Log: g.log}
	}
	run := runner.Run(ctx, runner.Config{
		Kernel: l.Kernel, Image: l.Image, Accel: l.Accel, QEMU: l.QEMU, QEMUVersion: l.QEMUVersion,
		OutDir: out, Timeout: f.timeout, Jobs: f.jobs, MemoryMiB: f.memory, Append: f.appendArgs, Facts: l.Facts,
		Log: g.log, Observer: progress, RootFS: images, Snapshots: snapshots, Timings: filepath.Join(cache, "timings.json"),
	}, scenarios)
	err = report.WriteAll(run, report.Options{
		Stdout: os.Stdout, Format: f.format, Color: color, Dir: out, JUnit: f.junit, JSON: f.json,
		GitHubSummary: os.Getenv("GITHUB_STEP_SUMMARY"), GitHubAnnotations: os.Getenv("GITHUB_ACTIONS") == "true",
	})
	if err != nil {
		return &exitError{code: exitInfra, err: fmt.Errorf("reports: %w", err)}
	}
	fmt.Fprintf(os.Stderr, "results: %s\n", out)
	if ctx.Err() != nil {
		return &exitError{code: exitInfra, err: fmt.Errorf("interrupted; partial results in %s", out)}
	}
	if code := report.ExitCode(run); code != 0 {
		return &exitError{code: code, err: errSilent}
	}
	return nil
}

type silent struct{}

func (silent) Error() string { return "" }

var errSilent error = silent{}

// rootfsOptions builds the workload images from the checkout's images/,
// with progress on a terminal.
func rootfsOptions(g *globals, src, cache string) lab.RootFSOptions {
	o := lab.RootFSOptions{Dir: filepath.Join(src, "images"), CacheDir: cache, Log: g.log}
	if isTerminal(os.Stderr) && os.Getenv("CI") != "true" {
		o.Progress = os.Stderr
	}
	return o
}

func isTerminal(f *os.File) bool { return term.IsTerminal(int(f.Fd())) }

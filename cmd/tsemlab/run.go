package main

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/tsemlab/tsemlab/harness/lab"
	"github.com/tsemlab/tsemlab/harness/report"
	"github.com/tsemlab/tsemlab/harness/result"
	"github.com/tsemlab/tsemlab/harness/runner"
	"github.com/tsemlab/tsemlab/harness/scenario"
)

type runFlags struct {
	kernel, out, junit, json, format, accel string
	jobs                                    int
	timeout                                 time.Duration
	only, skip                              []string
	memory                                  int
	appendArgs                              []string
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
use and cached by a hash of its inputs.`,
		Example: `  tsemlab run scenarios/
  tsemlab run --kernel ~/tsem/arch/x86/boot/bzImage --junit junit.xml scenarios/process-grep.yaml
  tsemlab run --format ktap --only caps-chown scenarios/`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error { return doRun(cmd, g, f, args) },
	}
	fl := c.Flags()
	fl.StringVar(&f.kernel, "kernel", os.Getenv("TSEMLAB_KERNEL"), "bzImage to boot (default: Debian's cloud kernel, fetched and cached; env TSEMLAB_KERNEL)")
	fl.StringVar(&f.out, "out", "", "results directory (default results/<UTC timestamp>)")
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
	return c
}

func doRun(cmd *cobra.Command, g *globals, f *runFlags, args []string) error {
	ctx := cmd.Context()
	switch f.format {
	case "human", "ktap", "json":
	default:
		return badInput(fmt.Errorf("--format %q: use human, ktap or json", f.format))
	}
	if f.jobs < 1 {
		return badInput(fmt.Errorf("-j %d: need at least 1", f.jobs))
	}
	scenarios, err := scenario.LoadAll(ctx, args)
	if err != nil {
		return loadFailed(ctx, err)
	}
	scenarios, err = scenario.Select(scenarios, f.only, f.skip)
	if err != nil {
		return badInput(err)
	}
	src, err := lab.SourceDir()
	if err != nil {
		return &exitError{code: exitInfra, err: err}
	}
	l, err := lab.Prepare(ctx, lab.Options{KernelPath: f.kernel, Accel: f.accel, CacheDir: lab.CacheDir(), SourceDir: src, Log: g.log})
	if err != nil {
		if ctx.Err() != nil {
			return &exitError{code: exitInfra, err: fmt.Errorf("interrupted: %w", err)}
		}
		return &exitError{code: exitInfra, err: err}
	}
	out := f.out
	if out == "" {
		out = filepath.Join("results", time.Now().UTC().Format("20060102T150405Z"))
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return &exitError{code: exitInfra, err: err}
	}
	if f.out == "" {
		latest := filepath.Join(filepath.Dir(out), "latest")
		_ = os.Remove(latest)
		_ = os.Symlink(filepath.Base(out), latest)
	}
	human := f.format == "human"
	color := human && isTerminal(os.Stdout) && os.Getenv("CI") == "" && os.Getenv("NO_COLOR") == ""
	progressTo := os.Stdout
	if !human {
		progressTo = os.Stderr
	}
	progress := report.NewProgress(progressTo, report.HumanOptions{Color: color})
	run := runner.Run(ctx, runner.Config{
		Kernel: l.Kernel, Image: l.Image, Accel: l.Accel, QEMU: l.QEMU, QEMUVersion: l.QEMUVersion,
		OutDir: out, Timeout: f.timeout, Jobs: f.jobs, MemoryMiB: f.memory, Append: f.appendArgs,
		Log: g.log, Observer: progress,
	}, scenarios)
	if err := writeReports(run, f, out, color); err != nil {
		return &exitError{code: exitInfra, err: err}
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

func writeReports(run *result.Run, f *runFlags, out string, color bool) error {
	var err error
	switch f.format {
	case "human":
		fmt.Println()
		err = report.Human(os.Stdout, run, report.HumanOptions{Color: color})
	case "ktap":
		err = report.KTAP(os.Stdout, run)
	case "json":
		err = report.JSON(os.Stdout, run)
	}
	if err != nil {
		return err
	}
	files := map[string]func(*os.File) error{}
	if f.junit != "" {
		files[f.junit] = func(w *os.File) error { return report.JUnit(w, run) }
	}
	if f.json != "" {
		files[f.json] = func(w *os.File) error { return report.JSON(w, run) }
	}
	files[filepath.Join(out, "junit.xml")] = func(w *os.File) error { return report.JUnit(w, run) }
	files[filepath.Join(out, "results.ktap")] = func(w *os.File) error { return report.KTAP(w, run) }
	if p := os.Getenv("GITHUB_STEP_SUMMARY"); p != "" {
		if err := appendTo(p, func(w *os.File) error { return report.GitHubSummary(w, run) }); err != nil {
			return err
		}
	}
	if os.Getenv("GITHUB_ACTIONS") == "true" {
		if err := report.GitHubAnnotations(os.Stdout, run); err != nil {
			return err
		}
	}
	for p, write := range files {
		w, err := os.Create(p)
		if err != nil {
			return err
		}
		if err := write(w); err != nil {
			w.Close()
			return fmt.Errorf("write %s: %w", p, err)
		}
		if err := w.Close(); err != nil {
			return err
		}
	}
	return nil
}

func appendTo(path string, write func(*os.File) error) error {
	w, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	if err := write(w); err != nil {
		w.Close()
		return err
	}
	return w.Close()
}

func isTerminal(f *os.File) bool { return term.IsTerminal(int(f.Fd())) }

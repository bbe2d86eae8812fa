package main

import (
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/tsemlab/tsemlab/harness/bisect"
	"github.com/tsemlab/tsemlab/harness/lab"
)

type bisectFlags struct {
	build     buildFlags
	scenario  string
	tree      string
	tries     int
	kernelOut string
	stepLog   string
	accel     string
	timeout   time.Duration
	endpoints bool
}

func bisectCmd(g *globals) *cobra.Command {
	f := &bisectFlags{}
	c := &cobra.Command{
		Use:   "bisect-step --scenario FILE [--fragment FILE]... [--base B] [--tries N] [--kernel-out DIR] [--check-endpoints GOOD BAD]",
		Short: "One step of git bisect run in a kernel tree: build, boot, run a scenario, exit 0/1/125",
		Long: `bisect-step is meant for git bisect run inside a kernel tree. It builds the
checked-out revision like tsemlab kernel build (cached; the build directory is
reused from step to step, so each step recompiles only what changed), boots
it and runs the scenario, then exits with git bisect's code:

  0    good: every run passed
  1    bad: a run failed, timed out or crashed (a panic is often the bug hunted)
  125  skip: the build failed, the configuration lost options the fragments
       ask for, the scenario was skipped, or the harness broke
  128  abort the bisect: bad input (flags, the scenario, a fragment), the
       same at every revision, or an interrupt

Each step prints one summary line (revision, verdict, reason, build and run
times, results directory) and appends it to tsemlab-bisect.log in the git
directory (--log to change). --tries N runs the scenario up to N times and
calls the revision bad if any run is bad, for intermittent bugs.

--check-endpoints GOOD BAD tests both revisions before a long bisect (from
the cache when they were built before; otherwise in a temporary worktree, so
your checkout is not touched) and exits 0 when GOOD passes and BAD fails,
1 otherwise, 128 for bad input, 3 when it could not tell. A relative --scenario path that does not exist here is looked up
in the tsemlab checkout.`,
		Example: `  git bisect start BAD GOOD
  tsemlab bisect-step --scenario scenarios/caps-chown.yaml --check-endpoints GOOD BAD
  git bisect run tsemlab bisect-step --scenario scenarios/caps-chown.yaml
  git bisect run tsemlab bisect-step --scenario scenarios/process-grep.yaml --fragment kernel/config/virt.config --fragment kernel/config/tsem.config --tries 3`,
		RunE: func(cmd *cobra.Command, args []string) error { return doBisect(cmd, g, f, args) },
	}
	fl := c.Flags()
	fl.StringVar(&f.scenario, "scenario", "", "scenario file to run (required)")
	fl.StringVar(&f.tree, "tree", "", "kernel tree (default: the git tree of the current directory)")
	fl.IntVar(&f.tries, "tries", 1, "run the scenario up to N times; bad if any run is bad")
	fl.StringVar(&f.kernelOut, "kernel-out", "", "copy each built bzImage to DIR/<revision>.bzImage")
	fl.StringVar(&f.stepLog, "log", "", "append each step's summary line to this file (default: tsemlab-bisect.log in the git directory)")
	fl.StringVar(&f.accel, "accel", "auto", "accelerator: auto, kvm or tcg")
	fl.DurationVar(&f.timeout, "timeout", 0, "scenario time limit, overriding the scenario's own")
	fl.BoolVar(&f.endpoints, "check-endpoints", false, "check that GOOD passes and BAD fails (two arguments) instead of testing the checkout")
	f.build.register(c)
	c.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return abortInput(fmt.Errorf("%w (see %s --help)", err, c.CommandPath()))
	})
	return c
}

// abortInput is a bisect-step input error: exit 128, which makes git
// bisect run stop instead of counting the revision bad (as tsemlab's
// usual 2 for bad input would).
func abortInput(err error) error { return &exitError{code: int(bisect.Abort), err: err} }

func doBisect(cmd *cobra.Command, g *globals, f *bisectFlags, args []string) error {
	switch {
	case f.endpoints != (len(args) == 2) || len(args) > 2:
		return abortInput(errors.New("give two revisions with --check-endpoints GOOD BAD, and none otherwise"))
	case f.scenario == "":
		return abortInput(errors.New("--scenario FILE is required"))
	}
	o, err := bisectOptions(g, f)
	if err != nil {
		return abortInput(err)
	}
	if f.endpoints {
		sums, err := bisect.CheckEndpoints(cmd.Context(), o, args[0], args[1])
		for _, s := range sums {
			fmt.Println(s.Line())
		}
		switch {
		case errors.Is(err, bisect.ErrEndpoints):
			return &exitError{code: 1, err: err}
		case errors.Is(err, bisect.ErrInput):
			return abortInput(err)
		case err != nil:
			return &exitError{code: exitInfra, err: err}
		}
		fmt.Printf("endpoints ok: %s is good and %s is bad; next: git bisect start %s %s && git bisect run tsemlab bisect-step --scenario %s\n",
			args[0], args[1], args[1], args[0], f.scenario)
		return nil
	}
	s := bisect.Step(cmd.Context(), o)
	fmt.Println(s.Line())
	if s.Verdict == bisect.Good {
		return nil
	}
	return &exitError{code: int(s.Verdict), err: errSilent}
}

// bisectOptions resolves the tree, the scenario and the build flags.
func bisectOptions(g *globals, f *bisectFlags) (bisect.Options, error) {
	top, err := bisect.TopLevel(f.tree)
	if err != nil {
		return bisect.Options{}, err
	}
	src, _ := lab.SourceDir()
	spec, err := f.build.spec("", "")
	if err != nil {
		return bisect.Options{}, err
	}
	b, err := f.build.builder(g)
	if err != nil {
		return bisect.Options{}, err
	}
	return bisect.Options{
		Tree: top, Scenario: bisect.ScenarioPath(f.scenario, src), Config: spec, Builder: b, Tries: f.tries,
		KernelOut: f.kernelOut, StepLog: f.stepLog, CacheDir: b.CacheDir, SourceDir: src, Accel: f.accel, Timeout: f.timeout, Log: g.log,
	}, nil
}

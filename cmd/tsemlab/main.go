// Command tsemlab builds and boots kernels under QEMU and runs TSEM and
// container-hardening scenarios against them, reporting like a test runner.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/tsemlab/tsemlab/harness/lab"
	"github.com/tsemlab/tsemlab/harness/report"
	"github.com/tsemlab/tsemlab/harness/scenario"
)

// Exit codes (the contract scripts and CI depend on), defined once in
// package report.
const (
	exitOK     = report.ExitOK
	exitBadUse = report.ExitBadInput
	exitInfra  = report.ExitInfra
)

// exitError carries an exit code out of a command.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func badInput(err error) error { return &exitError{code: exitBadUse, err: err} }

type globals struct {
	verbose bool
	log     *slog.Logger
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	g := &globals{}
	root := &cobra.Command{
		Use:   "tsemlab",
		Short: "Reproducible TSEM and container-hardening experiments in QEMU",
		Long: `tsemlab boots a kernel (a TSEM kernel you built, or Debian's cloud kernel by
default) with a u-root initramfs under QEMU, runs YAML scenarios in the guest,
and reports which steps were allowed and denied, like a test runner.

Exit codes: 0 every scenario passed or was skipped with a reason; 1 at least
one failed, timed out or crashed; 2 bad input (usage, scenario errors);
3 infrastructure failure (no QEMU, kernel missing, harness error).`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRun: func(cmd *cobra.Command, args []string) {
			level := slog.LevelInfo
			if g.verbose {
				level = slog.LevelDebug
			}
			g.log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
		},
	}
	root.PersistentFlags().BoolVarP(&g.verbose, "verbose", "v", false, "debug logging on stderr")
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return badInput(fmt.Errorf("%w (see %s --help)", err, c.CommandPath()))
	})
	root.AddCommand(runCmd(g), validateCmd(g), doctorCmd(g), imageCmd(g), kernelCmd(g), bisectCmd(g), showCmd(g), modelCmd(g), explainCmd(g))
	parent(root)
	err := root.ExecuteContext(ctx)
	os.Exit(exitCode(err))
}

// parent makes c, a command that groups subcommands, refuse anything else
// as an unknown command (exit 2, with a did-you-mean). Cobra would print
// the help and exit 0, so that a misspelt subcommand in a script passed.
// With no arguments c prints its help.
func parent(c *cobra.Command) *cobra.Command {
	if c.SuggestionsMinimumDistance <= 0 {
		c.SuggestionsMinimumDistance = 2 // cobra's default, set only on its own path
	}
	c.Args = func(cmd *cobra.Command, args []string) error {
		if len(args) == 0 {
			return nil
		}
		msg := fmt.Sprintf("unknown command %q for %q", args[0], cmd.CommandPath())
		if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
			msg += fmt.Sprintf("; did you mean %q?", s[0])
		} else {
			var names []string
			for _, sub := range cmd.Commands() {
				if sub.IsAvailableCommand() {
					names = append(names, sub.Name())
				}
			}
			msg += "; the commands are " + strings.Join(names, ", ")
		}
		return badInput(fmt.Errorf("%s (see %s --help)", msg, cmd.CommandPath()))
	}
	c.RunE = func(cmd *cobra.Command, args []string) error { return cmd.Help() }
	return c
}

func exitCode(err error) int {
	if err == nil {
		return exitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil && ee.err.Error() != "" {
			fmt.Fprintln(os.Stderr, "tsemlab:", ee.err)
		}
		return ee.code
	}
	fmt.Fprintln(os.Stderr, "tsemlab:", err)
	var ve scenario.ValidationErrors
	var one *scenario.ValidationError
	switch {
	case errors.As(err, &ve), errors.As(err, &one):
		return exitBadUse
	case errors.Is(err, lab.ErrInfra):
		return exitInfra
	}
	// Cobra's own usage errors (unknown command, wrong arg count).
	return exitBadUse
}

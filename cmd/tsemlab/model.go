package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/tsemlab/tsemlab/harness/explain"
	"github.com/tsemlab/tsemlab/harness/report"
	"github.com/tsemlab/tsemlab/model"
)

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

func modelCmd(g *globals) *cobra.Command {
	c := parent(&cobra.Command{Use: "model", Short: "Work with TSEM security models (Quixote format)"})
	c.AddCommand(&cobra.Command{
		Use:   "pseudonym PATH...",
		Short: "Print the pseudonym line for each path",
		Long: `Pseudonym prints "pseudonym <hex>" for each path: SHA-256 over the path's
length as a 32-bit little-endian number followed by its bytes, as TSEM
computes it. Paste the lines into a model learned with them active.
(The published experiment hashed the option string "-T" by mistake.)`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			for _, p := range args {
				if !strings.HasPrefix(p, "/") {
					fmt.Fprintf(os.Stderr, "tsemlab: warning: %q is not an absolute path; TSEM reports absolute pathnames\n", p)
				}
				fmt.Printf("pseudonym %s\n", model.Pseudonym(p))
			}
			return nil
		},
	})
	c.AddCommand(&cobra.Command{
		Use:   "lint MODEL",
		Short: "Check a model file against the loader's grammar",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			data, err := os.ReadFile(args[0])
			if err != nil {
				return badInput(err)
			}
			errs := 0
			for _, d := range model.Lint(bytes.NewReader(data)) {
				fmt.Printf("%s:%d: %s: %s\n", args[0], d.Line, d.Severity, d.Msg)
				if d.Severity == model.SeverityError {
					errs++
				}
			}
			if errs > 0 {
				return badInput(fmt.Errorf("%s: %d error(s)", args[0], errs))
			}
			m, _ := model.Parse(bytes.NewReader(data))
			fmt.Printf("%s: ok (%d states, %d pseudonyms, sealed %v)\n", args[0], len(m.States), len(m.Pseudonyms), m.Seal)
			return nil
		},
	})
	c.AddCommand(&cobra.Command{
		Use:   "backprop MODEL FORENSICS_COEFFICIENTS",
		Short: "Add forensic coefficients to a model (like quixote-console -M -u)",
		Long: `Backprop prints MODEL with every coefficient of FORENSICS_COEFFICIENTS (one hex
value per line, as in a phase's forensics_coefficients artifact) that it lacks
added as a state, after a "# N forensic updates" comment.

Every coefficient must be a hex digest of the model's length; the first one
that is not is reported as FILE:LINE and nothing is written (exit 2). The
result is checked as "model lint" would before it is printed.`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			m, err := readModel(args[0])
			if err != nil {
				return badInput(err)
			}
			f, err := os.Open(args[1])
			if err != nil {
				return badInput(err)
			}
			defer f.Close()
			coeffs, err := model.ReadCoefficients(f, m.HexLen())
			var se *model.SyntaxError
			switch {
			case errors.As(err, &se):
				return badInput(fmt.Errorf("%s:%d: %s; nothing written", args[1], se.Line, se.Msg))
			case err != nil:
				return badInput(fmt.Errorf("%s: %w", args[1], err))
			}
			n := model.Backprop(m, coeffs)
			if err := m.Check(); err != nil {
				return badInput(fmt.Errorf("%s with the coefficients of %s added would not load (%w); nothing written", args[0], args[1], err))
			}
			fmt.Fprintf(os.Stderr, "added %d forensic coefficient(s)\n", n)
			_, err = m.WriteTo(os.Stdout)
			return err
		},
	})
	c.AddCommand(modelDiffCmd())
	return c
}

func modelDiffCmd() *cobra.Command {
	var trajectory [2]string
	c := &cobra.Command{
		Use:   "diff A B",
		Short: "Show states and pseudonyms only in one of two models, with the events behind them",
		Long: `Diff prints the states and pseudonyms found in only one of two models ("-" only
in A, "+" only in B), and base, aggregate and seal when they differ. It exits 1
when the models differ.

When the runs' results are at hand, each state only in one model is followed
by a summary of the event behind it: the record on the same line of the learn
phase's trajectory as the state's line in its trajectory_coefficients. A model
a run exported (results/.../<scenario>/<name>.model) is found in plan.json
beside it; otherwise name the trajectory with --trajectory-a/--trajectory-b
(<phase>.trajectory, with <phase>.trajectory_coefficients beside it).`,
		Example: `  tsemlab model diff results/monday/process-grep/grep.model results/latest/process-grep/grep.model
  tsemlab model diff --trajectory-a old/learn.trajectory old.model new.model`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			var models [2]*model.Model
			var notes [2]map[string]string
			for i, path := range args {
				m, err := readModel(path)
				if err != nil {
					return badInput(err)
				}
				models[i] = m
				states, from, err := explain.ModelStates(path, trajectory[i])
				switch {
				case err != nil && trajectory[i] != "":
					return badInput(err)
				case err != nil:
					fmt.Fprintf(os.Stderr, "tsemlab: warning: no events for the states of %s: %v\n", path, err)
				case from != "":
					notes[i] = map[string]string{}
					for state, rec := range states {
						notes[i][state] = rec.Event.Summary()
					}
					fmt.Printf("events behind the states of %s: %s\n", path, from)
				}
			}
			d := model.Diff(models[0], models[1])
			fmt.Print(d.Annotated(notes[0], notes[1]))
			if !d.Empty() {
				return &exitError{code: report.ExitFailed, err: errSilent}
			}
			return nil
		},
	}
	c.Flags().StringVar(&trajectory[0], "trajectory-a", "", "the learn phase's trajectory behind model A (default: found from plan.json beside A)")
	c.Flags().StringVar(&trajectory[1], "trajectory-b", "", "the learn phase's trajectory behind model B (default: found from plan.json beside B)")
	return c
}

func readModel(path string) (*model.Model, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	m, err := model.Parse(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}

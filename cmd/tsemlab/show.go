package main

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/tsemlab/tsemlab/event"
	"github.com/tsemlab/tsemlab/harness/explain"
	"github.com/tsemlab/tsemlab/harness/report"
	"github.com/tsemlab/tsemlab/harness/result"
	"github.com/tsemlab/tsemlab/harness/resultdir"
)

func showCmd(g *globals) *cobra.Command {
	var trajectory, forensics, explainFlag bool
	var hook string
	c := &cobra.Command{
		Use:   "show RESULT_DIR",
		Short: "Show a past run: steps, outcomes, evidence, TSEM trajectory and forensics",
		Long: `Show reads a run's results directory (or one scenario's directory inside it)
and prints each scenario's steps with expected and seen outcomes and the
evidence, then the seccomp profiles learn phases recorded, with the count
of each system call, and the AppArmor denials and seccomp refusals the
kernel logged for steps. With --forensics or --trajectory it lists the TSEM event records of
each phase one readable line per event; --type keeps one hook (file_open ...).
With --explain it does what 'tsemlab explain' does for every scenario.`,
		Example: `  tsemlab show results/latest
  tsemlab show --forensics results/latest/process-grep
  tsemlab show --trajectory --type file_open results/latest/process-grep`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			d, err := resultdir.Open(args[0])
			if err != nil {
				return badInput(err)
			}
			defer d.Close()
			run, err := d.Run()
			if err != nil {
				return badInput(err)
			}
			if explainFlag {
				return explainRun(os.Stdout, run, explain.Options{})
			}
			if !trajectory && !forensics {
				if err := report.Human(os.Stdout, run, report.HumanOptions{Verbose: true}); err != nil {
					return err
				}
				return report.Labs(os.Stdout, run)
			}
			kinds := []string{}
			if trajectory {
				kinds = append(kinds, "trajectory")
			}
			if forensics {
				kinds = append(kinds, "forensics")
			}
			for _, sc := range run.Scenarios {
				for _, p := range sc.Phases {
					for _, k := range kinds {
						name := p.Name + "." + k
						data, err := d.Artifact(sc, name)
						if errors.Is(err, fs.ErrNotExist) {
							continue
						}
						if err != nil {
							return badInput(err)
						}
						evs, err := event.ParseAll(bytes.NewReader(data))
						if err != nil {
							return badInput(fmt.Errorf("%s: %w", filepath.Join(sc.Dir, name), err))
						}
						if err := report.Events(os.Stdout, fmt.Sprintf("%s %s %s", sc.Name, p.Name, k), evs, hook); err != nil {
							return err
						}
					}
				}
			}
			return nil
		},
	}
	c.Flags().BoolVar(&trajectory, "trajectory", false, "list each phase's trajectory events")
	c.Flags().BoolVar(&forensics, "forensics", false, "list each phase's forensic events")
	c.Flags().BoolVar(&explainFlag, "explain", false, "for each forensic event, the nearest learned event and the fields that differ")
	c.Flags().StringVar(&hook, "type", "", "only events of this hook type (e.g. file_open)")
	return c
}

// readRun reads the run in dir (a run's or one scenario's results
// directory), confined to it: see resultdir.
func readRun(dir string) (*result.Run, error) {
	d, err := resultdir.Open(dir)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	return d.Run()
}

package main

import (
	"io"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/tsemlab/tsemlab/harness/explain"
	"github.com/tsemlab/tsemlab/harness/result"
)

func explainCmd(g *globals) *cobra.Command {
	var opt explain.Options
	c := &cobra.Command{
		Use:   "explain RESULT_DIR/SCENARIO",
		Short: "For each forensic event, the nearest learned event and the fields that differ",
		Long: `Explain compares each forensic (out-of-model) event a phase recorded with the
nearest event of the model the phase loaded: the trajectory of the learn phase
that exported it (plan.json says which), and the phase's own events from before
sealing. Nearest means the same hook, then the same pathname or process, then
the fewest differing fields. It prints the fields that differ as a diff and
lists those it ignored because they do not enter TSEM's coefficient (event
number, timestamp, ... and s_uuid on tmpfs).

The argument is a scenario's results directory; a run's directory explains
every scenario. A directory of bare model0 files (<phase>.forensics,
<phase>.trajectory, no plan.json) works too: the phase with a trajectory and no
forensic events is taken as the learned one, or name it with --learned.`,
		Example: `  tsemlab explain results/latest/process-grep
  tsemlab explain --learned learn ./collected`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := args[0]
			if _, err := os.Stat(filepath.Join(dir, "results.json")); err == nil {
				run, err := readRun(dir)
				if err != nil {
					return badInput(err)
				}
				return explainRun(os.Stdout, run, opt)
			}
			return explainDirs(os.Stdout, []string{dir}, opt)
		},
	}
	c.Flags().StringVar(&opt.Learned, "learned", "", "the phase whose trajectory is the learned model (default: from plan.json)")
	return c
}

// explainRun explains every scenario of a run (show --explain).
func explainRun(w io.Writer, run *result.Run, opt explain.Options) error {
	var dirs []string
	for _, sc := range run.Scenarios {
		dirs = append(dirs, sc.Dir)
	}
	return explainDirs(w, dirs, opt)
}

func explainDirs(w io.Writer, dirs []string, opt explain.Options) error {
	var reports []*explain.Report
	for _, dir := range dirs {
		r, err := explain.Scenario(dir, opt)
		if err != nil {
			return badInput(err)
		}
		reports = append(reports, r)
	}
	return explain.Write(w, reports)
}

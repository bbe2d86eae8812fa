package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/tsemlab/tsemlab/harness/scenario"
)

func validateCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "validate PATH...",
		Short: "Check scenario files without booting anything",
		Long: `Validate parses and checks scenario files (or every *.yaml in directories)
exactly as run does, and prints every error as file:line:col: message.
Exit 0 when all are valid, 2 otherwise.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			all, err := scenario.LoadAll(cmd.Context(), args)
			if err != nil {
				return loadFailed(cmd.Context(), err)
			}
			for _, s := range all {
				steps := 0
				for _, p := range s.Phases {
					steps += len(p.Steps)
				}
				fmt.Printf("ok  %s  %s (%d phases, %d steps)\n", s.File, s.Name, len(s.Phases), steps)
			}
			return nil
		},
	}
}

// loadFailed gives a scenario.LoadAll error its exit code: 2 for bad
// scenarios, 3 when the user interrupted loading (as for an interrupted
// run).
func loadFailed(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return &exitError{code: exitInfra, err: err}
	}
	return badInput(err)
}

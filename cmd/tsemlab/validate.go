package main

import (
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
			all, err := scenario.LoadAll(args)
			if err != nil {
				return badInput(err)
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

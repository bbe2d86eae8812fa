package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/tsemlab/tsemlab/harness/report"
	"github.com/tsemlab/tsemlab/model"
)

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

func modelCmd(g *globals) *cobra.Command {
	c := &cobra.Command{Use: "model", Short: "Work with TSEM security models (Quixote format)"}
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
added as a state, after a "# N forensic updates" comment.`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			m, err := readModel(args[0])
			if err != nil {
				return badInput(err)
			}
			coeffs, err := readLines(args[1])
			if err != nil {
				return badInput(err)
			}
			n := model.Backprop(m, coeffs)
			fmt.Fprintf(os.Stderr, "added %d forensic coefficient(s)\n", n)
			_, err = m.WriteTo(os.Stdout)
			return err
		},
	})
	c.AddCommand(&cobra.Command{
		Use:   "diff A B",
		Short: "Show states and pseudonyms only in one of two models",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			a, err := readModel(args[0])
			if err != nil {
				return badInput(err)
			}
			b, err := readModel(args[1])
			if err != nil {
				return badInput(err)
			}
			d := model.Diff(a, b)
			fmt.Print(d.String())
			if !d.Empty() {
				return &exitError{code: report.ExitFailed, err: errSilent}
			}
			return nil
		},
	})
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

func readLines(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" {
			out = append(out, l)
		}
	}
	return out, sc.Err()
}

package explain

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"strings"
)

// ParseCoefficients reads a model0 coefficients file (trajectory_coefficients,
// forensics_coefficients): one hex coefficient per line, of a digest's
// length (40, 56, 64, 96 or 128 hex digits), all of one length. Blank lines are an error, since they would shift
// the lines against the records; only a missing final newline is allowed.
// Coefficients are returned in lower case.
func ParseCoefficients(r io.Reader) ([]string, error) {
	var out []string
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 256), 4096)
	for n := 1; sc.Scan(); n++ {
		c := strings.ToLower(strings.TrimRight(sc.Text(), "\r"))
		if err := checkHex(c); err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		if len(out) > 0 && len(c) != len(out[0]) {
			return nil, fmt.Errorf("line %d: %d hex digits, but line 1 has %d; all coefficients have one length", n, len(c), len(out[0]))
		}
		out = append(out, c)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("line %d: %w", len(out)+1, err)
	}
	return out, nil
}

func checkHex(c string) error {
	switch len(c) {
	case 40, 56, 64, 96, 128: // SHA-1, SHA-224, SHA-256, SHA-384, SHA-512
	default:
		return fmt.Errorf("%q is not a coefficient: it has %d hex digits; a digest has 40, 56, 64, 96 or 128", abbrev(c), len(c))
	}
	for i := 0; i < len(c); i++ {
		if !('0' <= c[i] && c[i] <= '9' || 'a' <= c[i] && c[i] <= 'f') {
			return fmt.Errorf("%q is not a coefficient: %q is not a hex digit", abbrev(c), c[i])
		}
	}
	return nil
}

func abbrev(s string) string {
	if len(s) > 20 {
		return s[:20] + "…"
	}
	return s
}

// ErrNotAligned is returned by States when a trajectory and its
// coefficients do not have the same number of lines: the phase loaded a
// model, whose states have no records, so lines cannot be paired.
var ErrNotAligned = errors.New("trajectory and trajectory_coefficients are not line-aligned")

// States pairs each coefficient of a phase's trajectory_coefficients
// with the record on the same line of its trajectory. The kernel writes
// both in the order the points were added, one line per point, so in a
// phase that loaded no model (a learn phase) line n of one is line n of
// the other; this was checked by recomputing the coefficients of the
// capable and file_open records of real trajectories. A phase that loaded
// a model has more coefficients than records and gives ErrNotAligned.
func States(coefficients []string, trajectory []Record) (map[string]Record, error) {
	if len(coefficients) != len(trajectory) {
		return nil, fmt.Errorf("%w: %d coefficients, %d records (a phase that loaded a model has states without records; use a learn phase's files)", ErrNotAligned, len(coefficients), len(trajectory))
	}
	out := make(map[string]Record, len(coefficients))
	for i, c := range coefficients {
		if _, dup := out[c]; !dup {
			out[c] = trajectory[i]
		}
	}
	return out, nil
}

// TrajectoryStates reads file (a <phase>.trajectory) and the
// <phase>.trajectory_coefficients beside it and pairs them with States.
func TrajectoryStates(file string) (map[string]Record, error) {
	dir, name := filepath.Split(file)
	if dir == "" {
		dir = "."
	}
	recs, ok, err := readRecords(dir, name)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("%s: %w", file, fs.ErrNotExist)
	}
	cname := name + "_coefficients"
	data, err := readFile(dir, cname)
	if err != nil {
		return nil, fmt.Errorf("coefficients of %s: %w", file, err)
	}
	coeffs, err := ParseCoefficients(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, cname), err)
	}
	states, err := States(coeffs, recs)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return states, nil
}

// ModelTrajectory finds the trajectory behind a model file exported by a
// run: when plan.json beside model names a phase exporting the model's
// file name, it returns that phase's <phase>.trajectory there. ok is
// false when model is not such an export.
func ModelTrajectory(model string) (file string, ok bool, err error) {
	dir, name := filepath.Split(model)
	if dir == "" {
		dir = "."
	}
	plan, havePlan, err := readPlan(dir)
	if err != nil || !havePlan {
		return "", false, err
	}
	for i := len(plan.Phases) - 1; i >= 0; i-- {
		if t := plan.Phases[i].TSEM; t != nil && t.Export == name {
			return filepath.Join(dir, plan.Phases[i].Name+".trajectory"), true, nil
		}
	}
	return "", false, nil
}

// ModelStates returns the records behind the states of the model file
// model: those of trajectory (a <phase>.trajectory with its
// trajectory_coefficients beside it), or, when trajectory is "", of the
// trajectory ModelTrajectory finds. from is the trajectory used; it is ""
// with no error when there is none to find.
func ModelStates(model, trajectory string) (states map[string]Record, from string, err error) {
	if trajectory == "" {
		var ok bool
		trajectory, ok, err = ModelTrajectory(model)
		if err != nil || !ok {
			return nil, "", err
		}
	}
	states, err = TrajectoryStates(trajectory)
	if err != nil {
		return nil, "", err
	}
	return states, trajectory, nil
}

package orchestrator

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"

	"kernel.org/pub/linux/libs/security/libcap/cap"

	"github.com/tsemlab/tsemlab/protocol"
)

// mergeCaps combines a phase's and a step's capability changes: the phase's
// are applied first.
func mergeCaps(phase, step *protocol.Caps) *protocol.Caps {
	switch {
	case phase == nil:
		return step
	case step == nil:
		return phase
	}
	return &protocol.Caps{
		Drop: append(append([]string{}, phase.Drop...), step.Drop...),
		Add:  append(append([]string{}, phase.Add...), step.Add...),
	}
}

// capexecArgs prefixes a command with this binary's capexec mode.
func capexecArgs(self string, c *protocol.Caps) []string {
	return []string{self, "capexec", "-drop", strings.Join(c.Drop, ","), "-add", strings.Join(c.Add, ","), "--"}
}

// Capexec is the `capexec` mode: it removes capabilities from the bounding
// and inheritable sets (so a root process cannot regain them across exec),
// adds back the ones named, and execs the command.
func Capexec(args []string) error {
	fs := flag.NewFlagSet("capexec", flag.ContinueOnError)
	drop := fs.String("drop", "", "capabilities to drop, comma-separated, or ALL")
	add := fs.String("add", "", "capabilities to keep after dropping, comma-separated")
	if err := fs.Parse(args); err != nil {
		return err
	}
	argv := fs.Args()
	if len(argv) == 0 {
		return errors.New("capexec: no command")
	}
	if err := limitCaps(*drop, *add); err != nil {
		return err
	}
	path, err := exec.LookPath(argv[0])
	if err != nil {
		return fmt.Errorf("capexec: %w", err)
	}
	return syscall.Exec(path, argv, os.Environ())
}

// limitCaps removes the capabilities in the comma list drop (or "ALL")
// from the bounding, inheritable and ambient sets, except those in add.
func limitCaps(drop, add string) error {
	dropped, err := capSet(drop)
	if err != nil {
		return err
	}
	kept, err := capSet(add)
	if err != nil {
		return err
	}
	var vals []cap.Value
	for v := range dropped {
		if !kept[v] {
			vals = append(vals, v)
		}
	}
	iab := cap.IABGetProc()
	if err := iab.SetVector(cap.Bound, true, vals...); err != nil {
		return fmt.Errorf("capexec: drop from bounding set: %w", err)
	}
	if err := iab.SetVector(cap.Inh, false, vals...); err != nil {
		return fmt.Errorf("capexec: drop from inheritable set: %w", err)
	}
	if err := iab.SetVector(cap.Amb, false, vals...); err != nil {
		return fmt.Errorf("capexec: drop from ambient set: %w", err)
	}
	if err := iab.SetProc(); err != nil {
		return fmt.Errorf("capexec: apply %s: %w", iab, err)
	}
	return nil
}

// capSet parses a comma list of capability names ("chown", "CAP_CHOWN", "ALL").
func capSet(list string) (map[cap.Value]bool, error) {
	out := map[cap.Value]bool{}
	for _, name := range strings.Split(list, ",") {
		name = strings.ToLower(strings.TrimSpace(name))
		switch name {
		case "":
			continue
		case "all":
			for v := cap.Value(0); v < cap.MaxBits(); v++ {
				out[v] = true
			}
			continue
		}
		if !strings.HasPrefix(name, "cap_") {
			name = "cap_" + name
		}
		v, err := cap.FromName(name)
		if err != nil {
			return nil, fmt.Errorf("capexec: unknown capability %q", name)
		}
		out[v] = true
	}
	return out, nil
}

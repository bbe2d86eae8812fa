package orchestrator

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/tsemlab/tsemlab/orchestrator/sysrec"
	"github.com/tsemlab/tsemlab/protocol"
	"github.com/tsemlab/tsemlab/seccomp"
)

// The container-hardening labs in an exec session: a seccomp learn phase
// runs each step under the recorder (seccomp-learn mode); the other
// options run it through stepexec. Both are this binary, so a step's
// wait status stays the step's own (the recorder reports its tracee's).

// labArgv wraps a step's argv for the labs. ok is false when the step
// needs none of them; otherwise the wrapper has applied the step's
// capability changes too.
func labArgv(self string, ph protocol.Phase, st protocol.Step, argv []string) ([]string, bool) {
	if sc := ph.Seccomp; sc != nil && sc.Mode == protocol.SeccompLearn {
		return append([]string{self, "seccomp-learn", "-out", recordPath(ph.Name, st.Index), "--"}, argv...), true
	}
	f := stepexecFlags{chroot: st.Chroot, pivot: st.PivotRoot, user: st.User, nnp: st.NoNewPrivileges}
	if slices.Contains(st.Namespaces, "mount") {
		f.private = true
		f.proc = slices.Contains(st.Namespaces, "pid")
	}
	if a := stepAppArmor(ph, st); a != nil {
		f.apparmor = a.Name
	}
	if sc := ph.Seccomp; sc != nil && sc.Mode == protocol.SeccompEnforce {
		f.seccomp = profilePath(ph.Name)
	}
	if !stepexecWanted(f) {
		return nil, false
	}
	if c := mergeCaps(ph.Caps, st.Caps); c != nil {
		f.drop, f.add = strings.Join(c.Drop, ","), strings.Join(c.Add, ",")
	}
	return append(f.argv(self), argv...), true
}

// stepAppArmor is the AppArmor profile a step runs under: its own, else
// its phase's.
func stepAppArmor(ph protocol.Phase, st protocol.Step) *protocol.AppArmor {
	if st.AppArmor != nil {
		return st.AppArmor
	}
	return ph.AppArmor
}

// cloneFlags are the namespaces a step may ask for.
var cloneFlags = map[string]uintptr{
	"pid": syscall.CLONE_NEWPID, "mount": syscall.CLONE_NEWNS, "net": syscall.CLONE_NEWNET,
	"uts": syscall.CLONE_NEWUTS, "ipc": syscall.CLONE_NEWIPC, "user": syscall.CLONE_NEWUSER,
}

// labAttr puts the step's process in the new namespaces it asks for, at
// its clone, so that in a new PID namespace it is PID 1 and its wait
// status is its own. A new user namespace maps every id to itself: root
// stays uid 0, with capabilities over the new namespaces only.
func labAttr(attr *syscall.SysProcAttr, st protocol.Step) {
	for _, ns := range st.Namespaces {
		attr.Cloneflags |= cloneFlags[ns]
	}
	if slices.Contains(st.Namespaces, "user") {
		all := []syscall.SysProcIDMap{{ContainerID: 0, HostID: 0, Size: 1<<32 - 1}}
		attr.UidMappings, attr.GidMappings = all, all
		attr.GidMappingsEnableSetgroups = true
	}
}

// labAfter takes a learn step's wait status from its record: the
// recorder's own exit says nothing about the step.
func labAfter(ph protocol.Phase, st protocol.Step, r ran) ran {
	if sc := ph.Seccomp; sc == nil || sc.Mode != protocol.SeccompLearn || r.timedOut {
		return r
	}
	rec, err := readRecord(recordPath(ph.Name, st.Index))
	if err != nil {
		r.stderr += fmt.Sprintf("\n(tsemlab: the step's system calls were not recorded: %v)", err)
		return r
	}
	r.exit, r.signal = rec.ExitCode, rec.Signal
	return r
}

func recordPath(phase string, index int) string {
	return filepath.Join(labsDir, fmt.Sprintf("%s.%d.syscalls.json", phase, index))
}

func profilePath(phase string) string {
	return filepath.Join(labsDir, phase+".seccomp.json")
}

func readRecord(path string) (*sysrec.Record, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var rec sysrec.Record
	if err := json.Unmarshal(data, &rec); err != nil {
		return nil, fmt.Errorf("decode %s: %w", path, err)
	}
	return &rec, nil
}

// SeccompLearn is the `seccomp-learn` mode: it runs the command under the
// system call recorder, writes the record (counts and the command's wait
// status) to -out, and exits with the command's status.
func SeccompLearn(args []string) (int, error) {
	fs := flag.NewFlagSet("seccomp-learn", flag.ContinueOnError)
	out := fs.String("out", "", "file to write the record to")
	if err := fs.Parse(args); err != nil {
		return 127, err
	}
	argv := fs.Args()
	if len(argv) == 0 || *out == "" {
		return 127, errors.New("seccomp-learn: usage: seccomp-learn -out FILE -- COMMAND...")
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	rec, err := sysrec.Run(cmd)
	if err != nil {
		return 127, fmt.Errorf("seccomp-learn: %w", err)
	}
	data, err := json.Marshal(rec)
	if err != nil {
		return 127, err
	}
	if err := os.WriteFile(*out, data, 0o600); err != nil {
		return 127, fmt.Errorf("seccomp-learn: %w", err)
	}
	return rec.ExitCode, nil
}

// prepareLabs readies a phase's labs before its steps: a fresh directory
// for records, the profile to enforce, the AppArmor profiles loaded.
func (o *orchestrator) prepareLabs(ctx context.Context, ph protocol.Phase) error {
	if err := os.MkdirAll(labsDir, 0o700); err != nil {
		return err
	}
	old, _ := filepath.Glob(filepath.Join(labsDir, ph.Name+".*"))
	for _, f := range old {
		os.Remove(f)
	}
	if sc := ph.Seccomp; sc != nil && sc.Mode == protocol.SeccompEnforce {
		text, ok := o.exports[sc.Profile]
		if !ok {
			text, ok = o.plan.Files[sc.Profile]
		}
		if !ok {
			return fmt.Errorf("seccomp profile %q is not available: the phase that exports it did not produce it", sc.Profile)
		}
		if _, err := seccomp.Parse([]byte(text)); err != nil {
			return fmt.Errorf("seccomp profile %q: %w", sc.Profile, err)
		}
		if err := os.WriteFile(profilePath(ph.Name), []byte(text), 0o644); err != nil {
			return err
		}
	}
	return o.loadAppArmor(ctx, ph)
}

// loadAppArmor loads (or replaces) every AppArmor profile the phase and
// its steps use, with the apparmor_parser packed in the image.
func (o *orchestrator) loadAppArmor(ctx context.Context, ph protocol.Phase) error {
	var files []string
	for _, a := range append([]*protocol.AppArmor{ph.AppArmor}, stepProfiles(ph)...) {
		if a != nil && !slices.Contains(files, a.File) {
			files = append(files, a.File)
		}
	}
	for i, key := range files {
		text, ok := o.plan.Files[key]
		if !ok {
			return fmt.Errorf("AppArmor profile %s was not shipped with the plan", key)
		}
		path := filepath.Join(labsDir, fmt.Sprintf("%s.apparmor.%d", ph.Name, i))
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(ctx, time.Minute)
		var stderr bytes.Buffer
		cmd := exec.CommandContext(ctx, "apparmor_parser", "--replace", "--skip-cache", path)
		cmd.Stdout, cmd.Stderr = &stderr, &stderr
		err := cmd.Run()
		cancel()
		if err != nil {
			return fmt.Errorf("load AppArmor profile %s with apparmor_parser: %w%s", strings.TrimPrefix(key, "apparmor/"), err, tailLines(stderr.String(), 5))
		}
	}
	return nil
}

func stepProfiles(ph protocol.Phase) []*protocol.AppArmor {
	var out []*protocol.AppArmor
	for _, st := range ph.Steps {
		out = append(out, st.AppArmor)
	}
	return out
}

// finishLabs ends a phase's labs: a learn phase's profile and counts go
// to the host as artifacts, and the profile is kept for later phases.
func (o *orchestrator) finishLabs(ph protocol.Phase) error {
	sc := ph.Seccomp
	if sc == nil || sc.Mode != protocol.SeccompLearn {
		return nil
	}
	counts := protocol.SeccompCounts{Phase: ph.Name, Profile: sc.Export, Total: map[string]int{}}
	for _, st := range ph.Steps {
		sCounts := protocol.StepCounts{Index: st.Index}
		rec, err := readRecord(recordPath(ph.Name, st.Index))
		if err != nil {
			sCounts.Error = err.Error()
		} else {
			sCounts.Counts = rec.Counts
			for n, c := range rec.Counts {
				counts.Total[n] += c
			}
		}
		counts.Steps = append(counts.Steps, sCounts)
	}
	profile := string(seccomp.Learned(counts.Total, seccomp.Action(sc.DefaultAction)).Marshal())
	o.exports[sc.Export] = profile
	data, err := json.MarshalIndent(counts, "", "  ")
	if err != nil {
		return err
	}
	if err := o.out.send(artifact(ph.Name, sc.Export, protocol.ArtifactSeccompProfile, profile)); err != nil {
		return err
	}
	return o.out.send(artifact(ph.Name, protocol.SeccompCountsName(ph.Name), protocol.ArtifactSeccompCounts, string(data)+"\n"))
}

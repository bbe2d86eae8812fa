// Package orchestrator is the guest side of tsemlab: the guest's init
// (package guestinit) starts it; it reads the plan the host appended to the
// initramfs, describes the kernel, runs each phase's steps and streams what
// it saw to the host as JSON lines on the results serial port, then ends
// the VM.
//
// The verdict is the host's: the orchestrator reports facts (exit status,
// output, signs of refusal) and a seen outcome, never pass or fail.
package orchestrator

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tsemlab/tsemlab/protocol"
)

// securityfs is where the kernel's security modules publish their files.
const securityfs = protocol.SecurityFS

// Main runs the orchestrator and ends the VM; it returns only for the
// helper modes (capexec), with the process exit code.
func Main(args []string) int {
	if len(args) > 1 {
		switch args[1] {
		case "capexec":
			err := Capexec(args[2:])
			fmt.Fprintln(os.Stderr, err)
			return 127
		case "stepexec":
			err := Stepexec(args[2:])
			fmt.Fprintln(os.Stderr, "tsemlab-guest "+errnoNamed(err))
			return 127
		case "chroot-escape":
			err := ChrootEscape(args[2:])
			fmt.Fprintln(os.Stderr, err)
			return 1
		case "seccomp-learn":
			code, err := SeccompLearn(args[2:])
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
			}
			return code
		case "leader":
			if err := Leader(args[2:]); err != nil {
				fmt.Fprintln(os.Stderr, "tsemlab-guest leader:", err)
				return 1
			}
			return 0
		}
	}
	log.SetPrefix("tsemlab-guest: ")
	log.SetFlags(0)
	// The orchestrator ends by restarting the machine it runs on: never do
	// that anywhere but in a tsemlab guest.
	if err := inGuest(protocol.PlanPath); err != nil {
		log.Print(err)
		return 2
	}
	quietGoRuntimes()
	err := run(context.Background())
	if err != nil {
		log.Printf("%v", err)
	}
	powerOff()
	return 1
}

// quietGoRuntimes makes the Go programs the guest starts (u-root's
// commands, this binary as a helper) leave their anonymous mappings
// unnamed, as this binary does (see cmd/tsemlab-guest): the runtime's
// prctl(PR_SET_VMA) at each heap growth carries an address, which TSEM
// models, at a moment that differs between runs.
func quietGoRuntimes() {
	const off = "decoratemappings=0"
	switch v := os.Getenv("GODEBUG"); {
	case v == "":
		_ = os.Setenv("GODEBUG", off)
	case !strings.Contains(v, "decoratemappings="):
		_ = os.Setenv("GODEBUG", v+","+off)
	}
}

// inGuest returns an error unless this is a tsemlab guest (the plan the host
// appended to the initramfs is there).
func inGuest(plan string) error {
	if _, err := os.Stat(plan); err != nil {
		return fmt.Errorf("no %s: this program runs inside tsemlab's test VM, not on a host", plan)
	}
	return nil
}

func run(ctx context.Context) (err error) {
	p, err := openPort(protocol.ResultsPort)
	if err != nil {
		return err
	}
	defer p.drain()
	defer func() {
		// A bug here must reach the host as an orchestrator error, not as
		// silence that looks like a hung guest.
		if r := recover(); r != nil {
			err = fmt.Errorf("orchestrator panic: %v\n%s", r, debug.Stack())
			_ = p.send(protocol.Message{Kind: protocol.KindError, Error: err.Error()})
		}
	}()
	o := &orchestrator{out: p, exports: map[string]string{}, kernelLog: openKmsg("/dev/kmsg")}
	if err := o.main(ctx); err != nil {
		_ = p.send(protocol.Message{Kind: protocol.KindError, Error: err.Error()})
		return err
	}
	return nil
}

// sender delivers messages to the host: the results port in the
// orchestrator, a pipe to the orchestrator in a namespace leader.
type sender interface {
	send(protocol.Message) error
}

type orchestrator struct {
	out  sender
	plan protocol.Plan
	self string
	// exports holds the models learn phases exported, by name.
	exports map[string]string
	// kernelLog is read around each step for the kernel's refusal lines.
	kernelLog *kmsg
	// img is the scenario's workload image, when it names one.
	img images
	// leaders wait for the TSEM phases' jobs (see leaderPool).
	leaders []*leaderProc
}

func (o *orchestrator) main(ctx context.Context) error {
	if err := o.readPlan(); err != nil {
		return err
	}
	mountSecurityfs()
	t := uptime()
	loaded, modErr := loadModules(protocol.ModulesList)
	hello := newHello(loaded, uptime()-t)
	var poolErr, toolsErr error
	if o.plan.Await {
		if hello.TSEM {
			poolErr = o.startLeaders()
		}
		toolsErr = o.readyTools(ctx)
	}
	if err := o.out.send(protocol.Message{Kind: protocol.KindHello, Hello: &hello}); err != nil {
		return err
	}
	if modErr != nil {
		o.logf("loading modules: %v", modErr)
	}
	if poolErr != nil {
		o.logf("namespace leaders for later: %v", poolErr)
	}
	if toolsErr != nil {
		o.logf("tools before the snapshot (each scenario copies them instead): %v", toolsErr)
	}
	if o.plan.Await {
		var err error
		if hello, err = o.await(hello); err != nil {
			return err
		}
	}
	if err := loopbackUp(); err != nil {
		o.logf("%v", err)
	}
	if o.plan.Probe {
		return o.done()
	}
	reason, err := o.plan.Requires.Unmet(hello)
	if err != nil {
		return err
	}
	if reason == "" {
		reason = o.unmetByKernel(hello.KernelRelease)
	}
	if reason != "" {
		if err := o.out.send(protocol.Message{Kind: protocol.KindSkip, Skip: &protocol.Skip{Reason: reason}}); err != nil {
			return err
		}
		return o.done()
	}
	if err := o.phases(ctx); err != nil {
		return err
	}
	return o.done()
}

// phases runs the plan's phases on its workload image, when it names one,
// and detaches the image after them whatever happened.
func (o *orchestrator) phases(ctx context.Context) error {
	var td teardown
	err := o.attachImage(ctx, &td)
	for i := 0; err == nil && i < len(o.plan.Phases); i++ {
		err = o.runPhase(ctx, o.plan.Phases[i])
	}
	if terr := td.run(); terr != nil && err == nil {
		err = fmt.Errorf("detach image %s: %w", o.plan.Image, terr)
	}
	return err
}

// readPlan reads and checks the plan the host appended to the initramfs.
func (o *orchestrator) readPlan() error {
	data, err := os.ReadFile(protocol.PlanPath)
	if err != nil {
		return fmt.Errorf("read plan: %w", err)
	}
	if o.plan, err = decodePlan(data, protocol.PlanPath); err != nil {
		return err
	}
	o.self, err = os.Executable()
	return err
}

// decodePlan decodes and checks a plan that came from where.
func decodePlan(data []byte, where string) (protocol.Plan, error) {
	var p protocol.Plan
	if err := json.Unmarshal(data, &p); err != nil {
		return p, fmt.Errorf("decode plan %s: %w", where, err)
	}
	if p.Version != protocol.Version {
		return p, fmt.Errorf("plan version %d, this orchestrator speaks %d: rebuild the image", p.Version, protocol.Version)
	}
	return p, nil
}

func (o *orchestrator) done() error {
	return o.out.send(protocol.Message{Kind: protocol.KindDone, Done: &protocol.Done{Tainted: tainted()}})
}

func (o *orchestrator) logf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	log.Print(msg)
	_ = o.out.send(protocol.Message{Kind: protocol.KindLog, Log: msg})
}

// runPhase runs one phase and reports it. A failure to run the phase as
// planned (a shell that cannot start) is reported in phase_end and the run
// goes on with the next phase. The phase's environment (a fresh root on the
// workload image) is undone after it on every path.
func (o *orchestrator) runPhase(ctx context.Context, ph protocol.Phase) error {
	if err := o.out.send(protocol.Message{Kind: protocol.KindPhaseStart, Phase: &protocol.PhaseInfo{Name: ph.Name}}); err != nil {
		return err
	}
	td, enterErr := o.enterPhase(ph)
	defer o.cleanup(ph.Name, td)
	info := protocol.PhaseInfo{Name: ph.Name}
	if enterErr != nil {
		info.Error = enterErr.Error()
	} else if err := o.setup(ctx, ph); err != nil {
		info.Error = err.Error()
	} else if ph.TSEM != nil {
		// The leader reports the phase's end itself.
		return o.tsemPhase(ctx, ph)
	} else if err := o.steps(ctx, ph, nil); err != nil {
		info.Error = err.Error()
	} else if err := o.finishLabs(ph); err != nil {
		info.Error = err.Error()
	}
	return o.out.send(protocol.Message{Kind: protocol.KindPhaseEnd, Phase: &info})
}

// setup runs a phase's setup commands, unmeasured; any failure fails the phase.
func (o *orchestrator) setup(ctx context.Context, ph protocol.Phase) error {
	for i, c := range ph.Setup {
		w := o.img.work
		s := &execSession{phase: w.phase(protocol.Phase{Shell: []string{"/bin/sh", "-c"}, Env: ph.Env, Dir: ph.Dir}), self: o.self, root: w.root()}
		r := s.run(ctx, protocol.Step{Index: i + 1, Run: c}, o.plan.StepTimeout.Std())
		if r.err != nil {
			return fmt.Errorf("setup %q: %w", c, r.err)
		}
		if r.exit != 0 || r.timedOut {
			return fmt.Errorf("setup %q: exit status %d%s", c, r.exit, tailLines(r.stderr+r.stdout, 5))
		}
	}
	return o.prepareLabs(ctx, ph)
}

// tsemFacts adds what TSEM recorded during a step to its end report: the
// namespace, whether it enforces, and the forensic events since the last
// call. nil outside a modeling namespace.
type tsemFacts func(*protocol.StepEnd)

// steps runs a phase's steps in its session and reports each.
func (o *orchestrator) steps(ctx context.Context, ph protocol.Phase, facts tsemFacts) error {
	s, err := o.session(ph)
	if err != nil {
		return err
	}
	defer s.close()
	shellGone := false
	for _, st := range ph.Steps {
		if err := o.out.send(protocol.Message{Kind: protocol.KindStepStart, Step: &protocol.StepStart{Phase: ph.Name, Index: st.Index, Run: st.Run}}); err != nil {
			return err
		}
		end := protocol.StepEnd{Phase: ph.Name, Index: st.Index, Run: st.Run, Session: ph.Session}
		if shellGone {
			end.NotRun = "the session's shell had already exited"
		} else {
			// What the kernel logged before the step is not the step's.
			o.kernelLog.drain()
			r := o.runStep(ctx, s, st)
			if r.err != nil {
				return r.err
			}
			shellGone = r.ended
			if r.startup != "" {
				o.logf("phase %s: the shell printed before its first step%s", ph.Name, tailLines(r.startup, 5))
			}
			end.ExitCode, end.Signal, end.Stdout, end.Stderr = r.exit, r.signal, r.stdout, r.stderr
			end.Truncated, end.Duration, end.TimedOut = r.trunc, protocol.Duration(r.dur), r.timedOut
			end.ShellExited = r.ended && !r.timedOut
			end.HTTP = r.http
			if facts != nil {
				facts(&end)
			}
			end.KernelLog, end.KernelLogDropped = refusals(o.kernelLog.drain(), end.NamespaceID, os.Getpid())
		}
		if err := o.out.send(protocol.Message{Kind: protocol.KindStepEnd, Result: &end}); err != nil {
			return err
		}
	}
	return nil
}

// session starts the phase's session: one shell, or a process per step,
// chrooted into the phase's root on a workload image; or, in container
// mode, the container, whose process is the phase's shell.
func (o *orchestrator) session(ph protocol.Phase) (session, error) {
	w := o.img.work
	if w != nil && w.Container != nil {
		return w.Container.start(o.self)
	}
	ph, self := w.phase(ph), w.self(o.self)
	if ph.Session == protocol.SessionShell {
		return startShellIn(ph, self, w.root())
	}
	return &execSession{phase: ph, self: self, root: w.root()}, nil
}

func (o *orchestrator) stepTimeout(st protocol.Step) time.Duration {
	if st.Timeout > 0 {
		return st.Timeout.Std()
	}
	return o.plan.StepTimeout.Std()
}

// describe reports the kernel as the guest sees it.
func describe() protocol.Hello {
	h := protocol.Hello{ProtocolVersion: protocol.Version, Tainted: tainted()}
	var u unix.Utsname
	if unix.Uname(&u) == nil {
		h.KernelRelease = unix.ByteSliceToString(u.Release[:])
		h.KernelVersion = unix.ByteSliceToString(u.Version[:])
	}
	if b, err := os.ReadFile(filepath.Join(securityfs, "lsm")); err == nil {
		for _, l := range strings.Split(strings.TrimSpace(string(b)), ",") {
			if l != "" {
				h.LSMs = append(h.LSMs, l)
			}
		}
	} else {
		h.LSMError = err.Error()
	}
	if st, err := os.Stat(filepath.Join(securityfs, "tsem")); err == nil && st.IsDir() {
		h.TSEM = true
	}
	if _, err := os.Stat("/proc/sys/kernel/seccomp/actions_avail"); err == nil {
		h.Features = append(h.Features, protocol.FeatureSeccomp)
	}
	if _, err := os.Stat("/proc/self/ns/user"); err == nil {
		h.Features = append(h.Features, protocol.FeatureUserNamespaces)
	}
	if _, err := os.Stat("/proc/self/ns/pid"); err == nil {
		h.Features = append(h.Features, protocol.FeaturePIDNamespaces)
	}
	for ns, f := range map[string]string{"net": protocol.FeatureNetNamespaces, "uts": protocol.FeatureUTSNamespaces, "ipc": protocol.FeatureIPCNamespaces} {
		if _, err := os.Stat("/proc/self/ns/" + ns); err == nil {
			h.Features = append(h.Features, f)
		}
	}
	slices.Sort(h.Features)
	if b, err := os.ReadFile("/sys/devices/system/clocksource/clocksource0/current_clocksource"); err == nil {
		h.Clocksource = strings.TrimSpace(string(b))
	}
	return h
}

func tainted() uint64 {
	b, err := os.ReadFile("/proc/sys/kernel/tainted")
	if err != nil {
		return 0
	}
	v, _ := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	return v
}

func uptime() time.Duration {
	var ts unix.Timespec
	if unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts) != nil {
		return 0
	}
	return time.Duration(ts.Nano())
}

// mountSecurityfs makes sure /sys/kernel/security is there (the guest's
// init mounts it when the kernel has it; a kernel without it simply has no
// LSM files).
func mountSecurityfs() {
	if _, err := os.Stat(filepath.Join(securityfs, "lsm")); err == nil {
		return
	}
	_ = unix.Mount("securityfs", securityfs, "securityfs", 0, "")
}

// loadModules loads the modules the image lists, in order; one already
// loaded or built in is fine.
func loadModules(list string) ([]string, error) {
	data, err := os.ReadFile(list)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var loaded []string
	var errs []error
	for _, p := range strings.Fields(string(data)) {
		f, err := os.Open(p)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		err = unix.FinitModule(int(f.Fd()), "", 0)
		f.Close()
		if err != nil && !errors.Is(err, unix.EEXIST) {
			errs = append(errs, fmt.Errorf("load %s: %w", filepath.Base(p), err))
			continue
		}
		loaded = append(loaded, strings.TrimSuffix(filepath.Base(p), ".ko"))
	}
	return loaded, errors.Join(errs...)
}

// powerOff stops the VM. QEMU runs with -no-reboot, so a restart ends it on
// every kernel, with or without ACPI.
func powerOff() {
	unix.Sync()
	_ = unix.Reboot(unix.LINUX_REBOOT_CMD_RESTART)
	// Only reached without CAP_SYS_BOOT; the host's timeout ends the VM.
	select {}
}

func tailLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	if len(lines) == 1 && lines[0] == "" {
		return ""
	}
	return ": " + strings.Join(lines, " | ")
}

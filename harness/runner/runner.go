// Package runner runs scenarios: for each one it writes the plan into an
// initramfs, boots QEMU, follows the guest's messages, judges each step
// against the scenario's expectations, and records everything (console log,
// results JSON, artifacts) in the scenario's results directory as it goes,
// so an interrupted run still leaves its partial results.
package runner

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/tsemlab/tsemlab/harness/boot"
	"github.com/tsemlab/tsemlab/harness/console"
	"github.com/tsemlab/tsemlab/harness/facts"
	"github.com/tsemlab/tsemlab/harness/image"
	"github.com/tsemlab/tsemlab/harness/judge"
	"github.com/tsemlab/tsemlab/harness/kernel"
	"github.com/tsemlab/tsemlab/harness/qemu"
	"github.com/tsemlab/tsemlab/harness/result"
	"github.com/tsemlab/tsemlab/harness/rootfs"
	"github.com/tsemlab/tsemlab/harness/scenario"
	"github.com/tsemlab/tsemlab/harness/tempdir"
	"github.com/tsemlab/tsemlab/protocol"
)

// Observer hears about progress as it happens (report.Progress is one).
type Observer interface {
	ScenarioStarted(name string)
	StepFinished(scenario, phase string, s *result.Step)
	ScenarioFinished(sc *result.Scenario)
}

// Config is what every scenario of a run shares.
type Config struct {
	Kernel *kernel.Kernel
	Image  *image.Image
	Accel  qemu.Choice
	// QEMU is the binary; QEMUVersion its version line.
	QEMU        string
	QEMUVersion string
	// OutDir is the run's results directory.
	OutDir string
	// Timeout overrides every scenario's timeout when non-zero.
	Timeout time.Duration
	// Jobs is how many VMs run at once; default 1.
	Jobs      int
	MemoryMiB int
	// Append adds kernel command-line arguments.
	Append []string
	// Facts remembers each kernel's hello, so that a scenario whose
	// requirements the kernel cannot meet is skipped without a boot.
	Facts    facts.Cache
	Log      *slog.Logger
	Observer Observer
	// Snapshots, when set, starts each scenario's guest from a snapshot
	// of a booted guest instead of booting it (see package boot).
	Snapshots *boot.Snapshots
	// Timings, when set, is the file that remembers each scenario's
	// duration, so that the next run with Jobs > 1 starts the longest
	// first.
	Timings string
	// spares holds the guests restored ahead of their scenarios (set by
	// Run when there are snapshots).
	spares *spares
	// RootFS gives the workload images the scenarios name: built before
	// the run (rootfs.Images) or in the background while it goes on
	// (lab.Builds). A scenario that needs one waits for it before it
	// starts; the scenarios whose images are ready go first.
	RootFS Images
}

// Images are a run's workload images by name.
type Images interface {
	// Image returns the named image, waiting while it is built.
	Image(ctx context.Context, name string) (*rootfs.Image, error)
	// Ready says whether Image returns at once for every one of names.
	Ready(names ...string) bool
}

// keeper is an Images whose unneeded builds can be cancelled (lab.Builds).
type keeper interface {
	Keep(names []string) []string
}

// TimeoutScale is how much slower than KVM a guest is assumed to run.
func (c Config) TimeoutScale() float64 {
	if c.Accel.Accel == qemu.TCG {
		return 3
	}
	return 1
}

// Run runs the scenarios, c.Jobs at a time, and returns the results in
// the scenarios' order. results.json in OutDir is rewritten after every
// scenario.
func Run(ctx context.Context, c Config, scenarios []*scenario.Scenario) *result.Run {
	run := &result.Run{Started: time.Now().UTC(), Dir: c.OutDir, Scenarios: make([]*result.Scenario, len(scenarios))}
	var mu sync.Mutex
	record := func(i int, res *result.Scenario) {
		mu.Lock()
		defer mu.Unlock()
		run.Scenarios[i] = res
		run.Duration = result.Duration(time.Since(run.Started))
		if err := writeRunJSON(c.OutDir, run); err != nil {
			c.Log.Error("results.json not saved", "err", err)
		}
	}
	if c.Snapshots != nil {
		c.spares = newSpares(ctx, c.Jobs, len(scenarios), c.Log)
		defer c.spares.close()
	}
	keepNeededImages(c, scenarios)
	// A pool of c.Jobs workers takes the scenarios, longest first (see
	// startOrder), those whose workload images are ready before those
	// still waiting for theirs; results stay in file order.
	q := &queue{c: c, scenarios: scenarios, order: startOrder(c, scenarios)}
	var wg sync.WaitGroup
	for w := 0; w < max(c.Jobs, 1); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i, ok := q.take(ctx)
				if !ok {
					return
				}
				record(i, runScenario(ctx, c, scenarios[i]))
			}
		}()
	}
	wg.Wait()
	for i, s := range scenarios {
		if run.Scenarios[i] == nil {
			record(i, &result.Scenario{Name: s.Name, File: s.File, Description: s.Description, Status: result.Error, Reason: "interrupted before it started"})
		}
	}
	run.Duration = result.Duration(time.Since(run.Started))
	if err := writeRunJSON(c.OutDir, run); err != nil {
		c.Log.Error("results.json not saved", "err", err)
	}
	if c.Timings != "" {
		tctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if err := saveTimings(tctx, c.Timings, scenarios, run); err != nil {
			c.Log.Warn("scenario timings not remembered", "err", err)
		}
	}
	return run
}

func writeRunJSON(dir string, run *result.Run) error {
	// Scenarios not finished yet are nil; leave them out of the snapshot.
	snap := *run
	snap.Scenarios = nil
	for _, s := range run.Scenarios {
		if s != nil {
			snap.Scenarios = append(snap.Scenarios, s)
		}
	}
	return writeJSON(filepath.Join(dir, "results.json"), &snap)
}

// writeJSON writes v to path atomically (a temporary file, then rename).
func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encode %s: %w", filepath.Base(path), err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// crashTaints are the taint bits that mean the kernel hit a bug: M (machine
// check), B (bad page), D (died: oops), W (warning), L (soft lockup).
const crashTaints = 1<<4 | 1<<5 | 1<<7 | 1<<9 | 1<<14

// Bounds on what a guest can make the host store for one scenario.
const (
	maxArtifacts     = 256
	maxArtifactBytes = 64 << 20
)

// artifactName is what an artifact file may be called: no path, no hidden
// file, nothing a harness record is called (scenario.HarnessFiles).
var artifactName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

// scenarioRun is the state of one scenario while its VM runs.
type scenarioRun struct {
	c     Config
	s     *scenario.Scenario
	res   *result.Scenario
	dir   string
	hello *protocol.Hello
	done  *protocol.Done
	// running is the step in progress, for timeout reports.
	running *protocol.StepStart
	// clocks time each phase on the guest's clock (Phase.Timing).
	clocks map[string]*phaseClock
	phases map[string]*result.Phase
	// artifacts holds artifact texts by phase and kind, for phase checks.
	artifacts     map[string]map[protocol.ArtifactKind]string
	artifactBytes int
	guestErr      []string
	// qemuStderr is what QEMU printed on stderr, once it has ended.
	qemuStderr string
}

func runScenario(ctx context.Context, c Config, s *scenario.Scenario) *result.Scenario {
	why := knownSkip(c, s)
	if why == "" {
		waitImages(ctx, c, s)
	}
	c.spares.started()
	if c.Observer != nil {
		c.Observer.ScenarioStarted(s.Name)
	}
	if why != "" {
		res := skipped(c, s, why)
		if c.Observer != nil {
			c.Observer.ScenarioFinished(res)
		}
		return res
	}
	r := attempt(ctx, c, s)
	if c.Accel.Accel == qemu.KVM && r.kvmFailed() && ctx.Err() == nil {
		// The probe boot worked but this guest died in KVM (seen on nested
		// hosts): run it again under TCG rather than report the host's
		// problem as the kernel's.
		why := r.res.Reason
		c.Accel = qemu.Choice{Accel: qemu.TCG, Reason: "KVM failed during this scenario (" + why + "); rerun under TCG"}
		c.Log.Warn("KVM failed; rerunning under TCG", "scenario", s.Name, "why", why)
		r = attempt(ctx, c, s)
	}
	if err := writeJSON(filepath.Join(r.dir, "result.json"), r.res); err != nil {
		c.Log.Error("result not saved", "scenario", s.Name, "err", err)
	}
	if c.Observer != nil {
		c.Observer.ScenarioFinished(r.res)
	}
	return r.res
}

// knownSkip is why the kernel is already known not to be able to run the
// scenario (see package facts), or "".
func knownSkip(c Config, s *scenario.Scenario) string {
	return c.Facts.Skip(c.Kernel.SHA256, kernelArgs(c, s), protocol.Requires{LSM: s.Requires.LSM, Features: s.Requires.Features})
}

// skipped is the result of a scenario skipped for why without a boot.
func skipped(c Config, s *scenario.Scenario, why string) *result.Scenario {
	res := &result.Scenario{Name: s.Name, File: s.File, Description: s.Description, Status: result.Skip, Reason: why + tsemHint(s, nil),
		Env: result.Environment{KernelPath: c.Kernel.Path, KernelSHA256: c.Kernel.SHA256, KernelRelease: c.Kernel.Release}}
	judge.Finish(res, s)
	dir := filepath.Join(c.OutDir, s.Name)
	res.Dir = dir
	if err := os.MkdirAll(dir, 0o755); err == nil {
		err = writeJSON(filepath.Join(dir, "result.json"), res)
		if err != nil {
			c.Log.Error("result not saved", "scenario", s.Name, "err", err)
		}
	}
	return res
}

// kernelArgs is what a scenario's boot adds to the harness's kernel
// command line: run's --append, then the scenario's kernel_args.
func kernelArgs(c Config, s *scenario.Scenario) []string {
	return append(slices.Clip(c.Append), s.KernelArgs...)
}

// kernelCmdline is the kernel command line of a QEMU argv (-append's).
func kernelCmdline(argv []string) string {
	if i := slices.Index(argv, "-append"); i >= 0 && i+1 < len(argv) {
		return argv[i+1]
	}
	return ""
}

// tsemHint tells how to get a kernel that can run a TSEM scenario.
func tsemHint(s *scenario.Scenario, hello *protocol.Hello) string {
	if slices.Contains(s.Requires.LSM, "tsem") && (hello == nil || !slices.Contains(hello.LSMs, "tsem")) {
		return "; build a TSEM kernel (see README: TSEM kernels) and pass it with --kernel, or set TSEMLAB_TSEM_KERNEL for the tests"
	}
	return ""
}

// attempt runs the scenario once: boot and follow the guest, then judge.
func attempt(ctx context.Context, c Config, s *scenario.Scenario) *scenarioRun {
	r := &scenarioRun{
		c: c, s: s, phases: map[string]*result.Phase{}, artifacts: map[string]map[protocol.ArtifactKind]string{},
		dir: filepath.Join(c.OutDir, s.Name),
		res: &result.Scenario{Name: s.Name, File: s.File, Description: s.Description, Env: result.Environment{
			KernelPath: c.Kernel.Path, KernelSHA256: c.Kernel.SHA256, KernelRelease: c.Kernel.Release,
			InitramfsSHA256: c.Image.SHA256, QEMUVersion: c.QEMUVersion, Accel: string(c.Accel.Accel), AccelReason: c.Accel.Reason,
		}},
	}
	r.res.Dir = r.dir
	for _, ph := range s.Phases {
		p := &result.Phase{Name: ph.Name, Status: result.NotRun}
		r.res.Phases = append(r.res.Phases, p)
		r.phases[ph.Name] = p
	}
	start := time.Now()
	r.execute(ctx)
	r.res.Duration = result.Duration(time.Since(start))
	judge.Finish(r.res, r.s)
	if r.res.Status == result.Fail {
		if note := identityNote(r.dir); note != "" {
			r.res.Reason += "; " + note
		}
	}
	r.untrusted()
	return r
}

// kvmFailed reports a run that QEMU's KVM backend ended: an internal error
// or MSR failure on QEMU's stderr, or a guest that never said hello.
func (r *scenarioRun) kvmFailed() bool {
	if r.res.Status != result.Error && r.res.Status != result.Timeout {
		return false
	}
	return r.hello == nil || strings.Contains(r.qemuStderr, "KVM internal error") || strings.Contains(r.qemuStderr, "failed to set MSR")
}

// teardown is a stack of undo functions, run in reverse on every exit path.
type teardown []func()

func (t *teardown) push(f func()) { *t = append(*t, f) }

func (t *teardown) run() {
	for i := len(*t) - 1; i >= 0; i-- {
		(*t)[i]()
	}
	*t = nil
}

// execute boots the VM and follows it to the end; every way it can end
// sets the scenario's status.
func (r *scenarioRun) execute(ctx context.Context) {
	var undo teardown
	defer undo.run()
	g, err := r.prepare(ctx, &undo)
	if err != nil {
		r.setStatus(result.Error, err.Error())
		return
	}
	if r.follow(ctx, g) {
		r.conclude(g)
	}
}

// prepare makes the scenario's directory, writes its plan and boots it.
func (r *scenarioRun) prepare(ctx context.Context, undo *teardown) (*boot.Guest, error) {
	if err := os.MkdirAll(r.dir, 0o755); err != nil {
		return nil, fmt.Errorf("results directory: %w", err)
	}
	// Not named after the scenario: socket paths inside must stay short.
	tmp, err := tempdir.New("run")
	if err != nil {
		return nil, fmt.Errorf("temporary directory: %w", err)
	}
	undo.push(func() { os.RemoveAll(tmp) })
	opts := scenario.PlanOptions{TimeoutScale: r.c.TimeoutScale(), Timeout: r.c.Timeout}
	if opts.Models, err = r.s.ReadModels(); err != nil {
		return nil, err
	}
	plan := r.s.Plan(opts)
	drives, err := r.drives(ctx, &plan)
	if err != nil {
		return nil, err
	}
	if err := writeJSON(filepath.Join(r.dir, "plan.json"), plan); err != nil {
		return nil, err
	}
	logf, err := os.Create(filepath.Join(r.dir, "console.log"))
	if err != nil {
		return nil, err
	}
	undo.push(func() { logf.Close() })
	vctx, cancel := context.WithCancel(ctx)
	undo.push(cancel)
	g, err := r.start(vctx, boot.Spec{
		QEMU: r.c.QEMU, Kernel: r.c.Kernel.Path, Image: r.c.Image, Plan: plan, Accel: r.c.Accel.Accel,
		Append: kernelArgs(r.c, r.s), MemoryMiB: r.c.MemoryMiB, Dir: tmp, ConsoleLog: logf, Log: r.c.Log, Drives: drives,
		KernelSHA256: r.c.Kernel.SHA256, QEMUVersion: r.c.QEMUVersion,
	})
	if err != nil {
		return nil, err
	}
	r.res.Env.Cmdline = g.Cmdline
	r.res.Env.KernelCmdline = kernelCmdline(g.Cmdline)
	undo.push(func() {
		g.Stop(3 * time.Second)
		r.qemuStderr = g.VM.Stderr()
	})
	return g, nil
}

// follow handles the guest's messages until its done, its channel's end,
// a panic, the deadline or an interruption. It returns false when the
// scenario's status is already decided (crash, timeout, interrupted).
func (r *scenarioRun) follow(ctx context.Context, g *boot.Guest) bool {
	timeout := r.s.TotalTimeout(scenario.PlanOptions{TimeoutScale: r.c.TimeoutScale(), Timeout: r.c.Timeout})
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	messages := g.Events.C()
	for messages != nil && r.done == nil {
		select {
		case m, ok := <-messages:
			if !ok {
				messages = nil
				continue
			}
			r.timing(g, m)
			r.handle(m)
		case why := <-g.VM.Panicked():
			// Give the console a moment to deliver the panic text.
			time.Sleep(200 * time.Millisecond)
			r.crash(g.Console, why)
			return false
		case <-deadline.C:
			r.setStatus(result.Timeout, fmt.Sprintf("scenario timed out after %s: %s", timeout.Round(time.Second), r.whatRan()))
			r.res.ConsoleTail = g.Console.Tail(40)
			return false
		case <-ctx.Done():
			r.setStatus(result.Error, "interrupted")
			r.res.ConsoleTail = g.Console.Tail(40)
			return false
		}
	}
	return true
}

// timing records boot and first-step times as the messages arrive.
func (r *scenarioRun) timing(g *boot.Guest, m protocol.Message) {
	switch {
	case m.Kind == protocol.KindHello:
		r.res.BootTime = result.Duration(time.Since(g.Started))
		r.res.GuestUptimeAtHello = result.Duration(m.Uptime)
		r.res.GuestBoot = guestBoot(m.Hello)
	case m.Kind == protocol.KindStepStart && r.res.FirstStep == 0:
		r.res.FirstStep = result.Duration(time.Since(g.Started))
	}
	r.clock(m)
}

// phaseClock is a phase's marks on the guest's clock.
type phaseClock struct {
	start, firstStep, stepStart, lastStepEnd, steps time.Duration
	stepped                                         bool
}

// clock times the phases from the guest's uptime in each message.
func (r *scenarioRun) clock(m protocol.Message) {
	if r.clocks == nil {
		r.clocks = map[string]*phaseClock{}
	}
	at := m.Uptime.Std()
	if log := r.c.Log; log != nil {
		// With -v: each message on the guest's clock, to see where a
		// phase's time goes.
		if a := m.Artifact; m.Kind == protocol.KindArtifact && a != nil {
			log.Debug("guest artifact", "scenario", r.res.Name, "name", a.Name, "bytes", len(a.Content), "gzipped", len(a.Gzip), "uptime", at)
		} else {
			log.Debug("guest message", "scenario", r.res.Name, "kind", m.Kind, "uptime", at)
		}
	}
	switch m.Kind {
	case protocol.KindPhaseStart:
		if m.Phase != nil {
			r.clocks[m.Phase.Name] = &phaseClock{start: at}
		}
	case protocol.KindStepStart:
		if m.Step == nil {
			return
		}
		if c := r.clocks[m.Step.Phase]; c != nil {
			if !c.stepped {
				c.firstStep, c.stepped = at, true
			}
			c.stepStart = at
		}
	case protocol.KindStepEnd:
		if m.Result != nil {
			if c := r.clocks[m.Result.Phase]; c != nil && c.stepped {
				c.steps += at - c.stepStart
				c.lastStepEnd = at
			}
		}
	case protocol.KindPhaseEnd:
		if m.Phase == nil {
			return
		}
		c, p := r.clocks[m.Phase.Name], r.phases[m.Phase.Name]
		if c == nil || p == nil || at < c.start {
			return
		}
		t := &result.PhaseTiming{Total: result.Duration(at - c.start)}
		if c.stepped {
			t.Setup = result.Duration(c.firstStep - c.start)
			t.Steps = result.Duration(c.steps)
			t.Teardown = result.Duration(at - c.lastStepEnd)
		} else {
			t.Setup = t.Total
		}
		p.Timing = t
	}
}

// whatRan says what the guest was doing, for a timeout.
func (r *scenarioRun) whatRan() string {
	switch {
	case r.running != nil:
		return fmt.Sprintf("step %s/%d (%s) was running", r.running.Phase, r.running.Index, r.running.Run)
	case r.hello != nil:
		return "the guest reported but no step was running"
	}
	return "the guest never reported (stuck in boot?)"
}

// conclude decides how a guest that stopped talking ended: a crash on the
// console, no done, new crash taints, or a guest error.
func (r *scenarioRun) conclude(g *boot.Guest) {
	// Wait briefly for QEMU to end on its own (the guest restarts under
	// -no-reboot) so the console is complete.
	select {
	case <-g.VM.Exited():
	case <-time.After(3 * time.Second):
	}
	if err := g.Events.Err(); err != nil {
		r.guestErr = append(r.guestErr, err.Error())
	}
	switch {
	case g.Console.Crash() != "":
		r.crash(g.Console, "")
	case r.done == nil:
		reason := "the guest ended without reporting a result"
		if len(r.guestErr) > 0 {
			reason = "guest orchestrator error: " + r.guestErr[0]
		} else if qerr := strings.TrimSpace(g.VM.Stderr()); qerr != "" && r.hello == nil {
			reason = "QEMU failed: " + console.LastLine(qerr)
		}
		r.setStatus(result.Error, reason)
		r.res.ConsoleTail = g.Console.Tail(40)
	case r.hello != nil && (r.done.Tainted&^r.hello.Tainted)&crashTaints != 0:
		r.setStatus(result.Crash, fmt.Sprintf("the kernel tainted itself during the scenario (tainted %d -> %d)", r.hello.Tainted, r.done.Tainted))
		r.res.ConsoleTail = g.Console.Tail(60)
	case len(r.guestErr) > 0:
		r.setStatus(result.Error, "guest orchestrator error: "+r.guestErr[0])
		r.res.ConsoleTail = g.Console.Tail(40)
	}
}

func (r *scenarioRun) crash(c *console.Console, why string) {
	reason := c.CrashLine()
	if reason == "" {
		reason = why
	}
	if reason == "" {
		reason = "guest panicked"
	}
	if r.running != nil {
		reason += fmt.Sprintf(" (during step %s/%d: %s)", r.running.Phase, r.running.Index, r.running.Run)
	}
	r.setStatus(result.Crash, "kernel crash: "+reason)
	r.res.Crash = c.Crash()
	r.res.ConsoleTail = c.Tail(60)
}

// setStatus sets a scenario-level status (error, timeout, crash, skip)
// that overrides what the steps say, unless a worse one is already set.
func (r *scenarioRun) setStatus(s result.Status, reason string) {
	if r.res.Status != "" && !result.Worse(s, r.res.Status) {
		return
	}
	r.res.Status, r.res.Reason = s, reason
}

func (r *scenarioRun) handle(m protocol.Message) {
	switch m.Kind {
	case protocol.KindHello:
		r.hello = m.Hello
		r.res.Env.LSMs = m.Hello.LSMs
		if err := r.c.Facts.Put(r.c.Kernel.SHA256, kernelArgs(r.c, r.s), *m.Hello, time.Now()); err != nil {
			r.c.Log.Warn("kernel facts not remembered", "err", err)
		}
		if m.Hello.ProtocolVersion != protocol.Version {
			r.guestErr = append(r.guestErr, fmt.Sprintf("guest speaks protocol %d, host %d: rebuild the image", m.Hello.ProtocolVersion, protocol.Version))
		}
	case protocol.KindSkip:
		r.skip(m.Skip.Reason)
	case protocol.KindPhaseStart:
		if p := r.phases[m.Phase.Name]; p != nil {
			p.Status = result.Pass
		}
	case protocol.KindStepStart:
		r.running = m.Step
	case protocol.KindStepEnd:
		r.running = nil
		r.step(m.Result)
	case protocol.KindArtifact:
		if err := r.artifact(m.Artifact); err != nil {
			r.guestErr = append(r.guestErr, err.Error())
		}
	case protocol.KindPhaseEnd:
		r.phaseEnd(m.Phase)
	case protocol.KindLog:
		r.c.Log.Debug("guest", "scenario", r.s.Name, "log", m.Log)
	case protocol.KindError:
		r.guestErr = append(r.guestErr, m.Error)
	case protocol.KindDone:
		r.done = m.Done
	}
}

func (r *scenarioRun) skip(reason string) {
	r.res.Status, r.res.Reason = result.Skip, reason+tsemHint(r.s, r.hello)
}

// step judges one finished step against its spec.
func (r *scenarioRun) step(end *protocol.StepEnd) {
	p := r.phases[end.Phase]
	spec := r.specStep(end.Phase, end.Index)
	if p == nil || spec == nil || end.Index != len(p.Steps)+1 {
		r.guestErr = append(r.guestErr, fmt.Sprintf("guest reported unexpected step %s/%d", end.Phase, end.Index))
		return
	}
	st := judge.Step(*spec, end.Index, *end)
	judge.AddStep(p, st)
	if r.c.Observer != nil {
		r.c.Observer.StepFinished(r.s.Name, end.Phase, st)
	}
}

func (r *scenarioRun) phaseEnd(info *protocol.PhaseInfo) {
	p := r.phases[info.Name]
	if p == nil {
		r.guestErr = append(r.guestErr, fmt.Sprintf("guest reported unknown phase %q", info.Name))
		return
	}
	p.NamespaceID = info.NamespaceID
	if info.Error != "" {
		p.Error, p.Status = info.Error, result.Error
	}
	arts := r.artifacts[p.Name]
	judge.PhaseEnd(p, *r.specPhase(p.Name), arts[protocol.ArtifactForensics], arts[protocol.ArtifactTrajectory])
}

func (r *scenarioRun) specPhase(name string) *scenario.Phase {
	for i := range r.s.Phases {
		if r.s.Phases[i].Name == name {
			return &r.s.Phases[i]
		}
	}
	return nil
}

func (r *scenarioRun) specStep(phase string, index int) *scenario.Step {
	ph := r.specPhase(phase)
	if ph == nil || index < 1 || index > len(ph.Steps) {
		return nil
	}
	return &ph.Steps[index-1]
}

// artifact stores a file the guest produced in the scenario's directory.
// Its name comes from the guest, so it is checked, never followed through a
// symlink, and never overwrites anything; count and size are bounded.
func (r *scenarioRun) artifact(a *protocol.Artifact) error {
	switch {
	case !artifactName.MatchString(a.Name) || slices.Contains(scenario.HarnessFiles, a.Name):
		return fmt.Errorf("guest sent an artifact with a bad name %q (want %s, not one of %s)", a.Name, artifactName, strings.Join(scenario.HarnessFiles, ", "))
	case len(r.res.Artifacts) >= maxArtifacts:
		return fmt.Errorf("guest sent more than %d artifacts; %s and later ones were dropped", maxArtifacts, a.Name)
	}
	content, err := a.Text(maxArtifactBytes - r.artifactBytes)
	switch {
	case errors.Is(err, protocol.ErrArtifactTooBig):
		return fmt.Errorf("guest artifacts exceed %d MiB; %s was dropped", maxArtifactBytes>>20, a.Name)
	case err != nil:
		return fmt.Errorf("guest sent an unreadable artifact: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(r.dir, a.Name), os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW, 0o644)
	if err != nil {
		return fmt.Errorf("write artifact %s: %w", a.Name, err)
	}
	_, err = f.WriteString(content)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write artifact %s: %w", a.Name, err)
	}
	r.artifactBytes += len(content)
	r.res.Artifacts = append(r.res.Artifacts, a.Name)
	if r.artifacts[a.Phase] == nil {
		r.artifacts[a.Phase] = map[protocol.ArtifactKind]string{}
	}
	r.artifacts[a.Phase][a.Kind] = content
	return nil
}

// untrusted attributes the console's "Untrusted event" lines to phases by
// namespace id.
func (r *scenarioRun) untrusted() {
	f, err := os.Open(filepath.Join(r.dir, "console.log"))
	if err != nil {
		return
	}
	defer f.Close()
	byNS := UntrustedEvents(f)
	for _, p := range r.res.Phases {
		if p.NamespaceID != "" {
			p.Untrusted = byNS[p.NamespaceID]
		}
	}
}

// Package runner runs scenarios: for each one it writes the plan into an
// initramfs, boots QEMU, follows the guest's messages, judges each step
// against the scenario's expectations, and records everything (console log,
// results JSON, artifacts) in the scenario's results directory as it goes,
// so an interrupted run still leaves its partial results.
package runner

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/tsemlab/tsemlab/harness/image"
	"github.com/tsemlab/tsemlab/harness/kernel"
	"github.com/tsemlab/tsemlab/harness/qemu"
	"github.com/tsemlab/tsemlab/harness/result"
	"github.com/tsemlab/tsemlab/harness/scenario"
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
	Append   []string
	Log      *slog.Logger
	Observer Observer
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
		writeRunJSON(c.OutDir, run)
	}
	// A pool of c.Jobs workers takes the scenarios in file order.
	next := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < max(c.Jobs, 1); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				record(i, runScenario(ctx, c, scenarios[i]))
			}
		}()
	}
feed:
	for i := range scenarios {
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	for i, s := range scenarios {
		if run.Scenarios[i] == nil {
			record(i, &result.Scenario{Name: s.Name, File: s.File, Description: s.Description, Status: result.Error, Reason: "interrupted before it started"})
		}
	}
	run.Duration = result.Duration(time.Since(run.Started))
	writeRunJSON(c.OutDir, run)
	return run
}

func writeRunJSON(dir string, run *result.Run) {
	// Scenarios not finished yet are nil; leave them out of the snapshot.
	snap := *run
	snap.Scenarios = nil
	for _, s := range run.Scenarios {
		if s != nil {
			snap.Scenarios = append(snap.Scenarios, s)
		}
	}
	writeJSON(filepath.Join(dir, "results.json"), &snap)
}

func writeJSON(path string, v any) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return
	}
	tmp := path + ".tmp"
	if os.WriteFile(tmp, append(b, '\n'), 0o644) == nil {
		_ = os.Rename(tmp, path)
	}
}

// crashTaints are the taint bits that mean the kernel hit a bug: M (machine
// check), B (bad page), D (died: oops), W (warning), L (soft lockup).
const crashTaints = 1<<4 | 1<<5 | 1<<7 | 1<<9 | 1<<14

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
	phases  map[string]*result.Phase
	// artifacts holds artifact texts by phase and kind, for phase checks.
	artifacts map[string]map[string]string
	guestErr  []string
	skipped   bool
	// qemuStderr is what QEMU printed on stderr, once it has ended.
	qemuStderr string
}

func runScenario(ctx context.Context, c Config, s *scenario.Scenario) *result.Scenario {
	if c.Observer != nil {
		c.Observer.ScenarioStarted(s.Name)
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
	writeJSON(filepath.Join(r.dir, "result.json"), r.res)
	if c.Observer != nil {
		c.Observer.ScenarioFinished(r.res)
	}
	return r.res
}

// attempt runs the scenario once.
func attempt(ctx context.Context, c Config, s *scenario.Scenario) *scenarioRun {
	r := &scenarioRun{
		c: c, s: s, phases: map[string]*result.Phase{}, artifacts: map[string]map[string]string{},
		res: &result.Scenario{Name: s.Name, File: s.File, Description: s.Description, Env: result.Environment{
			KernelPath: c.Kernel.Path, KernelSHA256: c.Kernel.SHA256, KernelRelease: c.Kernel.Release,
			InitramfsSHA256: c.Image.SHA256, QEMUVersion: c.QEMUVersion, Accel: string(c.Accel.Accel), AccelReason: c.Accel.Reason,
		}},
	}
	for _, ph := range s.Phases {
		p := &result.Phase{Name: ph.Name, Status: result.NotRun}
		r.res.Phases = append(r.res.Phases, p)
		r.phases[ph.Name] = p
	}
	start := time.Now()
	r.execute(ctx)
	r.res.Duration = result.Duration(time.Since(start))
	r.finish()
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

// execute boots the VM and follows it to the end; every way it can end
// sets the scenario's status.
func (r *scenarioRun) execute(ctx context.Context) {
	r.dir = filepath.Join(r.c.OutDir, r.s.Name)
	r.res.Dir = r.dir
	if err := os.MkdirAll(r.dir, 0o755); err != nil {
		r.fail(result.Error, fmt.Sprintf("results directory: %v", err))
		return
	}
	// Teardown is a stack: each resource pushes its undo when it exists.
	var undo []func()
	defer func() {
		for i := len(undo) - 1; i >= 0; i-- {
			undo[i]()
		}
	}()
	tmp, err := os.MkdirTemp("", "tsemlab-"+r.s.Name+"-")
	if err != nil {
		r.fail(result.Error, fmt.Sprintf("temporary directory: %v", err))
		return
	}
	undo = append(undo, func() { os.RemoveAll(tmp) })

	opts := scenario.PlanOptions{TimeoutScale: r.c.TimeoutScale(), Timeout: r.c.Timeout}
	models, err := r.s.ReadModels()
	if err != nil {
		r.fail(result.Error, err.Error())
		return
	}
	opts.Models = models
	plan := r.s.Plan(opts)
	writeJSON(filepath.Join(r.dir, "plan.json"), plan)
	initrd := filepath.Join(tmp, "initrd.cpio")
	if err := image.WithPlan(r.c.Image, plan, initrd); err != nil {
		r.fail(result.Error, err.Error())
		return
	}
	logf, err := os.Create(filepath.Join(r.dir, "console.log"))
	if err != nil {
		r.fail(result.Error, err.Error())
		return
	}
	undo = append(undo, func() { logf.Close() })
	console := qemu.NewConsole(logf, 200)
	cfg, err := qemu.New(
		qemu.WithBinary(r.c.QEMU),
		qemu.WithKernel(r.c.Kernel.Path, initrd),
		qemu.WithAppend(qemu.DefaultAppend...),
		qemu.WithAppend(r.c.Append...),
		qemu.WithAccel(r.c.Accel.Accel),
		qemu.WithMemory(max(r.c.MemoryMiB, 1024)),
		qemu.WithSockets(filepath.Join(tmp, "results.sock"), filepath.Join(tmp, "qmp.sock")),
	)
	if err != nil {
		r.fail(result.Error, err.Error())
		return
	}
	r.res.Env.Cmdline = cfg.Cmdline()
	timeout := r.s.TotalTimeout(opts)
	vctx, cancel := context.WithCancel(ctx)
	undo = append(undo, cancel)
	bootStart := time.Now()
	vm, err := qemu.Start(vctx, cfg, console, r.c.Log)
	if err != nil {
		r.fail(result.Error, err.Error())
		return
	}
	undo = append(undo, func() {
		vm.Stop(3 * time.Second)
		r.qemuStderr = vm.Stderr()
	})
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()

	messages := vm.Messages()
	for messages != nil {
		select {
		case m, ok := <-messages:
			if !ok {
				messages = nil
				continue
			}
			if m.Kind == protocol.KindHello {
				r.res.BootTime = result.Duration(time.Since(bootStart))
				r.res.GuestUptimeAtHello = result.Duration(m.Uptime)
			}
			if m.Kind == protocol.KindStepStart && r.res.FirstStep == 0 {
				r.res.FirstStep = result.Duration(time.Since(bootStart))
			}
			r.handle(m)
			if r.done != nil {
				messages = nil
			}
		case why := <-vm.Panicked():
			// Give the console a moment to deliver the panic text.
			time.Sleep(200 * time.Millisecond)
			r.crash(console, why)
			return
		case <-deadline.C:
			what := "the guest never reported (stuck in boot?)"
			if r.running != nil {
				what = fmt.Sprintf("step %s/%d (%s) was running", r.running.Phase, r.running.Index, r.running.Run)
			} else if r.hello != nil {
				what = "the guest reported but no step was running"
			}
			r.fail(result.Timeout, fmt.Sprintf("scenario timed out after %s: %s", timeout.Round(time.Second), what))
			r.res.ConsoleTail = console.Tail(40)
			return
		case <-ctx.Done():
			r.fail(result.Error, "interrupted")
			r.res.ConsoleTail = console.Tail(40)
			return
		}
	}
	// Wait briefly for QEMU to end on its own (the guest restarts under
	// -no-reboot) so the console is complete.
	select {
	case <-vm.Exited():
	case <-time.After(3 * time.Second):
	}
	if excerpt := console.Crash(); excerpt != "" {
		r.crash(console, "")
		return
	}
	if r.done == nil {
		reason := "the guest ended without reporting a result"
		if len(r.guestErr) > 0 {
			reason = "guest orchestrator error: " + r.guestErr[0]
		} else if qerr := strings.TrimSpace(vm.Stderr()); qerr != "" && r.hello == nil {
			reason = "QEMU failed: " + lastLine(qerr)
		}
		r.fail(result.Error, reason)
		r.res.ConsoleTail = console.Tail(40)
		return
	}
	if r.hello != nil && (r.done.Tainted&^r.hello.Tainted)&crashTaints != 0 {
		r.fail(result.Crash, fmt.Sprintf("the kernel tainted itself during the scenario (tainted %d -> %d)", r.hello.Tainted, r.done.Tainted))
		r.res.ConsoleTail = console.Tail(60)
		return
	}
	if len(r.guestErr) > 0 {
		r.fail(result.Error, "guest orchestrator error: "+r.guestErr[0])
		r.res.ConsoleTail = console.Tail(40)
	}
}

func (r *scenarioRun) crash(console *qemu.Console, why string) {
	reason := console.CrashLine()
	if reason == "" {
		reason = why
	}
	if reason == "" {
		reason = "guest panicked"
	}
	if r.running != nil {
		reason += fmt.Sprintf(" (during step %s/%d: %s)", r.running.Phase, r.running.Index, r.running.Run)
	}
	r.fail(result.Crash, "kernel crash: "+reason)
	r.res.Crash = console.Crash()
	r.res.ConsoleTail = console.Tail(60)
}

// fail sets a scenario-level status that overrides what the steps say,
// unless a worse one is already set.
func (r *scenarioRun) fail(s result.Status, reason string) {
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
		if m.Hello.ProtocolVersion != protocol.Version {
			r.guestErr = append(r.guestErr, fmt.Sprintf("guest speaks protocol %d, host %d: rebuild the image", m.Hello.ProtocolVersion, protocol.Version))
		}
	case protocol.KindSkip:
		r.skipped = true
		reason := m.Skip.Reason
		if contains(r.s.Requires.LSM, "tsem") && (r.hello == nil || !contains(r.hello.LSMs, "tsem")) {
			reason += "; build a TSEM kernel (see README: TSEM kernels) and pass it with --kernel, or set TSEMLAB_TSEM_KERNEL for the tests"
		}
		r.res.Status, r.res.Reason = result.Skip, reason
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
		r.artifact(m.Artifact)
	case protocol.KindPhaseEnd:
		p := r.phases[m.Phase.Name]
		if p == nil {
			return
		}
		p.NamespaceID = m.Phase.NamespaceID
		if m.Phase.Error != "" {
			p.Error = m.Phase.Error
			p.Status = result.Error
		}
		r.phaseChecks(p)
	case protocol.KindLog:
		r.c.Log.Debug("guest", "scenario", r.s.Name, "log", m.Log)
	case protocol.KindError:
		r.guestErr = append(r.guestErr, m.Error)
	case protocol.KindDone:
		r.done = m.Done
	}
}

// step judges one finished step against its expectation.
func (r *scenarioRun) step(end *protocol.StepEnd) {
	p := r.phases[end.Phase]
	spec := r.specStep(end.Phase, end.Index)
	if p == nil || spec == nil {
		r.guestErr = append(r.guestErr, fmt.Sprintf("guest reported unknown step %s/%d", end.Phase, end.Index))
		return
	}
	status, checks := spec.Expect.Evaluate(*end)
	expected := spec.Expect.Outcome
	if expected == "" {
		expected = scenario.OutcomeAllow
	}
	st := &result.Step{
		Index: end.Index, Name: spec.Name, Run: end.Run, Status: status,
		Expected: expected, Seen: end.Outcome, ExitCode: end.ExitCode, Signal: end.Signal,
		Stdout: end.Stdout, Stderr: end.Stderr, Evidence: end.Evidence,
		Duration: result.Duration(end.Duration), Checks: checks,
	}
	p.Steps = append(p.Steps, st)
	if result.Worse(status, p.Status) {
		p.Status = status
	}
	if r.c.Observer != nil {
		r.c.Observer.StepFinished(r.s.Name, end.Phase, st)
	}
}

func (r *scenarioRun) specStep(phase string, index int) *scenario.Step {
	for i := range r.s.Phases {
		if r.s.Phases[i].Name == phase && index >= 1 && index <= len(r.s.Phases[i].Steps) {
			return &r.s.Phases[i].Steps[index-1]
		}
	}
	return nil
}

func (r *scenarioRun) artifact(a *protocol.Artifact) {
	name := filepath.Base(a.Name)
	if name == "." || name == "/" || name == "" {
		r.guestErr = append(r.guestErr, fmt.Sprintf("guest sent an artifact with a bad name %q", a.Name))
		return
	}
	if err := os.WriteFile(filepath.Join(r.dir, name), []byte(a.Content), 0o644); err != nil {
		r.guestErr = append(r.guestErr, fmt.Sprintf("write artifact %s: %v", name, err))
		return
	}
	r.res.Artifacts = append(r.res.Artifacts, name)
	if r.artifacts[a.Phase] == nil {
		r.artifacts[a.Phase] = map[string]string{}
	}
	r.artifacts[a.Phase][a.Kind] = a.Content
}

// finish rolls step statuses up into the scenario's, when nothing worse
// (crash, timeout, error, skip) already decided it, and marks what never ran.
func (r *scenarioRun) finish() {
	for i, ph := range r.s.Phases {
		p := r.res.Phases[i]
		for j := len(p.Steps); j < len(ph.Steps); j++ {
			if r.skipped {
				break
			}
			st := ph.Steps[j]
			exp := st.Expect.Outcome
			if exp == "" {
				exp = scenario.OutcomeAllow
			}
			p.Steps = append(p.Steps, &result.Step{Index: j + 1, Name: st.Name, Run: st.Run, Status: result.NotRun, Expected: exp, Seen: protocol.OutcomeNotRun})
		}
		if r.skipped {
			p.Status = result.Skip
		}
	}
	if r.res.Status != "" {
		return
	}
	status := result.Pass
	for _, p := range r.res.Phases {
		s := p.Status
		if s == result.NotRun {
			s = result.Fail
		}
		if result.Worse(s, status) {
			status = s
		}
	}
	if status == result.NotRun {
		status = result.Fail
	}
	r.res.Status = status
	switch status {
	case result.Fail:
		r.res.Reason = "an expectation was not met"
	case result.Error:
		for _, p := range r.res.Phases {
			if p.Error != "" {
				r.res.Reason = fmt.Sprintf("phase %s: %s", p.Name, p.Error)
				break
			}
		}
	}
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

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

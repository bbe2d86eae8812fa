// Package result holds what a run found: per scenario, phase and step, the
// expected and seen outcome with its evidence, plus where it ran. The runner
// fills it, report writers and `tsemlab show` read it; results.json in a run
// directory is this structure encoded as JSON.
package result

import (
	"encoding/json"
	"strings"
	"time"

	"github.com/tsemlab/tsemlab/protocol"
)

// Status of a scenario or a step. They are kept distinct on purpose: a
// harness error or a kernel crash is never read as a denial.
type Status string

const (
	// Pass: every expectation was met.
	Pass Status = "pass"
	// Fail: an expectation was not met.
	Fail Status = "fail"
	// Skip: not run, with a reason (e.g. the kernel lacks TSEM).
	Skip Status = "skip"
	// Timeout: the guest or a step exceeded its time limit.
	Timeout Status = "timeout"
	// Crash: the kernel panicked, oopsed or tainted itself.
	Crash Status = "crash"
	// Error: the harness itself broke (QEMU missing, guest protocol
	// violated, orchestrator failure).
	Error Status = "error"
	// NotRun: a step that an earlier failure kept from running.
	NotRun Status = "not_run"
)

// Worse reports whether a is a worse status than b, for rolling step
// statuses up into a scenario status: crash > error > timeout > fail >
// not_run > pass > skip.
func Worse(a, b Status) bool { return rank(a) > rank(b) }

func rank(s Status) int {
	switch s {
	case Crash:
		return 6
	case Error:
		return 5
	case Timeout:
		return 4
	case Fail:
		return 3
	case NotRun:
		return 2
	case Pass:
		return 1
	default: // Skip, ""
		return 0
	}
}

// Run is one invocation of `tsemlab run`.
type Run struct {
	Started   time.Time   `json:"started"`
	Duration  Duration    `json:"duration"`
	Dir       string      `json:"dir"`
	Scenarios []*Scenario `json:"scenarios"`
}

// Counts tallies scenario statuses.
func (r *Run) Counts() map[Status]int {
	c := map[Status]int{}
	for _, s := range r.Scenarios {
		c[s.Status]++
	}
	return c
}

// Environment records where a scenario ran, so a result can be reproduced.
type Environment struct {
	KernelPath      string `json:"kernel_path"`
	KernelSHA256    string `json:"kernel_sha256"`
	KernelRelease   string `json:"kernel_release,omitempty"`
	InitramfsSHA256 string `json:"initramfs_sha256,omitempty"`
	QEMUVersion     string `json:"qemu_version,omitempty"`
	Accel           string `json:"accel,omitempty"`
	// AccelReason says why that accelerator was chosen.
	AccelReason string   `json:"accel_reason,omitempty"`
	LSMs        []string `json:"lsms,omitempty"`
	Cmdline     []string `json:"qemu_cmdline,omitempty"`
	// Boot says how the guest started: "restored snapshot KEY" (with
	// "(readied ahead)" when the VM was restored while an earlier
	// scenario ran, and BootTime counts from its plan), "cold boot
	// (snapshots off)" or "cold boot: WHY the restore failed".
	Boot string `json:"boot,omitempty"`
	// RootFS are the workload images the steps ran in, when the scenario
	// names any.
	RootFS []RootFS `json:"rootfs,omitempty"`
	// KernelCmdline is the kernel command line the guest booted with.
	KernelCmdline string `json:"kernel_cmdline,omitempty"`
}

// RootFS records which build of a workload image a scenario ran in.
type RootFS struct {
	Name   string `json:"name"`
	Path   string `json:"path"`
	SHA256 string `json:"sha256"`
	// Suite is the Debian suite the image was built from; RequestedSuite
	// is the one its definition asks for (they differ when the mirror no
	// longer serves it).
	Suite          string `json:"suite"`
	RequestedSuite string `json:"requested_suite,omitempty"`
	DebianVersion  string `json:"debian_version,omitempty"`
}

// Scenario is the result of one scenario file.
type Scenario struct {
	Name        string `json:"name"`
	File        string `json:"file"`
	Description string `json:"description,omitempty"`
	Status      Status `json:"status"`
	// Reason explains skip, timeout, crash and error statuses in one line.
	Reason   string   `json:"reason,omitempty"`
	Duration Duration `json:"duration"`
	// BootTime is host wall time from QEMU start to the guest's hello.
	BootTime Duration `json:"boot_time,omitempty"`
	// FirstStep is host wall time from QEMU start to the first step's start.
	FirstStep Duration `json:"first_step,omitempty"`
	// GuestUptimeAtHello is the guest's own clock at hello.
	GuestUptimeAtHello Duration    `json:"guest_uptime_at_hello,omitempty"`
	Env                Environment `json:"environment"`
	Phases             []*Phase    `json:"phases"`
	// Crash holds the console excerpt of a panic, oops or taint.
	Crash string `json:"crash,omitempty"`
	// ConsoleTail is the end of the console log, kept for failures.
	ConsoleTail string `json:"console_tail,omitempty"`
	// Dir is the scenario's own results directory.
	Dir string `json:"dir,omitempty"`
	// Artifacts are file names (relative to Dir) the guest produced.
	Artifacts []string `json:"artifacts,omitempty"`
	// GuestBoot is where the guest's boot time went, on its own clock.
	GuestBoot *GuestBoot `json:"guest_boot,omitempty"`
}

// GuestBoot is where a guest's boot time went, on its clock since the
// kernel started: when init started, ran its main and was ready, when the
// orchestrator started, how long loading
// modules and describing the kernel took. A restored guest reports the
// boot its snapshot was made from.
type GuestBoot struct {
	InitStart Duration `json:"init_start"`
	// InitMain is when init's main ran, InitReady when it had mounted
	// everything and started the orchestrator (0 from older guests).
	InitMain          Duration `json:"init_main,omitempty"`
	InitReady         Duration `json:"init_ready,omitempty"`
	OrchestratorStart Duration `json:"orchestrator_start"`
	ModulesTook       Duration `json:"modules_took"`
	DescribeTook      Duration `json:"describe_took"`
}

// StepsTime is the sum of the scenario's steps' durations; Duration minus
// it is what the scenario spent outside its steps (boot, setup, reports).
func (s *Scenario) StepsTime() time.Duration {
	var d time.Duration
	for _, p := range s.Phases {
		for _, st := range p.Steps {
			d += time.Duration(st.Duration)
		}
	}
	return d
}

// Phase is the result of one phase.
type Phase struct {
	Name        string  `json:"name"`
	Status      Status  `json:"status"`
	NamespaceID string  `json:"namespace_id,omitempty"`
	Error       string  `json:"error,omitempty"`
	Steps       []*Step `json:"steps"`
	// Checks are phase-level expectations (forensics_contains ...).
	Checks []Check `json:"checks,omitempty"`
	// Untrusted counts what the kernel logged as "Untrusted event" for the
	// phase's namespace, by process and hook ("bash task_alloc": 2): the
	// actions of tasks TSEM had already marked untrusted, which forensics
	// do not record.
	Untrusted map[string]int `json:"untrusted,omitempty"`
	// Denials and Violations count the phase's steps seen as deny (a
	// refusal reached the step) and violation (the step left the model
	// and still succeeded).
	Denials    int `json:"denials,omitempty"`
	Violations int `json:"violations,omitempty"`
	// Timing is where the phase's time went, on the guest's clock.
	Timing *PhaseTiming `json:"timing,omitempty"`
}

// PhaseTiming is where a phase's time went, on the guest's clock: Setup
// from its start to its first step (TSEM namespace and model, image mount,
// container start, setup commands), Steps its steps, Teardown from its
// last step's end to its end (the model and its records exported and
// sent, the container and mounts taken down), Total all of it.
type PhaseTiming struct {
	Setup    Duration `json:"setup"`
	Steps    Duration `json:"steps"`
	Teardown Duration `json:"teardown"`
	Total    Duration `json:"total"`
}

// Step is the result of one step.
type Step struct {
	Index    int              `json:"index"`
	Name     string           `json:"name"`
	Run      string           `json:"run"`
	Status   Status           `json:"status"`
	Expected protocol.Outcome `json:"expected"`
	Seen     protocol.Outcome `json:"seen"`
	ExitCode int              `json:"exit_code"`
	Signal   string           `json:"signal,omitempty"`
	Stdout   string           `json:"stdout,omitempty"`
	Stderr   string           `json:"stderr,omitempty"`
	// Evidence is every sign the judge weighed; the decisive ones decided
	// Seen.
	Evidence []Evidence `json:"evidence,omitempty"`
	// KernelLog holds the kernel's refusal lines printed during the step.
	KernelLog []string `json:"kernel_log,omitempty"`
	// Forensics are the TSEM forensic events recorded during the step.
	Forensics []string `json:"forensics,omitempty"`
	Duration  Duration `json:"duration"`
	// Checks are the individual expectations and whether each held.
	Checks []Check `json:"checks,omitempty"`
}

// Evidence is one sign the judge weighed for a step's outcome.
type Evidence struct {
	// Kind is where it came from: exit, signal, stderr, kernel_log,
	// forensics, timeout, not_run.
	Kind string `json:"kind"`
	Text string `json:"text"`
	// Decisive is set on the evidence that decided the outcome.
	Decisive bool `json:"decisive,omitempty"`
}

// UnmarshalJSON also reads the plain strings results of tsemlab before
// protocol version 2 held, as undecided evidence.
func (e *Evidence) UnmarshalJSON(b []byte) error {
	var text string
	if json.Unmarshal(b, &text) == nil {
		*e = Evidence{Text: text}
		return nil
	}
	type plain Evidence
	return json.Unmarshal(b, (*plain)(e))
}

// DescribeEvidence says in one line what decided an outcome and what else
// was seen: "decided by: stderr: ...; exit status 1. also seen: ...". When
// nothing is marked decisive (older results) it lists the evidence.
func DescribeEvidence(ev []Evidence) string {
	var decisive, other []string
	for _, e := range ev {
		if e.Decisive {
			decisive = append(decisive, e.Text)
		} else {
			other = append(other, e.Text)
		}
	}
	if len(decisive) == 0 {
		// Results written before evidence was weighed mark none.
		return strings.Join(other, "; ")
	}
	parts := []string{"decided by: " + strings.Join(decisive, "; ")}
	if len(other) > 0 {
		parts = append(parts, "also seen: "+strings.Join(other, "; "))
	}
	return strings.Join(parts, ". ")
}

// Check is one expectation with what was wanted and what was found.
type Check struct {
	What string `json:"what"`
	Want string `json:"want"`
	Got  string `json:"got"`
	OK   bool   `json:"ok"`
}

// Failed returns the checks that did not hold.
func Failed(checks []Check) []Check {
	var out []Check
	for _, c := range checks {
		if !c.OK {
			out = append(out, c)
		}
	}
	return out
}

// Package protocol is the vocabulary shared by the host harness and the guest
// orchestrator: the plan the host hands to the guest (as /tsemlab/plan.json in
// an appended initramfs archive) and the JSON-lines messages the guest sends
// back on its dedicated results serial port.
//
// Nothing here does I/O beyond encoding; both sides import it and nothing else
// of each other.
package protocol

import (
	"encoding/json"
	"fmt"
	"time"
)

// Version is bumped whenever a plan or message field changes meaning. The
// guest refuses a plan of another version instead of guessing.
const Version = 1

// PlanPath is where the plan lives inside the guest.
const PlanPath = "/tsemlab/plan.json"

// ResultsPort is the guest device the orchestrator writes messages to; the
// host attaches it to a socket of its own, separate from the console.
const ResultsPort = "/dev/ttyS1"

// Duration is a time.Duration that encodes as a Go duration string ("90s").
type Duration time.Duration

// MarshalJSON encodes d as a duration string.
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}

// UnmarshalJSON decodes a duration string.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// Std returns d as a time.Duration.
func (d Duration) Std() time.Duration { return time.Duration(d) }

// Plan is everything the guest needs to run one scenario.
type Plan struct {
	Version  int    `json:"version"`
	Scenario string `json:"scenario"`
	// Probe makes the guest report its Hello and power off at once; the
	// accelerator probe and `tsemlab doctor` use it.
	Probe    bool     `json:"probe,omitempty"`
	Requires Requires `json:"requires"`
	Mode     string   `json:"mode,omitempty"`
	// Image names the workload root filesystem the steps run in; "" is
	// the initramfs itself.
	Image string `json:"image,omitempty"`
	// StepTimeout is the default per-step limit, already scaled for the
	// accelerator by the host.
	StepTimeout Duration `json:"step_timeout"`
	Phases      []Phase  `json:"phases"`
	// Files are extra inputs the host ships with the plan (models to load),
	// keyed by the name the phase refers to.
	Files map[string]string `json:"files,omitempty"`
}

// Requires lists what the kernel must offer for the scenario to be meaningful.
type Requires struct {
	// LSM names that must appear in /sys/kernel/security/lsm.
	LSM []string `json:"lsm,omitempty"`
	// Features are kernel facilities: "seccomp", "user_namespaces", ...
	Features []string `json:"features,omitempty"`
}

// Session says how a phase's steps reach a shell.
const (
	// SessionShell types every step into one long-lived shell's stdin.
	SessionShell = "shell"
	// SessionExec runs each step as its own `sh -c`.
	SessionExec = "exec"
)

// Phase is one group of steps that share an environment (and, with TSEM, a
// modeling namespace).
type Phase struct {
	Name    string `json:"name"`
	Session string `json:"session"`
	// Shell is the argv of the session shell (SessionShell) or the prefix
	// that runs one step (SessionExec, the step text is appended).
	Shell []string `json:"shell"`
	// Env is the environment of the shell and its steps.
	Env  []string `json:"env,omitempty"`
	Dir  string   `json:"dir,omitempty"`
	Caps *Caps    `json:"caps,omitempty"`
	TSEM *TSEM    `json:"tsem,omitempty"`
	// Setup runs before the phase (and before any namespace is created),
	// outside the measured steps.
	Setup []string `json:"setup,omitempty"`
	Steps []Step   `json:"steps"`
}

// Caps changes a process's capability sets before it runs. Names are as in
// capabilities(7) ("CAP_CHOWN" or "chown"); "ALL" means every capability.
// Drop is applied first, then Add.
type Caps struct {
	Drop []string `json:"drop,omitempty"`
	Add  []string `json:"add,omitempty"`
}

// TSEM model modes of a phase.
const (
	ModelLearn   = "learn"
	ModelEnforce = "enforce"
	ModelSeal    = "seal"
)

// TSEM configures the modeling namespace a phase runs in.
type TSEM struct {
	Model string `json:"model"`
	// Export names the artifact the learned model is written to.
	Export string `json:"export,omitempty"`
	// Load names the model to load: a Files key or an earlier phase's export.
	Load       string   `json:"load,omitempty"`
	Pseudonyms []string `json:"pseudonyms,omitempty"`
	Backprop   bool     `json:"backprop,omitempty"`
	Digest     string   `json:"digest,omitempty"`
	Cache      int      `json:"cache,omitempty"`
	NSRef      string   `json:"nsref,omitempty"`
}

// Step is one command.
type Step struct {
	Index   int      `json:"index"`
	Name    string   `json:"name"`
	Run     string   `json:"run"`
	Caps    *Caps    `json:"caps,omitempty"`
	Timeout Duration `json:"timeout,omitempty"`
}

// Message kinds, guest to host.
const (
	KindHello      = "hello"
	KindSkip       = "skip"
	KindPhaseStart = "phase_start"
	KindStepStart  = "step_start"
	KindStepEnd    = "step_end"
	KindArtifact   = "artifact"
	KindPhaseEnd   = "phase_end"
	KindLog        = "log"
	KindError      = "error"
	KindDone       = "done"
)

// Message is one JSON line on the results port. Exactly one of the pointer
// fields is set, matching Kind.
type Message struct {
	Kind string `json:"kind"`
	// Uptime is the guest's CLOCK_BOOTTIME when the message was made.
	Uptime   Duration   `json:"uptime"`
	Hello    *Hello     `json:"hello,omitempty"`
	Skip     *Skip      `json:"skip,omitempty"`
	Phase    *PhaseInfo `json:"phase,omitempty"`
	Step     *StepStart `json:"step,omitempty"`
	Result   *StepEnd   `json:"result,omitempty"`
	Artifact *Artifact  `json:"artifact,omitempty"`
	Log      string     `json:"log,omitempty"`
	Error    string     `json:"error,omitempty"`
	Done     *Done      `json:"done,omitempty"`
}

// Hello describes the guest kernel as the orchestrator found it.
type Hello struct {
	ProtocolVersion int      `json:"protocol_version"`
	KernelRelease   string   `json:"kernel_release"`
	KernelVersion   string   `json:"kernel_version"`
	LSMs            []string `json:"lsms"`
	TSEM            bool     `json:"tsem"`
	Features        []string `json:"features"`
	Tainted         uint64   `json:"tainted"`
	Clocksource     string   `json:"clocksource,omitempty"`
	// Modules lists the kernel modules the orchestrator loaded.
	Modules []string `json:"modules,omitempty"`
}

// Skip says why the guest will not run the plan.
type Skip struct {
	Reason string `json:"reason"`
}

// PhaseInfo marks the start or end of a phase.
type PhaseInfo struct {
	Name string `json:"name"`
	// NamespaceID is the TSEM namespace id, when the phase had one.
	NamespaceID string `json:"namespace_id,omitempty"`
	// Error is set when the phase could not be run as planned.
	Error string `json:"error,omitempty"`
	// Forensics is the number of forensic (out-of-model) events recorded
	// over the phase.
	Forensics int `json:"forensics,omitempty"`
}

// StepStart marks a step the guest is about to run.
type StepStart struct {
	Phase string `json:"phase"`
	Index int    `json:"index"`
	Run   string `json:"run"`
}

// Outcomes a step can be seen to have.
const (
	// OutcomeAllow: the step ran and exited 0 with no sign of refusal.
	OutcomeAllow = "allow"
	// OutcomeDeny: the kernel refused something (EPERM/EACCES text,
	// SIGSYS, a TSEM violation recorded during the step).
	OutcomeDeny = "deny"
	// OutcomeError: the step exited non-zero with no sign of refusal.
	OutcomeError = "error"
	// OutcomeTimeout: the step did not finish within its limit.
	OutcomeTimeout = "timeout"
	// OutcomeNotRun: an earlier failure ended the session first.
	OutcomeNotRun = "not_run"
)

// StepEnd is what the guest saw of a finished step.
type StepEnd struct {
	Phase    string `json:"phase"`
	Index    int    `json:"index"`
	Run      string `json:"run"`
	ExitCode int    `json:"exit_code"`
	Signal   string `json:"signal,omitempty"`
	Stdout   string `json:"stdout"`
	Stderr   string `json:"stderr"`
	// Truncated is set when stdout or stderr was cut to its bound (the
	// tail is kept).
	Truncated bool     `json:"truncated,omitempty"`
	Duration  Duration `json:"duration"`
	Outcome   string   `json:"outcome"`
	// Evidence says why Outcome was chosen, one item per sign seen.
	Evidence []string `json:"evidence,omitempty"`
	// Forensics are the TSEM forensic records that appeared during the
	// step, as the kernel printed them.
	Forensics []string `json:"forensics,omitempty"`
}

// Artifact kinds.
const (
	ArtifactModel                 = "model"
	ArtifactTrajectory            = "trajectory"
	ArtifactTrajectoryCoefficient = "trajectory_coefficients"
	ArtifactTrajectoryCounts      = "trajectory_counts"
	ArtifactForensics             = "forensics"
	ArtifactForensicsCoefficients = "forensics_coefficients"
	ArtifactForensicsCounts       = "forensics_counts"
	ArtifactState                 = "state"
	ArtifactMeasurement           = "measurement"
	ArtifactAggregate             = "aggregate"
	ArtifactNamespaceID           = "id"
)

// Artifact is a named text the guest produced.
type Artifact struct {
	Phase string `json:"phase"`
	// Name is the file name it is stored under on the host.
	Name    string `json:"name"`
	Kind    string `json:"kind"`
	Content string `json:"content"`
}

// Done ends a run.
type Done struct {
	Tainted uint64 `json:"tainted"`
}

// Encode returns m as one JSON line.
func Encode(m Message) ([]byte, error) {
	b, err := json.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("encode %s message: %w", m.Kind, err)
	}
	return append(b, '\n'), nil
}

// Decode parses one JSON line.
func Decode(line []byte) (Message, error) {
	var m Message
	if err := json.Unmarshal(line, &m); err != nil {
		return Message{}, fmt.Errorf("decode message %q: %w", truncate(string(line), 80), err)
	}
	if m.Kind == "" {
		return Message{}, fmt.Errorf("decode message %q: no kind", truncate(string(line), 80))
	}
	if !m.hasPayload() {
		return Message{}, fmt.Errorf("decode message %q: kind %s without its payload", truncate(string(line), 80), m.Kind)
	}
	return m, nil
}

// hasPayload reports whether the field Kind calls for is set, so a reader
// never meets a nil payload.
func (m Message) hasPayload() bool {
	switch m.Kind {
	case KindHello:
		return m.Hello != nil
	case KindSkip:
		return m.Skip != nil
	case KindPhaseStart, KindPhaseEnd:
		return m.Phase != nil
	case KindStepStart:
		return m.Step != nil
	case KindStepEnd:
		return m.Result != nil
	case KindArtifact:
		return m.Artifact != nil
	case KindDone:
		return m.Done != nil
	case KindLog, KindError:
		return true
	}
	return false
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// Unmet returns why h does not satisfy r, or "" when it does.
func (r Requires) Unmet(h Hello) string {
	for _, want := range r.LSM {
		if !contains(h.LSMs, want) {
			return fmt.Sprintf("kernel %s lacks the %s security module (active LSMs: %s)", h.KernelRelease, want, joinOrNone(h.LSMs))
		}
	}
	for _, want := range r.Features {
		if !contains(h.Features, want) {
			return fmt.Sprintf("kernel %s lacks %s (has: %s)", h.KernelRelease, want, joinOrNone(h.Features))
		}
	}
	return ""
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func joinOrNone(list []string) string {
	if len(list) == 0 {
		return "none"
	}
	out := list[0]
	for _, v := range list[1:] {
		out += "," + v
	}
	return out
}

// Package scenario reads tsemlab scenario files: YAML documents that say
// which kernel facilities a test needs and which commands, run in which
// phases, a security module (TSEM) or capability and seccomp settings must
// allow or deny.
//
// Decoding is strict. Every unknown field, wrong type, missing field and
// inconsistent setting is reported as a *ValidationError carrying the file,
// line and column and a hint that says how to fix it; all errors of a file
// (or of all files, with LoadAll) are gathered into one ValidationErrors
// before anything runs.
//
// A Scenario is plain data: what the user wrote, with the documented
// defaults filled in. Plan turns it into the protocol.Plan the guest runs;
// package judge weighs what the guest saw against it.
package scenario

import (
	"time"

	"github.com/tsemlab/tsemlab/protocol"
	"github.com/tsemlab/tsemlab/seccomp"
)

// Defaults for the fields a scenario may leave out.
const (
	DefaultTimeout     = 3 * time.Minute
	DefaultStepTimeout = 60 * time.Second
	DefaultMode        = protocol.ModeProcess
	DefaultSession     = protocol.SessionExec
)

// DefaultShell returns the shell argv used by a phase of the given session
// that names none.
func DefaultShell(session protocol.Session) []string {
	if session == protocol.SessionShell {
		return []string{"/bin/bash", "--noprofile", "--norc"}
	}
	return []string{"/bin/sh", "-c"}
}

// Scenario is one scenario file, decoded and validated.
type Scenario struct {
	// File is the path the scenario was read from (the name given to Parse).
	File string
	// Dir is the directory of File; relative model paths resolve against it.
	Dir string

	Name        string
	Description string
	Requires    Requires
	// Image names the root filesystem the steps run in; "" is the
	// orchestrator's own initramfs.
	Image string
	Mode  protocol.Mode
	// Timeout bounds the whole scenario, boot included.
	Timeout time.Duration
	// StepTimeout is the limit of a step that sets none.
	StepTimeout time.Duration
	// Session is the phases' default.
	Session protocol.Session
	// Shell is the phases' default shell argv; nil means DefaultShell of
	// the phase's session.
	Shell []string
	// Env is the phases' default environment; a phase's Env overrides it
	// key by key.
	Env map[string]string
	// KernelArgs are kernel command-line arguments for this scenario's
	// boot, after the harness's own and run's --append.
	KernelArgs []string
	Phases     []Phase
}

// Requires lists what the kernel must offer for the scenario to run; a
// kernel without it makes the scenario skip with the reason.
type Requires struct {
	// LSM names that must be active ("tsem").
	LSM []string
	// Features are kernel facilities ("seccomp", "user_namespaces").
	Features []string
}

// Phase is a group of steps that share a session, an environment and, with
// TSEM, a modeling namespace.
type Phase struct {
	Name        string
	Description string
	// Image is the phase's own workload image, or "" (the scenario's).
	Image string
	// Session is the phase's own, or "" (the scenario's).
	Session protocol.Session
	// Shell overrides the scenario's shell; nil inherits it (see Plan).
	Shell []string
	// Env overrides the scenario's environment key by key.
	Env map[string]string
	// Caps applies to the phase's shell and so to every step.
	Caps *Caps
	// Setup runs before the phase, outside the measured steps.
	Setup []string
	TSEM  *TSEM
	Steps []Step
	// Expect holds phase-level expectations (forensics, trajectory).
	Expect PhaseExpect
	// Seccomp learns or enforces a seccomp profile for every step.
	Seccomp *Seccomp
	// AppArmor confines every step (a step's own wins).
	AppArmor *AppArmor
}

// Caps changes capability sets. Names are normalised to upper case with the
// CAP_ prefix ("CAP_CHOWN"), or "ALL". Drop is applied first, then Add.
type Caps struct {
	Drop []string
	Add  []string
}

// TSEM configures the modeling namespace a phase runs in.
type TSEM struct {
	Model protocol.ModelMode
	// Export names the artifact a learn phase writes its model to.
	Export string
	// Load is the model an enforce or seal phase starts from: an earlier
	// phase's Export, or the path of a model file relative to the
	// scenario file, without "..", inside the scenario's directory.
	Load string
	// LoadFile is the path of the model file when Load names a file rather
	// than an earlier export ("" otherwise). When the scenario was loaded
	// it was a regular file of at most MaxModelSize bytes in the
	// scenario's directory (symbolic links resolved) that parsed as a
	// model; ReadModels checks that again.
	LoadFile   string
	Pseudonyms []string
	Backprop   bool
	Digest     string
	Cache      int
	// NSRef is "initial", "current" or "" (the kernel's default).
	NSRef string
}

// Step is one command.
type Step struct {
	Name string
	Run  string
	// Caps applies to this step only; allowed in exec sessions only.
	Caps *Caps
	// Timeout is 0 when the step sets none (the scenario's StepTimeout
	// applies).
	Timeout time.Duration
	Expect  StepExpect
	// Namespaces are the new namespaces the step runs in, in
	// protocol.NamespaceKinds order.
	Namespaces []string
	// Chroot or PivotRoot (absolute guest paths; one at most) make a
	// directory the step's root.
	Chroot    string
	PivotRoot string
	// User is "UID:GID" ("" runs as root).
	User            string
	NoNewPrivileges bool
	AppArmor        *AppArmor
	// HTTP, when set, makes the step a request instead of a command (Run
	// then reads "GET URL").
	HTTP *HTTP
}

// Seccomp configures a phase's seccomp profile.
type Seccomp struct {
	Mode protocol.SeccompMode
	// Export names the artifact a learn phase writes its profile to.
	Export string
	// DefaultAction is a learned profile's answer to the calls not seen
	// (seccomp.ActErrno unless the scenario says otherwise).
	DefaultAction seccomp.Action
	// Profile is what an enforce phase enforces, as written: an earlier
	// learn phase's Export, or a profile file relative to the scenario.
	Profile string
	// ProfileFile is the file's path when Profile names one ("" for an
	// export), and ProfileText its content, validated when loaded.
	ProfileFile string
	ProfileText string
}

// AppArmor confines steps to a profile loaded in the guest.
type AppArmor struct {
	// Profile is the profile file as written, relative to the scenario.
	Profile string
	// File is its path, Text its content (read when the scenario loaded).
	File string
	Text string
	// Name is the profile the steps are confined to: the file's first
	// profile unless the scenario names one.
	Name string
}

// StepExpect is what a step must show. Every non-empty field is one check.
type StepExpect struct {
	// Outcome is one of protocol.Outcomes; protocol.OutcomeAllow when the
	// scenario names none.
	Outcome protocol.Outcome
	// ExitCode, when set, must equal the step's exit code.
	ExitCode *int
	// Each string must appear in stdout, stderr, or either (Output).
	StdoutContains []string
	StderrContains []string
	OutputContains []string
	// Each string must not appear in stdout, stderr, or either (Output).
	StdoutNotContains []string
	StderrNotContains []string
	OutputNotContains []string
}

// PhaseExpect holds the expectations on a TSEM phase as a whole.
type PhaseExpect struct {
	// ForensicsContains: for each match, some forensic event of the phase
	// has every listed field with the listed value.
	ForensicsContains []EventMatch
	// TrajectoryContains: likewise for the phase's trajectory.
	TrajectoryContains []EventMatch
	// ForensicsCount, when set, bounds the number of forensic events.
	ForensicsCount *Count
}

// EventMatch is a subset of a TSEM event's fields and their values
// ({type: file_open, pathname: /etc/locale.alias}).
type EventMatch map[string]string

// Count is an exact number or a range. Written as `2`, it is Min 2, Max 2;
// as `{min: 1}` it has no upper bound (Max nil).
type Count struct {
	Min int
	Max *int
}

// Holds reports whether n is within c.
func (c Count) Holds(n int) bool {
	return n >= c.Min && (c.Max == nil || n <= *c.Max)
}

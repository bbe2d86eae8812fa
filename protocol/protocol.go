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
	"slices"
	"strings"
	"time"
)

// Version is bumped whenever a plan or message field changes meaning. The
// guest refuses a plan of another version instead of guessing.
//
// Version 2: the guest reports facts only (StepEnd has no outcome; the host
// judges), with the kernel log lines of each step.
// Version 3: an artifact's content may come gzipped (Artifact.Gzip).
const Version = 3

// PlanPath is where the plan lives inside the guest.
const PlanPath = "/tsemlab/plan.json"

// ResultsPort is the guest device the orchestrator writes messages to; the
// host attaches it to a socket of its own, separate from the console.
const ResultsPort = "/dev/ttyS1"

// SecurityFS is where the kernel's security modules publish their files
// (the active LSM list, TSEM's control and model files).
const SecurityFS = "/sys/kernel/security"

// ModulesList is where the image lists the kernel modules the guest loads
// before anything else, one path per line, in load order.
const ModulesList = "/tsemlab/modules.txt"

// MaxLine bounds one message on the results channel, artifacts included.
// A longer line is a protocol error, never silently dropped.
const MaxLine = 16 << 20

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
	Mode     Mode     `json:"mode,omitempty"`
	// Image names the workload root filesystem the steps run in; "" is
	// the initramfs itself. A phase may name another (Phase.Image).
	Image string `json:"image,omitempty"`
	// StepTimeout is the default per-step limit, already scaled for the
	// accelerator by the host.
	StepTimeout Duration `json:"step_timeout"`
	Phases      []Phase  `json:"phases"`
	// Files are extra inputs the host ships with the plan (models to load),
	// keyed by the name the phase refers to.
	Files map[string]string `json:"files,omitempty"`
	// Await makes the guest send its hello and then wait for the plan it
	// is to run, one JSON line on the results port (see AwaitPlan), after
	// which it says hello again and runs that plan. The host boots such a
	// guest once, snapshots it while it waits, and restores the snapshot
	// for each scenario.
	Await bool `json:"await,omitempty"`
	// Clock is the host's time when it sent a waiting guest its plan: the
	// guest sets its clock to it (a restored guest's clock is otherwise
	// the snapshot's).
	Clock *time.Time `json:"clock,omitempty"`
	// Drives are the workload images the host attached as read-only
	// disks, and the guest device of each; Image names one of them.
	Drives []Drive `json:"drives,omitempty"`
}

// AwaitPlan is the plan of a guest booted to be snapshotted: it says hello
// and waits for its scenario's plan on the results port. drives are the
// drives every restore has: the guest readies the tools drive's programs
// before its hello, so that they are in the snapshot.
func AwaitPlan(drives []Drive) Plan {
	return Plan{Version: Version, Scenario: "snapshot", Await: true, Drives: drives}
}

// ToolsImage is the Drive.Image of the tools drive: the host programs the
// guest runs only for some scenarios (runc for container mode,
// apparmor_parser for AppArmor labs) travel on a read-only disk attached
// when the plan needs them (Plan.NeedsTools) instead of in the initramfs,
// which every boot unpacks. The guest copies them into ToolsDir, on its
// own root file system, where its /bin links to them point.
const (
	ToolsImage = "tsemlab-tools"
	ToolsDir   = "/tsemlab/tools"
)

// Images are the workload images the plan's phases run in, in the order
// they first name them; a phase that names none runs in the plan's Image.
func (p Plan) Images() []string {
	var names []string
	for _, ph := range p.Phases {
		name := ph.Image
		if name == "" {
			name = p.Image
		}
		if name != "" && !slices.Contains(names, name) {
			names = append(names, name)
		}
	}
	return names
}

// NeedsTools says whether the plan runs a program of the tools drive:
// runc (container mode) or apparmor_parser (an AppArmor profile in any
// phase or step).
func (p Plan) NeedsTools() bool {
	if p.Mode == ModeContainer {
		return true
	}
	for _, ph := range p.Phases {
		if ph.AppArmor != nil {
			return true
		}
		for _, st := range ph.Steps {
			if st.AppArmor != nil {
				return true
			}
		}
	}
	return false
}

// Drive is a read-only root filesystem image the host attached as a disk.
type Drive struct {
	// Image is the images/ definition it was built from.
	Image string `json:"image"`
	// Device is the guest's block device for it ("/dev/vda").
	Device string `json:"device"`
	// FSType is how to mount it ("erofs").
	FSType string `json:"fstype"`
}

// Requires lists what the kernel must offer for the scenario to be meaningful.
type Requires struct {
	// LSM names that must appear in /sys/kernel/security/lsm.
	LSM []string `json:"lsm,omitempty"`
	// Features are kernel facilities: "seccomp", "user_namespaces", ...
	Features []string `json:"features,omitempty"`
}

// Mode says where a scenario's steps run.
type Mode string

// Modes.
const (
	// ModeProcess runs the steps as processes of the guest (chrooted into
	// the image when there is one).
	ModeProcess Mode = "process"
	// ModeContainer runs the steps inside a container built from the image.
	ModeContainer Mode = "container"
)

// Kernel features the guest reports in Hello.Features and a scenario may
// require.
const (
	// FeatureSeccomp: seccomp filters are available.
	FeatureSeccomp = "seccomp"
	// FeatureUserNamespaces: user namespaces are available.
	FeatureUserNamespaces = "user_namespaces"
	// FeaturePIDNamespaces: PID namespaces are available.
	FeaturePIDNamespaces = "pid_namespaces"
	// FeatureNetNamespaces, FeatureUTSNamespaces, FeatureIPCNamespaces:
	// network, UTS and IPC namespaces are available.
	FeatureNetNamespaces = "net_namespaces"
	FeatureUTSNamespaces = "uts_namespaces"
	FeatureIPCNamespaces = "ipc_namespaces"
)

// KnownFeatures are the names of Requires.Features: exactly the features
// the guest knows how to detect, so a scenario cannot require one it would
// never see.
var KnownFeatures = []string{FeatureSeccomp, FeatureUserNamespaces, FeaturePIDNamespaces, FeatureNetNamespaces, FeatureUTSNamespaces, FeatureIPCNamespaces}

// KnownLSMs are the security module names Requires.LSM may list: those a
// kernel can show in /sys/kernel/security/lsm.
var KnownLSMs = []string{
	"capability", "landlock", "lockdown", "yama", "loadpin", "safesetid",
	"selinux", "smack", "tomoyo", "apparmor", "bpf", "ipe", "integrity",
	"ima", "evm", "tsem",
}

// Session says how a phase's steps reach a shell.
type Session string

// Sessions.
const (
	// SessionShell types every step into one long-lived shell's stdin.
	SessionShell Session = "shell"
	// SessionExec runs each step as its own `sh -c`.
	SessionExec Session = "exec"
)

// Phase is one group of steps that share an environment (and, with TSEM, a
// modeling namespace).
type Phase struct {
	Name    string  `json:"name"`
	Session Session `json:"session"`
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
	// Seccomp records or enforces the system calls of the phase's steps.
	Seccomp *Seccomp `json:"seccomp,omitempty"`
	// AppArmor confines every step of the phase (a step's own wins).
	AppArmor *AppArmor `json:"apparmor,omitempty"`
	// Image is the workload image the phase's steps run in ("" for the
	// guest's own root); one of the plan's Drives holds it.
	Image string `json:"image,omitempty"`
}

// Caps changes a process's capability sets before it runs. Names are as in
// capabilities(7) ("CAP_CHOWN" or "chown"); "ALL" means every capability.
// Drop is applied first, then Add.
type Caps struct {
	Drop []string `json:"drop,omitempty"`
	Add  []string `json:"add,omitempty"`
}

// ModelMode is what a TSEM phase does with its namespace's model.
type ModelMode string

// TSEM model modes of a phase.
const (
	// ModelLearn records every event into the model.
	ModelLearn ModelMode = "learn"
	// ModelEnforce loads a model, enforces and seals it: the first
	// out-of-model event of a task is recorded, its later events refused.
	ModelEnforce ModelMode = "enforce"
	// ModelSeal loads and seals a model without enforcing it: out-of-model
	// events are recorded only.
	ModelSeal ModelMode = "seal"
)

// TSEM configures the modeling namespace a phase runs in.
type TSEM struct {
	Model ModelMode `json:"model"`
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

// BackpropModel is the name of the model a backprop phase exports: the
// model it loaded with its forensic coefficients added. A later phase can
// load it by that name.
func BackpropModel(phase string) string { return phase + ".backprop.model" }

// Step is one command.
type Step struct {
	Index   int      `json:"index"`
	Name    string   `json:"name"`
	Run     string   `json:"run"`
	Caps    *Caps    `json:"caps,omitempty"`
	Timeout Duration `json:"timeout,omitempty"`
	// Namespaces the step runs in, new ones (NamespaceKinds).
	Namespaces []string `json:"namespaces,omitempty"`
	// Chroot and PivotRoot make a directory the step's root: chroot(2)
	// only, or pivot_root(2) in a new mount namespace with the old root
	// unmounted.
	Chroot    string `json:"chroot,omitempty"`
	PivotRoot string `json:"pivot_root,omitempty"`
	// User is "UID:GID" to run the step as ("" keeps root).
	User string `json:"user,omitempty"`
	// NoNewPrivileges sets no_new_privs: exec can grant nothing (setuid
	// bits and file capabilities are ignored).
	NoNewPrivileges bool      `json:"no_new_privileges,omitempty"`
	AppArmor        *AppArmor `json:"apparmor,omitempty"`
	// HTTP, when set, makes the step a request the orchestrator itself
	// sends from inside the guest (Run then only describes it).
	HTTP *HTTPRequest `json:"http,omitempty"`
}

// NamespaceKinds are the namespaces a step may ask for.
var NamespaceKinds = []string{"pid", "mount", "net", "uts", "ipc", "user"}

// SeccompMode is what a seccomp phase does.
type SeccompMode string

// Seccomp modes.
const (
	// SeccompLearn records every system call of the steps, children and
	// threads included, into a profile that allows exactly those.
	SeccompLearn SeccompMode = "learn"
	// SeccompEnforce runs each step under a profile, with no_new_privs.
	SeccompEnforce SeccompMode = "enforce"
)

// Seccomp configures a phase's system call recording or filtering.
type Seccomp struct {
	Mode SeccompMode `json:"mode"`
	// Export names the artifact a learned profile is written to.
	Export string `json:"export,omitempty"`
	// DefaultAction is a learned profile's answer to every other call
	// ("SCMP_ACT_ERRNO").
	DefaultAction string `json:"default_action,omitempty"`
	// Profile names the profile to enforce: an earlier phase's Export or a
	// Plan.Files key holding the profile's JSON.
	Profile string `json:"profile,omitempty"`
}

// AppArmor confines steps to an AppArmor profile the guest loads.
type AppArmor struct {
	// File is the Plan.Files key of the profile's text.
	File string `json:"file"`
	// Name is the profile the steps are confined to.
	Name string `json:"name"`
}

// HTTPRequest is a GET the orchestrator sends over the guest's loopback.
type HTTPRequest struct {
	URL string `json:"url"`
}

// HTTPResponse is what an HTTP step got back; the body is the step's
// Stdout.
type HTTPResponse struct {
	// Status is the response's status code; 0 when none arrived.
	Status int `json:"status,omitempty"`
	// Error says why no response arrived ("" when one did).
	Error string `json:"error,omitempty"`
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
	// LSMError says why the active LSM list could not be read ("" when
	// it was): then no LSM requirement can be judged.
	LSMError    string   `json:"lsm_error,omitempty"`
	TSEM        bool     `json:"tsem"`
	Features    []string `json:"features"`
	Tainted     uint64   `json:"tainted"`
	Clocksource string   `json:"clocksource,omitempty"`
	// Modules lists the kernel modules the orchestrator loaded.
	Modules []string `json:"modules,omitempty"`
	// Where boot time went, on the guest's CLOCK_BOOTTIME: when the
	// kernel started init (pid 1), when init's main ran (after the Go
	// runtime's start), when init had mounted everything and started the
	// orchestrator, when the orchestrator started, and how long loading
	// the modules and describing the kernel took. A guest restored from a
	// snapshot reports its original boot.
	InitStart         Duration `json:"init_start,omitempty"`
	InitMain          Duration `json:"init_main,omitempty"`
	InitReady         Duration `json:"init_ready,omitempty"`
	OrchestratorStart Duration `json:"orchestrator_start,omitempty"`
	ModulesTook       Duration `json:"modules_took,omitempty"`
	DescribeTook      Duration `json:"describe_took,omitempty"`
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

// Outcome is what the kernel did to a step, as the host's judge decides it
// from the facts in StepEnd.
type Outcome string

// Outcomes, each decided only by the evidence the judge names.
const (
	// OutcomeAllow: the step succeeded, nothing refused it, and it stayed
	// in the model.
	OutcomeAllow Outcome = "allow"
	// OutcomeViolation: the step left the model (TSEM recorded a forensic
	// event of it, or refused one of its later actions) and still
	// succeeded. TSEM does not refuse a task's first out-of-model event,
	// only its later ones, which a program may ignore.
	OutcomeViolation Outcome = "violation"
	// OutcomeDeny: a refusal reached the step: a failing exit with EPERM,
	// EACCES or "Cannot fork" on stderr, a SIGSYS the kernel delivered, or
	// the kernel's refusal lines for the step's processes with a failing
	// exit.
	OutcomeDeny Outcome = "deny"
	// OutcomeError: the step failed with no evidence of a refusal.
	OutcomeError Outcome = "error"
	// OutcomeTimeout: the step did not finish within its limit.
	OutcomeTimeout Outcome = "timeout"
	// OutcomeNotRun: the step never ran (an earlier failure ended its
	// session, or the guest never reported it).
	OutcomeNotRun Outcome = "not_run"
)

// Outcomes lists the outcomes a scenario may expect, in the order help
// texts name them.
var Outcomes = []Outcome{OutcomeAllow, OutcomeViolation, OutcomeDeny, OutcomeError, OutcomeTimeout}

// StepEnd is what the guest saw of a finished step: facts only. The host's
// judge turns them into an outcome.
type StepEnd struct {
	Phase string `json:"phase"`
	Index int    `json:"index"`
	Run   string `json:"run"`
	// Session is how the step ran; it says how far Signal and ExitCode
	// can be trusted (see Signal).
	Session  Session `json:"session"`
	ExitCode int     `json:"exit_code"`
	// Signal is the signal that killed the step's process, from its wait
	// status (exec sessions, or a shell session's own shell). An exit
	// status above 128 alone never sets it: `(exit 159)` is not a signal.
	Signal string `json:"signal,omitempty"`
	Stdout string `json:"stdout"`
	Stderr string `json:"stderr"`
	// Truncated is set when stdout or stderr was cut to its bound (the
	// tail is kept).
	Truncated bool     `json:"truncated,omitempty"`
	Duration  Duration `json:"duration"`
	// TimedOut is set when the step was killed at its time limit.
	TimedOut bool `json:"timed_out,omitempty"`
	// NotRun says why the step never ran ("" when it ran).
	NotRun string `json:"not_run,omitempty"`
	// ShellExited is set when a shell session's shell ended during the
	// step, so no later step of the phase can run.
	ShellExited bool `json:"shell_exited,omitempty"`
	// NamespaceID is the TSEM namespace the step ran in ("" outside one).
	NamespaceID string `json:"namespace_id,omitempty"`
	// Enforcing is set when that namespace refuses out-of-model events;
	// without it forensic events are recorded only.
	Enforcing bool `json:"enforcing,omitempty"`
	// Forensics are the TSEM forensic records that appeared during the
	// step, one summary line each.
	Forensics []string `json:"forensics,omitempty"`
	// KernelLog holds the kernel's refusal lines printed during the step
	// for its namespace or confinement (TSEM "Untrusted event", AppArmor
	// "DENIED", seccomp audit), as the kernel printed them.
	KernelLog []string `json:"kernel_log,omitempty"`
	// KernelLogDropped counts such lines left out past the bound.
	KernelLogDropped int `json:"kernel_log_dropped,omitempty"`
	// HTTP is the response of an HTTP step (nil for commands).
	HTTP *HTTPResponse `json:"http,omitempty"`
}

// ArtifactKind says what an artifact holds.
type ArtifactKind string

// Artifact kinds.
const (
	ArtifactModel                 ArtifactKind = "model"
	ArtifactTrajectory            ArtifactKind = "trajectory"
	ArtifactTrajectoryCoefficient ArtifactKind = "trajectory_coefficients"
	ArtifactTrajectoryCounts      ArtifactKind = "trajectory_counts"
	ArtifactForensics             ArtifactKind = "forensics"
	ArtifactForensicsCoefficients ArtifactKind = "forensics_coefficients"
	ArtifactForensicsCounts       ArtifactKind = "forensics_counts"
	ArtifactState                 ArtifactKind = "state"
	ArtifactMeasurement           ArtifactKind = "measurement"
	ArtifactAggregate             ArtifactKind = "aggregate"
	ArtifactNamespaceID           ArtifactKind = "id"
	// ArtifactSeccompProfile is a learned seccomp profile (Docker's JSON).
	ArtifactSeccompProfile ArtifactKind = "seccomp_profile"
	// ArtifactSeccompCounts holds a seccomp learn phase's per-call counts
	// (SeccompCounts as JSON).
	ArtifactSeccompCounts ArtifactKind = "seccomp_counts"
)

// SeccompCounts is what a seccomp learn phase saw: how often each system
// call was made, over the phase and per step.
type SeccompCounts struct {
	Phase string `json:"phase"`
	// Profile is the name of the learned profile's artifact.
	Profile string         `json:"profile"`
	Total   map[string]int `json:"total"`
	Steps   []StepCounts   `json:"steps"`
}

// StepCounts are one step's system call counts.
type StepCounts struct {
	Index  int            `json:"index"`
	Counts map[string]int `json:"counts"`
	// Error says why the step's calls could not be recorded.
	Error string `json:"error,omitempty"`
}

// SeccompCountsName is the artifact name of a learn phase's counts.
func SeccompCountsName(phase string) string { return phase + ".seccomp-counts.json" }

// Artifact is a named text the guest produced.
type Artifact struct {
	Phase string `json:"phase"`
	// Name is the file name it is stored under on the host.
	Name    string       `json:"name"`
	Kind    ArtifactKind `json:"kind"`
	Content string       `json:"content"`
	// Gzip, when set, is the content gzipped (Content is then empty): see
	// NewArtifact, and Text to read either.
	Gzip []byte `json:"gzip,omitempty"`
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

// Unmet returns why h does not satisfy r, or "" when it does. The error is
// set when the kernel's answer is unknown (the LSM list could not be read
// while r names an LSM): that is a failure to report, never a skip.
func (r Requires) Unmet(h Hello) (string, error) {
	if len(r.LSM) > 0 && h.LSMError != "" {
		return "", fmt.Errorf("cannot tell whether kernel %s has the %s security module: %s", h.KernelRelease, strings.Join(r.LSM, ","), h.LSMError)
	}
	for _, want := range r.LSM {
		if !slices.Contains(h.LSMs, want) {
			return fmt.Sprintf("kernel %s lacks the %s security module (active LSMs: %s)", h.KernelRelease, want, joinOrNone(h.LSMs)), nil
		}
	}
	for _, want := range r.Features {
		if !slices.Contains(h.Features, want) {
			return fmt.Sprintf("kernel %s lacks %s (has: %s)", h.KernelRelease, want, joinOrNone(h.Features)), nil
		}
	}
	return "", nil
}

func joinOrNone(list []string) string {
	if len(list) == 0 {
		return "none"
	}
	return strings.Join(list, ",")
}

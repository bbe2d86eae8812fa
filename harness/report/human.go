package report

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"

	"github.com/tsemlab/tsemlab/harness/result"
)

// HumanOptions tunes the human summary.
type HumanOptions struct {
	// Color adds ANSI colours to status words. Leave it false when stdout
	// is not a terminal or CI=true. The totals lines are never coloured.
	Color bool
	// Verbose also shows passing steps' stdout and stderr, each
	// scenario's environment (kernel, QEMU, accelerator and why) and, for
	// a crash, the console tail as well as the crash excerpt.
	Verbose bool
}

// Human writes the summary people read on stdout: per scenario a header
// line ("PASS caps-chown (12.3s, tcg)", "SKIP process-grep: kernel ...
// lacks the tsem security module ..."), one line per step with its verdict,
// want/got details and output excerpts for failed steps, the crash excerpt
// or console tail for crashes, timeouts and errors, and two totals lines:
//
//	6 scenarios: 1 passed, 1 skipped, 1 failed, 1 timed out, 1 crashed, 1 error (1m35s)
//	1 passed, 4 failed, 1 skipped
//
// The last line is the plain form CI log parsers read; its "failed" counts
// every scenario that neither passed nor was skipped.
func Human(w io.Writer, r *result.Run, o HumanOptions) error {
	var b strings.Builder
	for i, sc := range r.Scenarios {
		if i > 0 {
			b.WriteString("\n")
		}
		writeHumanScenario(&b, sc, o)
	}
	if len(r.Scenarios) > 0 {
		b.WriteString("\n")
	}
	t := count(r)
	fmt.Fprintf(&b, "%s (%s)\n%s\n", t, seconds(r.Duration), t.plain())
	if _, err := io.WriteString(w, b.String()); err != nil {
		return fmt.Errorf("write summary: %w", err)
	}
	return nil
}

func writeHumanScenario(b *strings.Builder, sc *result.Scenario, o HumanOptions) {
	b.WriteString(header(sc, o.Color) + "\n")
	if o.Verbose {
		writeEnv(b, sc.Env)
	}
	for _, it := range items(sc) {
		b.WriteString("  " + itemLine(it, o.Color, "") + "\n")
		writeDetails(b, it, "      ", o.Verbose)
	}
	if o.Verbose {
		writeUntrusted(b, sc)
	}
	for _, ex := range excerpts(sc, o.Verbose) {
		last, total := tail(ex.text, excerptLines)
		b.WriteString("  " + tailLabel(ex.label, len(last), total) + ":\n")
		for _, l := range last {
			b.WriteString("      " + l + "\n")
		}
	}
}

// writeUntrusted lists, per TSEM phase, what the kernel logged for tasks
// it had marked untrusted, most frequent first.
func writeUntrusted(b *strings.Builder, sc *result.Scenario) {
	for _, p := range sc.Phases {
		if len(p.Untrusted) == 0 {
			continue
		}
		keys := make([]string, 0, len(p.Untrusted))
		for k := range p.Untrusted {
			keys = append(keys, k)
		}
		sort.Slice(keys, func(i, j int) bool {
			if p.Untrusted[keys[i]] != p.Untrusted[keys[j]] {
				return p.Untrusted[keys[i]] > p.Untrusted[keys[j]]
			}
			return keys[i] < keys[j]
		})
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = fmt.Sprintf("%s x%d", k, p.Untrusted[k])
		}
		fmt.Fprintf(b, "  %s: kernel logged untrusted events (namespace %s): %s\n", oneLine(p.Name), p.NamespaceID, strings.Join(parts, ", "))
	}
}

// header is a scenario's summary line: status, name, time and accelerator,
// and the reason for anything but a pass.
func header(sc *result.Scenario, color bool) string {
	h := paint(color, sc.Status, word(sc.Status)) + " " + oneLine(sc.Name)
	if sc.Status != result.Skip {
		h += " (" + seconds(sc.Duration)
		if sc.Env.Accel != "" {
			h += ", " + oneLine(sc.Env.Accel)
		}
		for _, r := range sc.Env.RootFS {
			h += ", " + oneLine(r.Name) + " on Debian " + oneLine(r.DebianVersion+" "+r.Suite)
		}
		h += ")"
	}
	if reason := headerReason(sc); reason != "" {
		h += ": " + reason
	}
	return h
}

// itemLine is one step's line: status, phase/step, command, verdict, time.
// A non-empty scenario is put before phase/step, for progress lines.
func itemLine(it item, color bool, scenario string) string {
	name := oneLine(it.id())
	if scenario != "" {
		name = oneLine(scenario) + " " + name
	}
	parts := []string{paint(color, it.status, fmt.Sprintf("%-7s", word(it.status))) + " " + name}
	if c := it.command(); c != "" {
		parts = append(parts, c)
	}
	parts = append(parts, it.verdict())
	if it.step != nil && it.status != result.NotRun {
		parts = append(parts, seconds(it.duration()))
	}
	return strings.Join(parts, "  ")
}

// writeDetails writes what explains a step that did not pass: failed checks
// as want/got, exit status, and output excerpts. verbose adds passing
// steps' output.
func writeDetails(b *strings.Builder, it item, indent string, verbose bool) {
	bad := it.status != result.Pass && it.status != result.Skip && it.status != result.NotRun
	if !bad && !(verbose && it.status == result.Pass) {
		return
	}
	if bad {
		for _, c := range result.Failed(it.checks()) {
			b.WriteString(indent + oneLine(c.What) + "\n")
			writeValue(b, indent+"  want: ", c.Want)
			writeValue(b, indent+"   got: ", c.Got)
		}
		if it.step == nil && it.phase.Error != "" {
			writeValue(b, indent+"phase error: ", it.phase.Error)
		}
	}
	s := it.step
	if s == nil {
		return
	}
	if bad && (s.ExitCode != 0 || s.Signal != "") {
		st := fmt.Sprintf("exit code %d", s.ExitCode)
		if s.Signal != "" {
			st += ", signal " + oneLine(s.Signal)
		}
		b.WriteString(indent + st + "\n")
	}
	for _, out := range []struct{ label, text string }{{"stdout", s.Stdout}, {"stderr", s.Stderr}} {
		last, total := tail(out.text, outputLines)
		if total == 0 {
			continue
		}
		b.WriteString(indent + tailLabel(out.label, len(last), total) + ":\n")
		for _, l := range last {
			b.WriteString(indent + "  " + l + "\n")
		}
	}
}

// writeValue writes prefix and v, continuation lines aligned under the first.
func writeValue(b *strings.Builder, prefix, v string) {
	l := lines(v)
	if len(l) == 0 {
		b.WriteString(prefix + "(empty)\n")
		return
	}
	cont := strings.Repeat(" ", len(prefix))
	for i, line := range l {
		if i == 0 {
			b.WriteString(prefix + line + "\n")
		} else {
			b.WriteString(cont + line + "\n")
		}
	}
}

func writeEnv(b *strings.Builder, e result.Environment) {
	if e.KernelPath != "" {
		k := "  kernel " + oneLine(e.KernelPath)
		if e.KernelRelease != "" {
			k += " (" + oneLine(e.KernelRelease) + ")"
		}
		if e.KernelSHA256 != "" {
			k += " sha256:" + oneLine(e.KernelSHA256)
		}
		b.WriteString(k + "\n")
	}
	if e.InitramfsSHA256 != "" {
		b.WriteString("  initramfs sha256:" + oneLine(e.InitramfsSHA256) + "\n")
	}
	if e.QEMUVersion != "" || e.Accel != "" {
		q := "  qemu " + orDefault(oneLine(e.QEMUVersion), "(version unknown)")
		if e.Accel != "" {
			q += ", accel " + oneLine(e.Accel)
			if e.AccelReason != "" {
				q += " (" + oneLine(e.AccelReason) + ")"
			}
		}
		b.WriteString(q + "\n")
	}
}

// word is a status as the human summary shows it.
func word(s result.Status) string {
	switch s {
	case result.NotRun:
		return "NOT RUN"
	case "":
		return "UNKNOWN"
	}
	return strings.ToUpper(oneLine(string(s)))
}

// paint wraps text in the ANSI colour of status s when color is set.
func paint(color bool, s result.Status, text string) string {
	if !color {
		return text
	}
	code := "1;31" // fail, timeout, crash, error, unknown
	switch s {
	case result.Pass:
		code = "32"
	case result.Skip:
		code = "33"
	case result.NotRun:
		code = "2"
	}
	return "\x1b[" + code + "m" + text + "\x1b[0m"
}

// Progress prints one line per event while a run is going: quiet and
// line-oriented, so it reads the same on a terminal and in a CI log. It is
// safe for concurrent use by scenarios running in parallel; each line is
// written with a single Write and names its scenario.
type Progress struct {
	color bool

	mu  sync.Mutex
	w   io.Writer
	err error
}

// NewProgress returns a Progress writing to w. Only o.Color is used.
func NewProgress(w io.Writer, o HumanOptions) *Progress {
	return &Progress{w: w, color: o.Color}
}

// ScenarioStarted prints "START name".
func (p *Progress) ScenarioStarted(name string) {
	p.line("START " + oneLine(name))
}

// StepFinished prints one step's line, prefixed with its scenario:
// "  PASS    caps-chown drop-chown/1  chown nobody /tmp/f  expected deny,
// seen deny (...)  0.5s".
func (p *Progress) StepFinished(scenario, phase string, s *result.Step) {
	it := item{phase: &result.Phase{Name: phase}, step: s, part: stepID(s), status: s.Status}
	p.line("  " + itemLine(it, p.color, scenario))
}

// ScenarioFinished prints the scenario's header line, as in the summary.
func (p *Progress) ScenarioFinished(sc *result.Scenario) {
	p.line(header(sc, p.color))
}

// Err returns the first error writing a line; later lines are dropped.
func (p *Progress) Err() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

func (p *Progress) line(s string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err != nil {
		return
	}
	if _, err := io.WriteString(p.w, s+"\n"); err != nil {
		p.err = fmt.Errorf("write progress: %w", err)
	}
}

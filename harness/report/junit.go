package report

import (
	"encoding/xml"
	"fmt"
	"io"
	"strings"

	"github.com/tsemlab/tsemlab/harness/result"
)

// JUnit writes r as JUnit XML in the subset GitLab and the common GitHub
// test-report actions read.
//
// Each scenario is a <testsuite> (tests, failures, errors, skipped, time,
// and the kernel, initramfs, QEMU and accelerator as properties) and each
// step a <testcase> whose classname is the scenario name (GitLab shows the
// classname as the suite), whose name is "phase: step command", unique
// within the suite, and whose file is the scenario file. A phase with
// phase-level checks adds a testcase "phase: checks".
//
//   - a failed step has <failure type="fail" message="expected deny, seen
//     allow"> with evidence, failed checks and output excerpts as text;
//   - a step that timed out, crashed or hit a harness error has <error
//     type="timeout|crash|error"> with the crash excerpt and console tail;
//   - a step that never ran has <error type="not_run"> whose message says
//     why, so it counts against the run instead of vanishing;
//   - a skipped step has <skipped message="reason"/>;
//   - stdout and stderr excerpts go to the testcase's <system-out>.
//
// A scenario with no steps, or whose status its steps do not carry (a
// crash after the last step, say), gets one more testcase named "scenario"
// carrying the scenario's status and reason.
//
// The output is always well-formed XML 1.0: console text is cleaned of the
// characters XML forbids (see the package comment).
func JUnit(w io.Writer, r *result.Run) error {
	doc := junitSuites{Name: "tsemlab", Time: junitTime(r.Duration)}
	if !r.Started.IsZero() {
		doc.Timestamp = r.Started.UTC().Format("2006-01-02T15:04:05")
	}
	for _, sc := range r.Scenarios {
		s := junitSuite(sc)
		doc.Tests += s.Tests
		doc.Failures += s.Failures
		doc.Errors += s.Errors
		doc.Skipped += s.Skipped
		doc.Suites = append(doc.Suites, s)
	}
	var b strings.Builder
	b.WriteString(xml.Header)
	enc := xml.NewEncoder(&b)
	enc.Indent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return fmt.Errorf("encode JUnit XML: %w", err)
	}
	b.WriteString("\n")
	if _, err := io.WriteString(w, b.String()); err != nil {
		return fmt.Errorf("write JUnit XML: %w", err)
	}
	return nil
}

type junitSuites struct {
	XMLName   xml.Name         `xml:"testsuites"`
	Name      string           `xml:"name,attr"`
	Tests     int              `xml:"tests,attr"`
	Failures  int              `xml:"failures,attr"`
	Errors    int              `xml:"errors,attr"`
	Skipped   int              `xml:"skipped,attr"`
	Time      string           `xml:"time,attr"`
	Timestamp string           `xml:"timestamp,attr,omitempty"`
	Suites    []junitTestSuite `xml:"testsuite"`
}

type junitTestSuite struct {
	Name       string          `xml:"name,attr"`
	Tests      int             `xml:"tests,attr"`
	Failures   int             `xml:"failures,attr"`
	Errors     int             `xml:"errors,attr"`
	Skipped    int             `xml:"skipped,attr"`
	Time       string          `xml:"time,attr"`
	Properties []junitProperty `xml:"properties>property,omitempty"`
	Cases      []junitCase     `xml:"testcase"`
}

type junitProperty struct {
	Name  string `xml:"name,attr"`
	Value string `xml:"value,attr"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	File      string        `xml:"file,attr,omitempty"`
	Time      string        `xml:"time,attr"`
	Failure   *junitProblem `xml:"failure,omitempty"`
	Error     *junitProblem `xml:"error,omitempty"`
	Skipped   *junitSkipped `xml:"skipped,omitempty"`
	SystemOut *junitText    `xml:"system-out,omitempty"`
}

type junitProblem struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Text    string `xml:",cdata"`
}

type junitSkipped struct {
	Message string `xml:"message,attr"`
}

type junitText struct {
	Text string `xml:",cdata"`
}

func junitSuite(sc *result.Scenario) junitTestSuite {
	s := junitTestSuite{Name: oneLine(sc.Name), Time: junitTime(sc.Duration)}
	for _, p := range []junitProperty{
		{"kernel.path", sc.Env.KernelPath},
		{"kernel.sha256", sc.Env.KernelSHA256},
		{"kernel.release", sc.Env.KernelRelease},
		{"initramfs.sha256", sc.Env.InitramfsSHA256},
		{"qemu.version", sc.Env.QEMUVersion},
		{"accel", sc.Env.Accel},
		{"accel.reason", sc.Env.AccelReason},
	} {
		if p.Value != "" {
			s.Properties = append(s.Properties, junitProperty{p.Name, oneLine(p.Value)})
		}
	}
	its := items(sc)
	seen := map[string]int{}
	for _, it := range its {
		c := junitStepCase(sc, it)
		// Names must be unique within a suite or reporters merge cases.
		seen[c.Name]++
		if n := seen[c.Name]; n > 1 {
			c.Name = fmt.Sprintf("%s (%d)", c.Name, n)
		}
		s.Cases = append(s.Cases, c)
	}
	if needsScenarioItem(sc, its) {
		s.Cases = append(s.Cases, junitScenarioCase(sc))
	}
	for _, c := range s.Cases {
		s.Tests++
		switch {
		case c.Failure != nil:
			s.Failures++
		case c.Error != nil:
			s.Errors++
		case c.Skipped != nil:
			s.Skipped++
		}
	}
	return s
}

func junitStepCase(sc *result.Scenario, it item) junitCase {
	name := oneLine(it.phase.Name) + ": " + oneLine(it.part)
	if cmd := it.command(); cmd != "" {
		name += " " + cmd
	}
	c := junitCase{Name: name, Classname: oneLine(sc.Name), File: oneLine(sc.File), Time: junitTime(it.duration())}
	msg := message(sc, it)
	switch it.status {
	case result.Pass:
	case result.Skip:
		c.Skipped = &junitSkipped{Message: msg}
	case result.Fail:
		c.Failure = &junitProblem{Message: msg, Type: string(result.Fail), Text: junitDetails(it)}
	case result.NotRun:
		c.Error = &junitProblem{Message: msg, Type: string(result.NotRun)}
	default: // timeout, crash, error
		text := junitDetails(it)
		if sc.Status == it.status {
			for _, ex := range excerpts(sc, true) {
				text += junitExcerpt(ex)
			}
		}
		c.Error = &junitProblem{Message: msg, Type: junitErrorType(it.status), Text: text}
	}
	if it.step != nil {
		var out strings.Builder
		for _, o := range []struct{ label, text string }{{"stdout", it.step.Stdout}, {"stderr", it.step.Stderr}} {
			last, total := tail(o.text, junitOutputLines)
			if total == 0 {
				continue
			}
			if out.Len() > 0 {
				out.WriteString("\n")
			}
			out.WriteString(tailLabel(o.label, len(last), total) + ":\n" + strings.Join(last, "\n") + "\n")
		}
		if out.Len() > 0 {
			c.SystemOut = &junitText{Text: out.String()}
		}
	}
	return c
}

// junitScenarioCase stands for the scenario itself when its steps do not
// carry its status.
func junitScenarioCase(sc *result.Scenario) junitCase {
	c := junitCase{Name: "scenario", Classname: oneLine(sc.Name), File: oneLine(sc.File), Time: junitTime(sc.Duration)}
	reason := headerReason(sc)
	switch sc.Status {
	case result.Pass:
	case result.Skip:
		c.Skipped = &junitSkipped{Message: reason}
	case result.Fail:
		c.Failure = &junitProblem{Message: orDefault(reason, "an expectation was not met"), Type: string(result.Fail)}
	default:
		c.Error = &junitProblem{Message: reason, Type: junitErrorType(sc.Status)}
		for _, ex := range excerpts(sc, true) {
			c.Error.Text += junitExcerpt(ex)
		}
		c.Error.Text = strings.TrimPrefix(c.Error.Text, "\n")
	}
	return c
}

// junitDetails is the text of a failure or error: the verdict, failed
// checks, exit status and output excerpts.
func junitDetails(it item) string {
	var b strings.Builder
	b.WriteString(it.verdict() + "\n")
	writeDetails(&b, it, "", false)
	return b.String()
}

func junitExcerpt(ex labeled) string {
	last, total := tail(ex.text, junitOutputLines)
	return "\n" + tailLabel(ex.label, len(last), total) + ":\n" + strings.Join(last, "\n") + "\n"
}

func junitErrorType(s result.Status) string {
	switch s {
	case result.Timeout, result.Crash, result.Error:
		return string(s)
	}
	return string(result.Error)
}

func junitTime(d result.Duration) string {
	return fmt.Sprintf("%.3f", d.Seconds())
}

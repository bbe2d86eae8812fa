package report

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tsemlab/tsemlab/harness/result"
)

// This file checks KTAP output the way the kernel's KTAP reader,
// tools/testing/kunit/kunit_parser.py, reads it: consumers such as
// `kunit.py parse` count the results inside a subtest block and ignore the
// block's own result line, so a scenario that did not pass must have a
// failing result inside its block.

// kunitCounts are kunit_parser.TestCounts: leaf results by kind.
type kunitCounts struct{ passed, failed, crashed, skipped, errors int }

func (c kunitCounts) total() int { return c.passed + c.failed + c.crashed + c.skipped }

func (c *kunitCounts) add(o kunitCounts) {
	c.passed += o.passed
	c.failed += o.failed
	c.crashed += o.crashed
	c.skipped += o.skipped
	c.errors += o.errors
}

// String is kunit.py's summary: "Ran 4 tests: passed: 3, failed: 1".
func (c kunitCounts) String() string {
	var parts []string
	for _, p := range []struct {
		name string
		n    int
	}{{"passed", c.passed}, {"failed", c.failed}, {"crashed", c.crashed}, {"skipped", c.skipped}, {"errors", c.errors}} {
		if p.n > 0 {
			parts = append(parts, fmt.Sprintf("%s: %d", p.name, p.n))
		}
	}
	return fmt.Sprintf("Ran %d tests: %s", c.total(), strings.Join(parts, ", "))
}

// kunit_parser.py's line patterns.
var (
	kunitVersion = regexp.MustCompile(`^\s*KTAP version ([0-9]+)$`)
	kunitHeader  = regexp.MustCompile(`^\s*# Subtest: (.*)$`)
	kunitPlan    = regexp.MustCompile(`^\s*1\.\.([0-9]+)`)
	kunitResult  = regexp.MustCompile(`^\s*(ok|not ok) ([0-9]+) (- )?([^#]*)( # .*)?$`)
	kunitSkip    = regexp.MustCompile(`^\s*(ok|not ok) ([0-9]+) (- )?(.*) # SKIP(.*)$`)
)

// kunitTest is a parsed test: a leaf result or a block of subtests.
type kunitTest struct {
	name     string
	status   string // passed, failed, skipped, crashed
	subtests []*kunitTest
	counts   kunitCounts
}

// kunitParser follows kunit_parser.parse_test: a block is an optional
// version line and "# Subtest:" header, a plan, its subtests, and (below
// the top level) a result line bearing the header's name. Problems the
// Python parser reports as "[ERROR]" are collected in errs.
type kunitParser struct {
	lines []string
	errs  []string
}

func (p *kunitParser) peek() string { return p.lines[0] }
func (p *kunitParser) more() bool   { return len(p.lines) > 0 }
func (p *kunitParser) pop() string  { l := p.lines[0]; p.lines = p.lines[1:]; return l }

func (p *kunitParser) errorf(format string, a ...any) {
	p.errs = append(p.errs, fmt.Sprintf(format, a...))
}

// diagnostics skips lines that are no version, header, plan or result.
func (p *kunitParser) diagnostics() {
	for p.more() {
		l := p.peek()
		if kunitResult.MatchString(l) || kunitHeader.MatchString(l) || kunitVersion.MatchString(l) || kunitPlan.MatchString(l) {
			return
		}
		p.pop()
	}
}

func (p *kunitParser) parse(expectedNum int, sub bool) *kunitTest {
	t := &kunitTest{status: "crashed"}
	p.diagnostics()
	parent := false
	expected := -1
	if p.more() && kunitVersion.MatchString(p.peek()) {
		p.pop()
		parent = true
	}
	if !sub {
		t.name, parent = "main", true
		p.diagnostics()
	} else if p.more() && kunitHeader.MatchString(p.peek()) {
		t.name = kunitHeader.FindStringSubmatch(p.pop())[1]
		parent = true
	}
	if parent {
		p.diagnostics()
		if p.more() && kunitPlan.MatchString(p.peek()) {
			expected, _ = strconv.Atoi(kunitPlan.FindStringSubmatch(p.pop())[1])
		}
	}
	for n := 1; parent && (expected < 0 || n <= expected); n++ {
		p.diagnostics()
		if !p.more() || (sub && p.resultNamed(t.name)) {
			if expected > 0 && n <= expected {
				p.errorf("%s: missing expected subtest %d", t.name, n)
				t.counts.crashed++
				continue
			}
			break
		}
		child := p.parse(n, true)
		t.subtests = append(t.subtests, child)
	}
	if sub {
		p.diagnostics()
		if t.name != "" && !p.resultNamed(t.name) {
			p.errorf("%s: missing subtest result line", t.name)
		} else if p.more() && kunitResult.MatchString(p.peek()) {
			l := p.pop()
			m := kunitResult.FindStringSubmatch(l)
			if s := kunitSkip.FindStringSubmatch(l); s != nil {
				t.name, t.status = s[4], "skipped"
			} else {
				t.name = m[4]
				t.status = map[string]string{"ok": "passed", "not ok": "failed"}[m[1]]
			}
			if num, _ := strconv.Atoi(m[2]); num != expectedNum {
				p.errorf("%s: expected test number %d but found %d", t.name, expectedNum, num)
			}
		}
	}
	if parent && len(t.subtests) == 0 && t.counts.total() == 0 {
		p.errorf("%s: 0 tests run", t.name)
	}
	for _, s := range t.subtests {
		t.counts.add(s.counts)
	}
	if t.counts.total() == 0 {
		switch t.status {
		case "passed":
			t.counts.passed++
		case "failed":
			t.counts.failed++
		case "skipped":
			t.counts.skipped++
		default:
			t.counts.crashed++
		}
	}
	return t
}

// resultNamed reports whether the next line is a result line for name.
func (p *kunitParser) resultNamed(name string) bool {
	if !p.more() {
		return false
	}
	m := kunitResult.FindStringSubmatch(p.peek())
	return m != nil && m[4] == name
}

// parseKunit reads KTAP text as kunit_parser.py does and returns the main
// test; parser problems fail t.
func parseKunit(t *testing.T, text string) *kunitTest {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	require.Regexp(t, kunitVersion, lines[0], "the first line is the version line")
	require.Regexp(t, `^1\.\.[0-9]+$`, lines[1], "the top-level plan follows")
	p := &kunitParser{lines: lines}
	main := p.parse(0, false)
	assert.Empty(t, p.errs, "parser errors in:\n%s", text)
	assert.Empty(t, p.lines, "lines left after the last result")
	return main
}

// step makes step i with the given status.
func step(i int, s result.Status) *result.Step {
	st := &result.Step{Index: i, Run: "step " + strconv.Itoa(i), Status: s, Expected: "allow"}
	switch s {
	case result.NotRun:
	case result.Fail:
		st.Seen = "deny"
	default:
		st.Seen = "allow"
	}
	return st
}

func scenarioWith(name string, status result.Status, reason string, steps ...result.Status) *result.Scenario {
	sc := &result.Scenario{Name: name, File: "scenarios/" + name + ".yaml", Status: status, Reason: reason}
	if len(steps) > 0 {
		ph := &result.Phase{Name: "p", Status: status}
		for i, s := range steps {
			ph.Steps = append(ph.Steps, step(i+1, s))
		}
		sc.Phases = []*result.Phase{ph}
	}
	if status == result.Crash {
		sc.Crash = "[   19.1] Kernel panic - not syncing: Fatal exception\n"
	}
	if status == result.Timeout || status == result.Error {
		sc.ConsoleTail = "[   40.0] last console line\n"
	}
	return sc
}

// everyStatus has a scenario for every status, with and without steps,
// and one for every way a scenario's status can be worse than its steps'.
// want is what a KTAP reader must count inside each scenario.
var everyStatus = []struct {
	sc   *result.Scenario
	want kunitCounts
}{
	{scenarioWith("pass", result.Pass, "", result.Pass, result.Pass), kunitCounts{passed: 2}},
	{scenarioWith("fail", result.Fail, "", result.Pass, result.Fail), kunitCounts{passed: 1, failed: 1}},
	{scenarioWith("fail-no-step-carries-it", result.Fail, "step p/3 never reported", result.Pass, result.Pass), kunitCounts{passed: 2, failed: 1}},
	{scenarioWith("skip", result.Skip, "kernel lacks the tsem security module"), kunitCounts{skipped: 1}},
	{scenarioWith("skipped-step", result.Pass, "", result.Pass, result.Skip), kunitCounts{passed: 1, skipped: 1}},
	{scenarioWith("timeout-in-step", result.Timeout, "step p/2 did not finish within 30s", result.Pass, result.Timeout, result.NotRun), kunitCounts{passed: 1, failed: 1, skipped: 1}},
	{scenarioWith("timeout-after-steps", result.Timeout, "the guest did not power off within 30s", result.Pass, result.Pass), kunitCounts{passed: 2, failed: 1}},
	{scenarioWith("timeout-before-steps", result.Timeout, "guest sent no hello within 60s"), kunitCounts{failed: 1}},
	{scenarioWith("crash-in-step", result.Crash, "kernel crashed during step p/2", result.Pass, result.Crash, result.NotRun), kunitCounts{passed: 1, failed: 1, skipped: 1}},
	{scenarioWith("crash-after-steps", result.Crash, "kernel crashed after the last step", result.Pass, result.Pass, result.Pass), kunitCounts{passed: 3, failed: 1}},
	{scenarioWith("crash-before-steps", result.Crash, ""), kunitCounts{failed: 1}},
	{scenarioWith("error-in-step", result.Error, "orchestrator: step p/1 failed to start", result.Error, result.NotRun), kunitCounts{failed: 1, skipped: 1}},
	{scenarioWith("error-after-steps", result.Error, "guest ended without done", result.Pass), kunitCounts{passed: 1, failed: 1}},
	{scenarioWith("error-before-steps", result.Error, "qemu: Could not open 'debian.sqfs'"), kunitCounts{failed: 1}},
	{scenarioWith("not-run-after-fail", result.Fail, "", result.Fail, result.NotRun), kunitCounts{failed: 1, skipped: 1}},
	{scenarioWith("unknown-status", "", "", result.Pass), kunitCounts{passed: 1, failed: 1}},
}

func everyStatusRun() *result.Run {
	r := &result.Run{}
	for _, tc := range everyStatus {
		r.Scenarios = append(r.Scenarios, tc.sc)
	}
	return r
}

// TestKTAP_EveryStatusCountsAsTheKernelParserCountsIt: for every status,
// the results inside each scenario's block count what happened, so that
// no scenario that did not pass is counted as passed.
func TestKTAP_EveryStatusCountsAsTheKernelParserCountsIt(t *testing.T) {
	out := string(render(t, everyStatusRun(), KTAP))
	checkKTAP(t, out)
	main := parseKunit(t, out)
	require.Len(t, main.subtests, len(everyStatus))
	for i, tc := range everyStatus {
		got := main.subtests[i]
		assert.Equal(t, tc.sc.Name, got.name)
		assert.Equal(t, tc.want, got.counts, "%s: counted %s", tc.sc.Name, got.counts)
		bad := tc.sc.Status != result.Pass && tc.sc.Status != result.Skip
		assert.Equal(t, bad, got.counts.failed+got.counts.crashed > 0, "%s (%s) must count a failure exactly when it did not pass", tc.sc.Name, tc.sc.Status)
	}
}

func TestKTAP_CrashAfterPassedStepsHasItsOwnResult(t *testing.T) {
	r := &result.Run{Scenarios: []*result.Scenario{everyStatus[9].sc}}
	require.Equal(t, "crash-after-steps", r.Scenarios[0].Name)
	assert.Equal(t, `KTAP version 1
1..1
  KTAP version 1
  # Subtest: crash-after-steps
  1..4
  ok 1 p.1
  ok 2 p.2
  ok 3 p.3
  # [   19.1] Kernel panic - not syncing: Fatal exception
  not ok 4 scenario # ERROR kernel crashed after the last step: Kernel panic - not syncing: Fatal exception
not ok 1 crash-after-steps # ERROR kernel crashed after the last step: Kernel panic - not syncing: Fatal exception
`, string(render(t, r, KTAP)))
}

// kunitPySkip is the exact reason the kunit.py check is skipped.
const kunitPySkip = "set TSEMLAB_KUNIT_PY to tools/testing/kunit/kunit.py of a kernel tree, with python3 on PATH, to parse the KTAP with the kernel's own parser"

// TestKTAP_KernelParserCounts runs the kernel's kunit.py parse on the KTAP
// of every status and checks it counts what the Go reader above counts.
func TestKTAP_KernelParserCounts(t *testing.T) {
	py := os.Getenv("TSEMLAB_KUNIT_PY")
	python, err := exec.LookPath("python3")
	if py == "" || err != nil {
		t.Skip(kunitPySkip)
	}
	out := render(t, everyStatusRun(), KTAP)
	file := filepath.Join(t.TempDir(), "results.ktap")
	require.NoError(t, os.WriteFile(file, out, 0o644))
	cmd := exec.Command(python, py, "parse", file)
	b, _ := cmd.CombinedOutput() // exits 1 when any test failed
	text := string(b)
	var want kunitCounts
	for _, tc := range everyStatus {
		want.add(tc.want)
	}
	assert.Contains(t, text, "Testing complete. "+want.String()+"\n", text)
	assert.NotContains(t, text, "[ERROR]", "the kernel's parser found problems")
	assert.Equal(t, 1, cmd.ProcessState.ExitCode(), "kunit.py exits 1 when a test failed")

	// And the scenario that started it all: a crash after passed steps.
	crash := render(t, &result.Run{Scenarios: []*result.Scenario{everyStatus[9].sc}}, KTAP)
	require.NoError(t, os.WriteFile(file, crash, 0o644))
	b, _ = exec.Command(python, py, "parse", file).CombinedOutput()
	assert.Contains(t, string(b), "Ran 4 tests: passed: 3, failed: 1\n", string(b))
}

// TestJUnit_EveryStatusCountsAFailureExactlyWhenItDidNotPass holds JUnit
// to the same rule as KTAP for the same scenarios.
func TestJUnit_EveryStatusCountsAFailureExactlyWhenItDidNotPass(t *testing.T) {
	doc := parseJUnit(t, render(t, everyStatusRun(), JUnit))
	require.Len(t, doc.Suites, len(everyStatus))
	for i, tc := range everyStatus {
		s := doc.Suites[i]
		bad := tc.sc.Status != result.Pass && tc.sc.Status != result.Skip
		assert.Equal(t, bad, s.Failures+s.Errors > 0, "%s (%s): %d failures, %d errors", tc.sc.Name, tc.sc.Status, s.Failures, s.Errors)
	}
}

package report

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tsemlab/tsemlab/harness/result"
	"github.com/tsemlab/tsemlab/internal/testutil"
)

// golden compares got with testdata/name, or rewrites it under -update.

// render runs a writer over r and returns its output.
func render(t *testing.T, r *result.Run, write func(io.Writer, *result.Run) error) []byte {
	t.Helper()
	var b bytes.Buffer
	require.NoError(t, write(&b, r))
	return b.Bytes()
}

func humanWith(o HumanOptions) func(io.Writer, *result.Run) error {
	return func(w io.Writer, r *result.Run) error { return Human(w, r, o) }
}

func TestWriters_MatchGoldenFiles(t *testing.T) {
	for _, tc := range []struct {
		golden string
		write  func(io.Writer, *result.Run) error
	}{
		{"human.golden", humanWith(HumanOptions{})},
		{"human_verbose.golden", humanWith(HumanOptions{Verbose: true})},
		{"human_color.golden", humanWith(HumanOptions{Color: true})},
		{"ktap.golden", KTAP},
		{"results.json.golden", JSON},
		{"junit.xml.golden", JUnit},
		{"github_summary.md.golden", GitHubSummary},
		{"github_annotations.golden", GitHubAnnotations},
		{"progress.golden", writeProgress},
	} {
		t.Run(tc.golden, func(t *testing.T) {
			testutil.Golden(t, filepath.Join("testdata", tc.golden), render(t, fixture(), tc.write))
		})
	}
}

// writeProgress replays the fixture through a Progress, as the runner would.
func writeProgress(w io.Writer, r *result.Run) error {
	p := NewProgress(w, HumanOptions{})
	for _, sc := range r.Scenarios {
		p.ScenarioStarted(sc.Name)
		for _, ph := range sc.Phases {
			for _, st := range ph.Steps {
				p.StepFinished(sc.Name, ph.Name, st)
			}
		}
		p.ScenarioFinished(sc)
	}
	return p.Err()
}

func TestWriters_EmptyRun(t *testing.T) {
	empty := &result.Run{}
	for name, write := range map[string]func(io.Writer, *result.Run) error{
		"human": humanWith(HumanOptions{}), "ktap": KTAP, "json": JSON, "junit": JUnit,
		"summary": GitHubSummary, "annotations": GitHubAnnotations,
	} {
		t.Run(name, func(t *testing.T) {
			render(t, empty, write)
		})
	}
	assert.Equal(t, "0 scenarios: 0 passed, 0 skipped, 0 failed, 0 timed out, 0 crashed, 0 errors (0.0s)\n0 passed, 0 failed, 0 skipped\n",
		string(render(t, empty, humanWith(HumanOptions{}))))
	assert.Equal(t, "KTAP version 1\n1..0\n", string(render(t, empty, KTAP)))
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestWriters_ReturnWriteErrors(t *testing.T) {
	for name, write := range map[string]func(io.Writer, *result.Run) error{
		"human": humanWith(HumanOptions{}), "ktap": KTAP, "json": JSON, "junit": JUnit,
		"summary": GitHubSummary, "annotations": GitHubAnnotations, "progress": writeProgress,
	} {
		t.Run(name, func(t *testing.T) {
			err := write(failingWriter{}, fixture())
			require.Error(t, err)
			assert.ErrorContains(t, err, "disk full")
		})
	}
}

func TestHuman_ClosingLineIsThePlainCIForm(t *testing.T) {
	out := strings.TrimRight(string(render(t, fixture(), humanWith(HumanOptions{Color: true}))), "\n")
	all := strings.Split(out, "\n")
	last := all[len(all)-1]
	assert.Regexp(t, `^\d+ passed, \d+ failed(, \d+ skipped)?$`, last)
	// failed counts everything that neither passed nor was skipped.
	assert.Equal(t, "1 passed, 4 failed, 1 skipped", last)
	// No other line may look like the closing line with another meaning.
	plain := regexp.MustCompile(`\d+ passed, \d+ failed`)
	for _, l := range all[:len(all)-1] {
		assert.NotRegexp(t, plain, l)
	}
}

func TestHuman_NoColorMeansNoEscapes(t *testing.T) {
	out := render(t, fixture(), humanWith(HumanOptions{Verbose: true}))
	assert.NotContains(t, string(out), "\x1b")
	assert.NotContains(t, string(out), "\x00")
	assert.Contains(t, string(out), `\x1b[0;32m`, "console escapes are shown, not sent to the terminal")
}

func TestProgress_LinesDoNotInterleave(t *testing.T) {
	var b bytes.Buffer
	p := NewProgress(&b, HumanOptions{})
	step := fixture().Scenarios[0].Phases[1].Steps[0]
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 50 {
				p.StepFinished(fmt.Sprintf("scenario-%d", i), "drop-chown", step)
			}
		}()
	}
	wg.Wait()
	require.NoError(t, p.Err())
	lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	require.Len(t, lines, 400)
	for _, l := range lines {
		assert.Regexp(t, `^  PASS    scenario-\d drop-chown/1  chown nobody /tmp/f  expected deny, seen deny \(.*\)  0\.5s$`, l)
	}
}

func TestKTAP_IsWellFormed(t *testing.T) {
	checkKTAP(t, string(render(t, fixture(), KTAP)))
}

var (
	ktapPlan       = regexp.MustCompile(`^1\.\.(\d+)$`)
	ktapResultLine = regexp.MustCompile(`^(ok|not ok) (\d+) ([^#\n]+?)( # (SKIP|TODO|XFAIL|TIMEOUT|ERROR)( .*)?)?$`)
)

// checkKTAP is a small KTAP v1 reader: version lines open a level (two
// spaces deeper each), every level has a plan, results are numbered from 1
// and a level closes when its parent's result line arrives.
func checkKTAP(t *testing.T, text string) {
	t.Helper()
	type level struct{ plan, n int }
	var stack []*level
	closeTo := func(depth, line int) {
		for len(stack)-1 > depth {
			top := stack[len(stack)-1]
			assert.Equal(t, top.plan, top.n, "line %d: subtest had %d results for plan 1..%d", line, top.n, top.plan)
			stack = stack[:len(stack)-1]
		}
	}
	all := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	require.NotEmpty(t, all)
	require.Equal(t, "KTAP version 1", all[0])
	for i, line := range all {
		n := i + 1
		trimmed := strings.TrimLeft(line, " ")
		indent := len(line) - len(trimmed)
		require.Zero(t, indent%2, "line %d: odd indentation: %q", n, line)
		depth := indent / 2
		switch {
		case trimmed == "KTAP version 1":
			require.Equal(t, len(stack), depth, "line %d: version line at depth %d", n, depth)
			stack = append(stack, &level{plan: -1})
		case strings.HasPrefix(trimmed, "#"):
		case ktapPlan.MatchString(trimmed):
			require.Equal(t, len(stack)-1, depth, "line %d: plan at depth %d", n, depth)
			top := stack[depth]
			require.Equal(t, -1, top.plan, "line %d: second plan", n)
			top.plan, _ = strconv.Atoi(ktapPlan.FindStringSubmatch(trimmed)[1])
		case ktapResultLine.MatchString(trimmed):
			closeTo(depth, n)
			require.Equal(t, len(stack)-1, depth, "line %d: result at depth %d", n, depth)
			top := stack[depth]
			require.NotEqual(t, -1, top.plan, "line %d: result before plan", n)
			top.n++
			num, _ := strconv.Atoi(ktapResultLine.FindStringSubmatch(trimmed)[2])
			assert.Equal(t, top.n, num, "line %d: results are numbered in order", n)
		default:
			t.Errorf("line %d: not a KTAP line: %q", n, line)
		}
	}
	closeTo(0, len(all))
	require.Len(t, stack, 1)
	assert.Equal(t, stack[0].plan, stack[0].n, "top level: results for plan")
}

func TestKTAP_StatusDirectives(t *testing.T) {
	out := string(render(t, fixture(), KTAP))
	for _, want := range []string{
		"\nok 1 caps-chown\n",
		"\nnot ok 2 seccomp-chmod\n",
		"\nok 3 process-grep # SKIP kernel 6.1.0-37-cloud-amd64 lacks the tsem security module",
		"\nnot ok 4 buster-ls-top # ERROR kernel crashed during step enforce/2: Kernel panic - not syncing: Fatal exception in interrupt\n",
		"\n  not ok 3 enforce.3 # SKIP not run: kernel crashed during step enforce/2",
		"\nnot ok 5 httpd # TIMEOUT step serve/2 did not finish within 30s\n",
		"\n  not ok 2 serve.get # TIMEOUT step serve/2 did not finish within 30s\n",
		"\nnot ok 6 caps-all # ERROR guest sent no hello",
		"\n  # stderr_contains: want \"Operation not permitted\", got \"\"\n",
	} {
		assert.Contains(t, out, want)
	}
}

func TestKTAPName_RemovesHashAndLineBreaks(t *testing.T) {
	for in, want := range map[string]string{
		"learn.1":            "learn.1",
		"a#b":                "a_b",
		"two\nlines\r\nhere": "two / lines / here",
		"  spaced \t out ":   "spaced out",
		"":                   "unnamed",
		"esc\x1b[0m":         `esc\x1b[0m`,
	} {
		assert.Equal(t, want, ktapName(in), "ktapName(%q)", in)
	}
}

func TestJSON_RoundTrips(t *testing.T) {
	first := render(t, fixture(), JSON)
	run, err := decodeRun(first)
	require.NoError(t, err)
	// result.Duration decodes seconds by truncation, so 4.1s can come back
	// as 4.099999999s; compare at microsecond precision.
	// JSON strings are Unicode: invalid bytes come back as U+FFFD.
	want := roundDurations(fixture())
	want.Scenarios[3].ConsoleTail = strings.ToValidUTF8(want.Scenarios[3].ConsoleTail, "\uFFFD")
	assert.Equal(t, string(render(t, want, JSON)), string(render(t, roundDurations(run), JSON)))
	assert.Equal(t, fixture().Started, run.Started)
	require.Len(t, run.Scenarios, 6)
	assert.Equal(t, result.Crash, run.Scenarios[3].Status)
	// Control characters come back as they were.
	assert.Equal(t, strings.ToValidUTF8(fixture().Scenarios[3].ConsoleTail, "\uFFFD"), run.Scenarios[3].ConsoleTail)
}

// roundDurations rounds every duration in r to the microsecond.
func roundDurations(r *result.Run) *result.Run {
	round := func(d *result.Duration) { *d = result.Duration(d.Std().Round(time.Microsecond)) }
	round(&r.Duration)
	for _, sc := range r.Scenarios {
		round(&sc.Duration)
		round(&sc.BootTime)
		round(&sc.GuestUptimeAtHello)
		for _, ph := range sc.Phases {
			for _, st := range ph.Steps {
				round(&st.Duration)
			}
		}
	}
	return r
}

// decodeRun reads results.json content back for these tests (tsemlab's
// reader, with its checks on names and sizes, is harness/resultdir): the
// writers need no nil scenario, phase or step.
func decodeRun(data []byte) (*result.Run, error) {
	var run result.Run
	if err := json.Unmarshal(data, &run); err != nil {
		return nil, err
	}
	for _, sc := range run.Scenarios {
		if sc == nil {
			return nil, errors.New("null scenario")
		}
		for _, ph := range sc.Phases {
			if ph == nil || slices.Contains(ph.Steps, nil) {
				return nil, errors.New("null phase or step")
			}
		}
	}
	return &run, nil
}

// Test-side JUnit model, read with encoding/xml's strict decoder.
type xSuites struct {
	XMLName  xml.Name `xml:"testsuites"`
	Tests    int      `xml:"tests,attr"`
	Failures int      `xml:"failures,attr"`
	Errors   int      `xml:"errors,attr"`
	Skipped  int      `xml:"skipped,attr"`
	Suites   []xSuite `xml:"testsuite"`
}

type xSuite struct {
	Name       string `xml:"name,attr"`
	Tests      int    `xml:"tests,attr"`
	Failures   int    `xml:"failures,attr"`
	Errors     int    `xml:"errors,attr"`
	Skipped    int    `xml:"skipped,attr"`
	Time       string `xml:"time,attr"`
	Properties []struct {
		Name  string `xml:"name,attr"`
		Value string `xml:"value,attr"`
	} `xml:"properties>property"`
	Cases []xCase `xml:"testcase"`
}

type xProblem struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Text    string `xml:",chardata"`
}

type xCase struct {
	Name      string    `xml:"name,attr"`
	Classname string    `xml:"classname,attr"`
	File      string    `xml:"file,attr"`
	Time      string    `xml:"time,attr"`
	Failure   *xProblem `xml:"failure"`
	Error     *xProblem `xml:"error"`
	Skipped   *xProblem `xml:"skipped"`
	SystemOut string    `xml:"system-out"`
}

func parseJUnit(t *testing.T, out []byte) xSuites {
	t.Helper()
	var doc xSuites
	require.NoError(t, xml.Unmarshal(out, &doc))
	return doc
}

func TestJUnit_ParsesAndCountsMatch(t *testing.T) {
	doc := parseJUnit(t, render(t, fixture(), JUnit))
	require.Len(t, doc.Suites, 6)
	var tests, failures, errs, skipped int
	for _, s := range doc.Suites {
		require.NotEmpty(t, s.Cases, "suite %s: nothing vanishes", s.Name)
		var f, e, sk int
		names := map[string]bool{}
		for _, c := range s.Cases {
			assert.Equal(t, s.Name, c.Classname)
			assert.False(t, names[c.Name], "suite %s: duplicate testcase %q", s.Name, c.Name)
			names[c.Name] = true
			if c.Failure != nil {
				f++
			}
			if c.Error != nil {
				e++
			}
			if c.Skipped != nil {
				sk++
			}
		}
		assert.Equal(t, len(s.Cases), s.Tests, s.Name)
		assert.Equal(t, f, s.Failures, s.Name)
		assert.Equal(t, e, s.Errors, s.Name)
		assert.Equal(t, sk, s.Skipped, s.Name)
		tests, failures, errs, skipped = tests+s.Tests, failures+s.Failures, errs+s.Errors, skipped+s.Skipped
	}
	assert.Equal(t, []int{tests, failures, errs, skipped}, []int{doc.Tests, doc.Failures, doc.Errors, doc.Skipped})

	byName := map[string]xSuite{}
	for _, s := range doc.Suites {
		byName[s.Name] = s
	}
	fail := byName["seccomp-chmod"].Cases
	require.Len(t, fail, 4)
	assert.Equal(t, "enforce: 2 chmod 600 /tmp/f && echo changed ...", fail[1].Name)
	require.NotNil(t, fail[1].Failure)
	assert.Equal(t, "expected deny, seen allow", fail[1].Failure.Message)
	assert.Equal(t, "fail", fail[1].Failure.Type)
	assert.Contains(t, fail[1].Failure.Text, "  want: Operation not permitted\n   got: (empty)\n")
	assert.Equal(t, "scenarios/seccomp-chmod.yaml", fail[1].File)
	assert.Equal(t, "enforce: checks", fail[3].Name)
	require.NotNil(t, fail[3].Failure)

	skip := byName["process-grep"].Cases
	require.Len(t, skip, 1)
	assert.Equal(t, "scenario", skip[0].Name)
	require.NotNil(t, skip[0].Skipped)
	assert.Contains(t, skip[0].Skipped.Message, "lacks the tsem security module")

	crash := byName["buster-ls-top"].Cases
	require.Len(t, crash, 3)
	require.NotNil(t, crash[1].Error)
	assert.Equal(t, "crash", crash[1].Error.Type)
	assert.Contains(t, crash[1].Error.Text, "Kernel panic - not syncing: Fatal exception in interrupt")
	require.NotNil(t, crash[2].Error)
	assert.Equal(t, "not_run", crash[2].Error.Type)
	assert.Equal(t, "not run: kernel crashed during step enforce/2: Kernel panic - not syncing: Fatal exception in interrupt", crash[2].Error.Message)

	infra := byName["caps-all"].Cases
	require.Len(t, infra, 1)
	require.NotNil(t, infra[0].Error)
	assert.Equal(t, "error", infra[0].Error.Type)

	props := map[string]string{}
	for _, p := range byName["httpd"].Properties {
		props[p.Name] = p.Value
	}
	assert.Equal(t, map[string]string{
		"kernel.path":      "/var/cache/tsemlab/kernels/vmlinuz-6.1.0-37-cloud-amd64",
		"kernel.sha256":    "5f1c0e9a2b7d4c3e8f6a1b2c3d4e5f60718293a4b5c6d7e8f9012345678abcde",
		"kernel.release":   "6.1.0-37-cloud-amd64",
		"initramfs.sha256": "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678abcdef0123456789abcdef01",
		"qemu.version":     "8.2.2",
		"accel":            "tcg",
		"accel.reason":     "/dev/kvm absent",
	}, props)
}

func TestJUnit_ScenarioWorseThanItsStepsGetsAScenarioCase(t *testing.T) {
	r := &result.Run{Scenarios: []*result.Scenario{{
		Name: "late-crash", Status: result.Crash, Reason: "kernel tainted after the last step",
		Phases: []*result.Phase{{Name: "p", Steps: []*result.Step{{Index: 1, Run: "true", Status: result.Pass}}}},
	}}}
	doc := parseJUnit(t, render(t, r, JUnit))
	cases := doc.Suites[0].Cases
	require.Len(t, cases, 2)
	assert.Equal(t, "scenario", cases[1].Name)
	require.NotNil(t, cases[1].Error)
	assert.Equal(t, "crash", cases[1].Error.Type)
	assert.Equal(t, "kernel tainted after the last step", cases[1].Error.Message)
}

func TestJUnit_DuplicateStepNamesAreMadeUnique(t *testing.T) {
	step := func() *result.Step { return &result.Step{Index: 1, Run: "ls", Status: result.Pass} }
	r := &result.Run{Scenarios: []*result.Scenario{{
		Name: "dup", Status: result.Pass,
		Phases: []*result.Phase{{Name: "p", Steps: []*result.Step{step(), step()}}, {Name: "p", Steps: []*result.Step{step()}}},
	}}}
	doc := parseJUnit(t, render(t, r, JUnit))
	var names []string
	for _, c := range doc.Suites[0].Cases {
		names = append(names, c.Name)
	}
	assert.Equal(t, []string{"p: 1 ls", "p: 1 ls (2)", "p: 1 ls (3)"}, names)
}

func TestJUnit_ForbiddenCharactersStayValidXML(t *testing.T) {
	nasty := "nul\x00 esc\x1b[31m bell\x07 ff\x0c bad\xfe\xff C1\u0085 nonchar\uffff cdata]]>end <&>\"'"
	r := &result.Run{Scenarios: []*result.Scenario{{
		Name: "x" + nasty, File: nasty, Status: result.Timeout, Reason: nasty, ConsoleTail: nasty,
		Env: result.Environment{KernelRelease: nasty},
		Phases: []*result.Phase{{Name: nasty, Steps: []*result.Step{{
			Index: 1, Name: nasty, Run: nasty, Status: result.Timeout, Stdout: nasty, Stderr: nasty, Evidence: []result.Evidence{{Kind: "stderr", Text: nasty}},
		}}}},
	}}}
	out := render(t, r, JUnit)
	doc := parseJUnit(t, out)
	require.Len(t, doc.Suites, 1)
	c := doc.Suites[0].Cases[0]
	require.NotNil(t, c.Error)
	assert.Contains(t, c.Error.Text, `nul\x00 esc\x1b[31m bell\x07 ff\x0c bad\xfe\xff C1\u0085 nonchar\uffff cdata]]>end <&>"'`)
	assert.Contains(t, c.SystemOut, `cdata]]>end`)
}

func TestClean_EscapesControlCharacters(t *testing.T) {
	for in, want := range map[string]string{
		"plain text":        "plain text",
		"tab\tand\nnewline": "tab\tand\nnewline",
		"crlf\r\nline":      "crlf\nline",
		"lone\rcr":          "lone\ncr",
		"\x1b[0m\x00\x7f":   `\x1b[0m\x00\x7f`,
		"bad \xff byte":     `bad \xff byte`,
		"c1 \u0085 \u009b":  `c1 \u0085 \u009b`,
		"non \ufffe \uffff": `non \ufffe \uffff`,
		"ok ü € \U0001F600": "ok ü € \U0001F600",
	} {
		assert.Equal(t, want, clean(in), "clean(%q)", in)
	}
}

func TestPanicLine_FindsTheCrash(t *testing.T) {
	for in, want := range map[string]string{
		"[ 1.0] Kernel panic - not syncing: VFS: Unable to mount root fs\n": "Kernel panic - not syncing: VFS: Unable to mount root fs",
		"---[ end Kernel panic - not syncing: Fatal exception ]---\n":       "Kernel panic - not syncing: Fatal exception",
		"[ 2.0] BUG: unable to handle page fault\n[ 2.1] Oops: 0000\n":      "BUG: unable to handle page fault",
		"all quiet\n": "",
	} {
		assert.Equal(t, want, panicLine(in), "panicLine(%q)", in)
	}
}

func TestGitHubEscaping(t *testing.T) {
	for _, tc := range []struct {
		in, data, property string
	}{
		{"plain", "plain", "plain"},
		{"100%", "100%25", "100%25"},
		{"a\nb", "a%0Ab", "a%0Ab"},
		{"a\r\nb", "a%0D%0Ab", "a%0D%0Ab"},
		{"dir/a:b,c.yaml", "dir/a:b,c.yaml", "dir/a%3Ab%2Cc.yaml"},
		{"%0A literal", "%250A literal", "%250A literal"},
		{"::error::x", "::error::x", "%3A%3Aerror%3A%3Ax"},
	} {
		assert.Equal(t, tc.data, escapeData(tc.in), "escapeData(%q)", tc.in)
		assert.Equal(t, tc.property, escapeProperty(tc.in), "escapeProperty(%q)", tc.in)
	}
}

func TestGitHubAnnotations_OneLinePerScenario(t *testing.T) {
	out := strings.TrimSuffix(string(render(t, fixture(), GitHubAnnotations)), "\n")
	lines := strings.Split(out, "\n")
	require.Len(t, lines, 5, "every scenario but the passing one")
	assert.True(t, strings.HasPrefix(lines[0], "::error file=scenarios/seccomp-chmod.yaml,title=seccomp-chmod::failed%0Aenforce/2 "))
	assert.True(t, strings.HasPrefix(lines[1], "::notice file=scenarios/process-grep.yaml,title=process-grep::skipped: "))
	for _, l := range lines {
		assert.Regexp(t, `^::(error|notice) file=[^,:]+,title=[^,:]+::`, l)
	}
}

func TestExitCode(t *testing.T) {
	run := func(statuses ...result.Status) *result.Run {
		r := &result.Run{}
		for i, s := range statuses {
			r.Scenarios = append(r.Scenarios, &result.Scenario{Name: strconv.Itoa(i), Status: s})
		}
		return r
	}
	for _, tc := range []struct {
		name string
		run  *result.Run
		want int
	}{
		{"nil run", nil, 0},
		{"empty run", run(), 0},
		{"all passed", run(result.Pass, result.Pass), 0},
		{"passed and skipped", run(result.Pass, result.Skip), 0},
		{"all skipped", run(result.Skip), 0},
		{"a failure", run(result.Pass, result.Fail), 1},
		{"a timeout", run(result.Timeout, result.Skip), 1},
		{"a crash", run(result.Crash), 1},
		{"harness error only", run(result.Pass, result.Error), 3},
		{"harness error and a failure", run(result.Error, result.Fail), 1},
		{"harness error and a crash", run(result.Crash, result.Error), 1},
		{"unknown status is an error", run(result.Pass, ""), 3},
		{"not_run as a scenario status is an error", run(result.NotRun), 3},
		{"fixture", fixture(), 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, ExitCode(tc.run))
		})
	}
}

// FuzzWriters feeds every results.json without nulls to every writer: none may
// panic, and the JUnit output must stay well-formed XML.
func FuzzWriters(f *testing.F) {
	var b bytes.Buffer
	require.NoError(f, JSON(&b, fixture()))
	f.Add(b.Bytes())
	f.Add([]byte(`{"scenarios":[{"name":"a\u0000#","status":"crash","crash":"\u001b Kernel panic - not syncing: x","phases":[{"name":"p","steps":[{"index":1,"status":"not_run"}],"checks":[{"what":"w"}]}]}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		run, err := decodeRun(data)
		if err != nil {
			return
		}
		for _, write := range []func(io.Writer, *result.Run) error{
			humanWith(HumanOptions{Verbose: true}), KTAP, JSON, GitHubSummary, GitHubAnnotations, writeProgress,
		} {
			require.NoError(t, write(io.Discard, run))
		}
		var x bytes.Buffer
		require.NoError(t, JUnit(&x, run))
		var doc xSuites
		require.NoError(t, xml.Unmarshal(x.Bytes(), &doc), x.String())
		ExitCode(run)
	})
}

func TestHuman_HeaderNamesTheWorkloadImageAndItsSuite(t *testing.T) {
	sc := &result.Scenario{Name: "container-smoke", Status: result.Pass, Duration: result.Duration(12 * time.Second), Env: result.Environment{
		Accel: "tcg", RootFS: []result.RootFS{
			{Name: "debian-minimal", Suite: "trixie", RequestedSuite: "buster", DebianVersion: "13.8"},
			{Name: "httpd", Suite: "trixie", RequestedSuite: "buster", DebianVersion: "13.8"},
		},
	}}
	assert.Equal(t, "PASS container-smoke (12.0s, tcg, debian-minimal on Debian 13.8 trixie, httpd on Debian 13.8 trixie)", header(sc, false))
}

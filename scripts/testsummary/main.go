// Command testsummary runs `go test -json` with the given arguments and
// prints what plain `go test` prints (each package's closing line, the
// output of failed tests, build errors), then every skipped test with the
// reason it gave, every failed test, and a closing line a CI system reads:
//
//	tests: 148 passed, 0 failed, 9 skipped
//
// Skips are listed because a skipped VM test looks like a pass in plain
// `go test` output. It exits with go test's exit status.
//
//	go run ./scripts/testsummary [-go go] [-json FILE] [--] [go test flags] [packages]
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
)

func main() {
	goBin := flag.String("go", "go", "the go command")
	jsonOut := flag.String("json", "", "also write go test's JSON events to this file")
	flag.Parse()
	os.Exit(run(*goBin, *jsonOut, flag.Args()))
}

func run(goBin, jsonOut string, args []string) int {
	cmd := exec.Command(goBin, append([]string{"test", "-json"}, args...)...)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		fmt.Fprintln(os.Stderr, "testsummary:", err)
		return 2
	}
	var events io.Reader = out
	if jsonOut != "" {
		f, err := os.Create(jsonOut)
		if err != nil {
			fmt.Fprintln(os.Stderr, "testsummary:", err)
			return 2
		}
		defer f.Close()
		events = io.TeeReader(out, f)
	}
	// Ctrl-C reaches go test too; stay to print what it reports.
	signal.Notify(make(chan os.Signal, 1), os.Interrupt, syscall.SIGTERM)
	if err := cmd.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "testsummary:", err)
		return 2
	}
	s := newSummary(os.Stdout)
	readErr := s.read(events)
	waitErr := cmd.Wait()
	if readErr != nil {
		fmt.Fprintln(os.Stderr, "testsummary: reading go test's output:", readErr)
	}
	s.finish()
	var ee *exec.ExitError
	switch {
	case errors.As(waitErr, &ee):
		return ee.ExitCode()
	case waitErr != nil:
		fmt.Fprintln(os.Stderr, "testsummary:", waitErr)
		return 2
	case readErr != nil || s.failed > 0:
		return 1
	}
	return 0
}

// event is one line of `go test -json` (cmd/test2json).
type event struct {
	Action  string
	Package string
	Test    string
	Output  string
}

// key names a test of a package.
type key struct{ pkg, test string }

// note is a skipped or failed test with what it said.
type note struct {
	key
	text string
}

// summary turns go test's events back into plain output and counts them.
type summary struct {
	w io.Writer
	// own is each running test's output; tree is each running top-level
	// test's output with its subtests', in order.
	own, tree map[key][]string
	// failedIn counts failed tests per package.
	failedIn                map[string]int
	skips, fails            []note
	passed, failed, skipped int
}

func newSummary(w io.Writer) *summary {
	return &summary{w: w, own: map[key][]string{}, tree: map[key][]string{}, failedIn: map[string]int{}}
}

// read handles events until r ends; lines that are not JSON events are
// printed as they are.
func (s *summary) read(r io.Reader) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		line := sc.Bytes()
		var e event
		if len(line) == 0 || line[0] != '{' || json.Unmarshal(line, &e) != nil || e.Action == "" {
			fmt.Fprintf(s.w, "%s\n", line)
			continue
		}
		s.handle(e)
	}
	return sc.Err()
}

func (s *summary) handle(e event) {
	if e.Test == "" {
		s.handlePackage(e)
		return
	}
	k := key{e.Package, e.Test}
	root := key{e.Package, strings.SplitN(e.Test, "/", 2)[0]}
	switch e.Action {
	case "output":
		s.own[k] = append(s.own[k], e.Output)
		s.tree[root] = append(s.tree[root], e.Output)
		return
	case "pass":
		s.passed++
	case "skip":
		s.skipped++
		s.skips = append(s.skips, note{k, reason(s.own[k])})
	case "fail":
		s.failed++
		s.failedIn[e.Package]++
		s.fails = append(s.fails, note{k, ""})
		if k == root {
			s.print(s.tree[root])
		}
	default: // run, pause, cont, bench
		return
	}
	delete(s.own, k)
	if k == root {
		delete(s.tree, root)
	}
}

func (s *summary) handlePackage(e event) {
	switch e.Action {
	case "output":
		if e.Output != "PASS\n" {
			fmt.Fprint(s.w, e.Output)
		}
	case "build-output":
		fmt.Fprint(s.w, e.Output)
	case "fail":
		// Tests that never ended (the binary crashed or timed out) show
		// what they said.
		for k, lines := range s.tree {
			if k.pkg == e.Package {
				s.print(lines)
				delete(s.tree, k)
			}
		}
		if s.failedIn[e.Package] == 0 {
			s.failed++
			s.fails = append(s.fails, note{key{e.Package, ""}, "the package failed with no failed test (build error, crash or time-out above)"})
		}
	}
}

// print writes a test's output as plain go test shows a failure, without
// the === framing lines of -v.
func (s *summary) print(lines []string) {
	for _, l := range lines {
		if !framing(l) {
			fmt.Fprint(s.w, l)
		}
	}
}

func framing(l string) bool {
	for _, p := range []string{"=== RUN", "=== PAUSE", "=== CONT", "=== NAME"} {
		if strings.HasPrefix(l, p) {
			return true
		}
	}
	return false
}

// reason is what a skipped test said, on one line.
func reason(lines []string) string {
	var parts []string
	for _, l := range lines {
		t := strings.TrimSpace(l)
		if t == "" || framing(l) || strings.HasPrefix(t, "--- SKIP: ") {
			continue
		}
		parts = append(parts, t)
	}
	if len(parts) == 0 {
		return "(no reason given)"
	}
	return strings.Join(parts, " / ")
}

// finish writes the skipped and failed tests and the closing line.
func (s *summary) finish() {
	if len(s.skips) > 0 {
		fmt.Fprintf(s.w, "\nskipped tests (%d), with their reasons:\n", len(s.skips))
		for _, n := range s.skips {
			fmt.Fprintf(s.w, "  SKIP %s %s: %s\n", n.pkg, n.test, n.text)
		}
	}
	if len(s.fails) > 0 {
		fmt.Fprintf(s.w, "\nfailed (%d):\n", len(s.fails))
		for _, n := range s.fails {
			line := "  FAIL " + n.pkg
			if n.test != "" {
				line += " " + n.test
			}
			if n.text != "" {
				line += ": " + n.text
			}
			fmt.Fprintln(s.w, line)
		}
	}
	fmt.Fprintf(s.w, "\ntests: %d passed, %d failed, %d skipped\n", s.passed, s.failed, s.skipped)
}

// Package bisect runs one step of `git bisect run` on a kernel tree: it
// builds the checked-out revision with package kbuild, boots it, runs one
// scenario (possibly several times) and maps the result to git bisect's
// exit codes: 0 good, 1 bad, 125 skip, 128 abort.
package bisect

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/tsemlab/tsemlab/harness/kbuild"
	"github.com/tsemlab/tsemlab/harness/result"
)

// Verdict is git bisect's answer for a revision, as its exit code.
type Verdict int

// The verdicts. git bisect run stops bisecting on any exit code above
// 127: Abort is for what would go wrong at every revision alike (a
// scenario that does not parse, a fragment that does not exist, missing
// build tools, an interrupt), so that the bisect does not skip its way
// through the whole range.
const (
	Good  Verdict = 0
	Bad   Verdict = 1
	Skip  Verdict = 125
	Abort Verdict = 128
)

func (v Verdict) String() string {
	switch v {
	case Good:
		return "good"
	case Bad:
		return "bad"
	case Skip:
		return "skip"
	}
	return "abort"
}

// Try is the outcome of one run of the scenario.
type Try struct {
	Status result.Status
	Reason string
}

// ErrInput marks a problem with the step's own input (scenario, flags),
// the same at every revision.
var ErrInput = errors.New("bisect-step input")

// Decide maps a step to its verdict and a one-line reason. stepErr is what
// stopped the step before or instead of the tries (a build error, a
// configuration that lost options, a harness error, an interrupt); tries
// are the runs of the scenario, in order, stopped at the first bad one,
// of the planned number.
//
// A build or configuration failure skips the revision (it cannot be
// tested), as do a skipped scenario and a harness error; a failed, timed
// out or crashed run makes it bad (a panic is often the bug being
// hunted), however many runs passed; it is good only when every run
// passed.
func Decide(stepErr error, tries []Try, planned int) (Verdict, string) {
	var cfgErr *kbuild.ConfigError
	switch {
	case errors.Is(stepErr, ErrInput), errors.Is(stepErr, kbuild.ErrSpec):
		return Abort, "bad input, the same at every revision: " + oneLine(stepErr)
	case errors.Is(stepErr, kbuild.ErrTools):
		return Abort, "this host cannot build kernels: " + oneLine(stepErr)
	case errors.Is(stepErr, context.Canceled):
		return Abort, "interrupted: " + oneLine(stepErr)
	case errors.As(stepErr, &cfgErr):
		var problems []string
		for _, p := range cfgErr.Problems {
			problems = append(problems, p.String())
		}
		return Skip, "configuration lost options, nothing compiled: " + strings.Join(problems, "; ")
	case errors.Is(stepErr, kbuild.ErrPatch), errors.Is(stepErr, kbuild.ErrBuild):
		return Skip, "build failed: " + oneLine(stepErr)
	case stepErr != nil:
		return Skip, "harness error: " + oneLine(stepErr)
	case len(tries) == 0:
		return Skip, "the scenario did not run"
	}
	var skipped []string
	for i, t := range tries {
		switch t.Status {
		case result.Fail, result.Timeout, result.Crash:
			return Bad, fmt.Sprintf("%s%s", t.Status, tryNote(i, max(planned, len(tries)), t.Reason))
		case result.Pass:
		default:
			skipped = append(skipped, fmt.Sprintf("%s%s", t.Status, tryNote(i, max(planned, len(tries)), t.Reason)))
		}
	}
	if len(skipped) > 0 {
		return Skip, strings.Join(skipped, "; ")
	}
	return Good, fmt.Sprintf("passed %d of %d", len(tries), max(planned, len(tries)))
}

func tryNote(i, n int, reason string) string {
	s := ""
	if n > 1 {
		s = fmt.Sprintf(" (try %d of %d)", i+1, n)
	}
	if reason != "" {
		s += ": " + oneLine(reason)
	}
	return s
}

// oneLine is the first line of an error or reason, at most 200 bytes.
func oneLine(v any) string {
	s := fmt.Sprint(v)
	s, _, _ = strings.Cut(s, "\n")
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return s
}

// Summary is one bisect step in one line: what git bisect run's log and
// the step log keep.
type Summary struct {
	Revision string
	Verdict  Verdict
	Reason   string
	// Build and Run are the time spent building (or finding the cached
	// kernel) and running the scenario.
	Build, Run time.Duration
	Cached     bool
	// Kernel is the bzImage; Results the directory of the scenario's runs.
	Kernel, Results string
}

// Line is the summary as one line.
func (s Summary) Line() string {
	rev := s.Revision
	if len(rev) > 12 {
		rev = rev[:12]
	}
	build := s.Build.Round(time.Second).String()
	if s.Cached {
		build += " (cached)"
	}
	line := fmt.Sprintf("tsemlab bisect-step %s %s (exit %d): %s; build %s, run %s", rev, s.Verdict, int(s.Verdict), s.Reason, build, s.Run.Round(time.Second))
	if s.Results != "" {
		line += "; results " + s.Results
	}
	return line
}

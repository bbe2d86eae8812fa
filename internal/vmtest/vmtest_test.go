package vmtest

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestEnviron_DropsTheCIJobsReportingVariables(t *testing.T) {
	summary := filepath.Join(t.TempDir(), "summary.md")
	t.Setenv("GITHUB_STEP_SUMMARY", summary)
	t.Setenv("GITHUB_ACTIONS", "true")
	t.Setenv("GITHUB_OUTPUT", "/tmp/out")
	t.Setenv("GITHUB_SHA", "abc")
	t.Setenv("CI", "true")
	env := Environ()
	for _, kv := range env {
		assert.NotRegexp(t, `^GITHUB_(STEP_SUMMARY|ACTIONS|OUTPUT)=`, kv)
	}
	assert.Contains(t, env, "GITHUB_SHA=abc", "other variables stay")
	assert.Contains(t, env, "CI=true", "CI stays: a child under CI keeps CI's rules")
}

func TestResultsDir_UnderTheEnvironmentsDirectory(t *testing.T) {
	root := t.TempDir()
	t.Setenv(ResultsEnv, root)
	stale := filepath.Join(root, "TestResultsDir_UnderTheEnvironmentsDirectory", "old")
	require.NoError(t, os.MkdirAll(stale, 0o755))
	dir := ResultsDir(t)
	assert.Equal(t, filepath.Join(root, "TestResultsDir_UnderTheEnvironmentsDirectory"), dir)
	assert.NoDirExists(t, stale, "a rerun starts empty")
	assert.DirExists(t, dir)

	t.Setenv(ResultsEnv, "")
	assert.NotEqual(t, dir, ResultsDir(t))
}

func TestFileName(t *testing.T) {
	for in, want := range map[string]string{
		"TestRun":                        "TestRun",
		"TestRun_InterruptLeaves/SIGINT": "TestRun_InterruptLeaves_SIGINT",
		"TestX/../../etc":                "TestX_.._.._etc",
		"TestX/a b":                      "TestX_a_b",
	} {
		assert.Equal(t, want, fileName(in), in)
	}
}

// TestRequire_FailsUnderCIWithoutQEMU runs Require against a PATH with no
// QEMU: skipped on a developer's machine, failed under CI=true.
func TestRequire_FailsUnderCIWithoutQEMU(t *testing.T) {
	if testing.Short() {
		t.Skip("Require skips under -short before it looks for QEMU")
	}
	t.Setenv("PATH", t.TempDir())
	for _, tc := range []struct {
		ci                   string
		wantFailed, wantSkip bool
	}{
		{"true", true, false},
		{"", false, true},
	} {
		t.Setenv("CI", tc.ci)
		r := &recorder{TB: t}
		done := make(chan struct{})
		go func() { defer close(done); Require(r) }() // Fatal and Skip end the goroutine
		<-done
		assert.Equal(t, tc.wantFailed, r.failed, "CI=%q", tc.ci)
		assert.Equal(t, tc.wantSkip, r.skipped, "CI=%q", tc.ci)
		assert.Contains(t, r.msg, QEMU)
	}
}

// recorder is a testing.TB that records Fatal and Skip instead of acting
// on the real test.
type recorder struct {
	testing.TB
	failed, skipped bool
	msg             string
}

func (r *recorder) Helper() {}

func (r *recorder) Fatalf(format string, args ...any) {
	r.failed, r.msg = true, fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func (r *recorder) Skip(args ...any) {
	r.skipped, r.msg = true, fmt.Sprint(args...)
	runtime.Goexit()
}

func (r *recorder) Skipf(format string, args ...any) {
	r.skipped, r.msg = true, fmt.Sprintf(format, args...)
	runtime.Goexit()
}

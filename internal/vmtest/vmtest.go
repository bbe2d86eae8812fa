// Package vmtest holds what the tests that boot QEMU share: when they may
// skip, where they keep their results, and the environment they give the
// tsemlab processes they start.
//
// A VM test skips only with the reason, and only when a resource is
// absent: under -short, or without qemu-system-x86_64 on a developer's
// machine. Under CI=true a missing QEMU fails the test instead, so a CI job
// can never turn green by skipping its integration tests.
package vmtest

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// QEMU is the emulator the VM tests boot.
const QEMU = "qemu-system-x86_64"

// ResultsEnv names a directory where VM tests keep their results (one
// directory per test, named after it), for CI to upload; unset, results go
// to a temporary directory removed after the test.
const ResultsEnv = "TSEMLAB_TEST_RESULTS"

// Require skips tb under -short and when QEMU is not on PATH, saying why;
// with CI=true in the environment a missing QEMU fails tb instead.
func Require(tb testing.TB) {
	tb.Helper()
	if testing.Short() {
		tb.Skip("boots QEMU; run without -short")
	}
	if _, err := exec.LookPath(QEMU); err != nil {
		if os.Getenv("CI") == "true" {
			tb.Fatalf("CI=true and %s is not on PATH (%v): a CI job must run the VM tests; install qemu-system-x86 (.ci/run does)", QEMU, err)
		}
		tb.Skipf("needs %s on PATH: apt-get install qemu-system-x86", QEMU)
	}
}

// ResultsDir is the results directory for tb: under $TSEMLAB_TEST_RESULTS
// (emptied first, and named in the test log) when it is set, else a
// temporary directory.
func ResultsDir(tb testing.TB) string {
	tb.Helper()
	root := os.Getenv(ResultsEnv)
	if root == "" {
		return tb.TempDir()
	}
	dir := filepath.Join(root, fileName(tb.Name()))
	if err := os.RemoveAll(dir); err != nil {
		tb.Fatalf("%s: %v", ResultsEnv, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		tb.Fatalf("%s: %v", ResultsEnv, err)
	}
	tb.Logf("results in %s", dir)
	return dir
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// fileName turns a test name ("TestRun/SIGINT") into one path element.
func fileName(test string) string {
	return strings.Trim(unsafeName.ReplaceAllString(test, "_"), "._")
}

// ciReporting are the variables through which a process reports to the CI
// job running it: GitHub Actions' step summary, outputs, environment and
// path files, and the switch for workflow commands on stdout.
var ciReporting = []string{"GITHUB_STEP_SUMMARY", "GITHUB_OUTPUT", "GITHUB_ENV", "GITHUB_PATH", "GITHUB_STATE", "GITHUB_ACTIONS"}

// Environ is os.Environ() without the CI job's reporting variables, for
// the tsemlab processes a test starts: a test that fails on purpose must
// not write FAIL onto the summary of the job that runs it.
func Environ() []string {
	return slices.DeleteFunc(os.Environ(), func(kv string) bool {
		name, _, _ := strings.Cut(kv, "=")
		return slices.Contains(ciReporting, name)
	})
}

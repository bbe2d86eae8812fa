package bisect

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tsemlab/tsemlab/harness/filelock"
	"github.com/tsemlab/tsemlab/harness/image"
	"github.com/tsemlab/tsemlab/harness/kbuild"
	"github.com/tsemlab/tsemlab/harness/lab"
	"github.com/tsemlab/tsemlab/harness/result"
	"github.com/tsemlab/tsemlab/harness/runner"
	"github.com/tsemlab/tsemlab/harness/scenario"
	"github.com/tsemlab/tsemlab/internal/testutil"
)

// These tests build real kernels from Debian's linux-source-6.12 package
// and boot them: a first build takes 4 to 20 minutes on 2 cores, later
// runs reuse the build directory, ccache and the built kernels kept in
// tsemlab's cache (lab.CacheDir).

// cacheDir is tsemlab's cache, where the fixture tree, its build directory
// and the kernels stay between runs.
func cacheDir(t *testing.T) string {
	d, err := lab.CacheDir(nil)
	require.NoError(t, err)
	return d
}

// testContext ends a minute before the test binary's deadline (go test
// -timeout), so that a build that cannot finish in time is stopped and
// reported by the test, its build directory kept for the next run.
func testContext(t *testing.T) (context.Context, context.CancelFunc) {
	if d, ok := t.Deadline(); ok {
		return context.WithDeadline(context.Background(), d.Add(-time.Minute))
	}
	return context.WithCancel(context.Background())
}

// Fixture tree: the tarball in git, with fixed authors and dates so the
// commit IDs (and so the cached kernels) are the same on every run.
const (
	tagGood    = "tsemlab-good"         // the tarball as it is
	tagBad     = "tsemlab-bad-fixture"  // applies testdata/refuse-cap-chown.patch
	tagHead    = "tsemlab-fixture-head" // a harmless commit after it
	branchName = "tsemlab-fixture"
)

// fixtureTree returns the fixture git tree, made once from the tarball in
// tsemlab's cache and kept there so that later runs build incrementally.
// History: good (tag tsemlab-good) → harmless README line → the fixture
// patch (tag tsemlab-bad-fixture) → harmless comment in kernel/fork.c
// (branch tsemlab-fixture, tag tsemlab-fixture-head). The tree is left on
// the branch, clean.
func fixtureTree(t *testing.T, tarball string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	dir := filepath.Join(cacheDir(t), "kernels", "testtree-linux-6.12")
	unlock, err := filelock.Lock(ctx, dir+".lock")
	require.NoError(t, err)
	defer unlock()
	if _, err := fixtureGit(dir, "rev-parse", "-q", "--verify", "refs/tags/"+tagHead); err == nil {
		_, _ = fixtureGit(dir, "bisect", "reset", "-q")
		_, err := fixtureGit(dir, "checkout", "-q", "-f", branchName)
		require.NoError(t, err)
		return dir
	}
	start := time.Now()
	partial := dir + ".partial"
	require.NoError(t, os.RemoveAll(partial))
	require.NoError(t, os.MkdirAll(partial, 0o755))
	out, err := exec.CommandContext(ctx, "tar", "-xf", tarball, "--strip-components=1", "-C", partial).CombinedOutput()
	require.NoError(t, err, "%s", out)
	patch, err := filepath.Abs("testdata/refuse-cap-chown.patch")
	require.NoError(t, err)
	steps := []struct {
		edit func() error
		msg  string
		tag  string
	}{
		{nil, "Linux 6.12 as in Debian's linux-source-6.12", tagGood},
		{appendTo(filepath.Join(partial, "README"), "\ntsemlab bisect fixture: a harmless change before the bug.\n"), "README: a harmless change", ""},
		{func() error { _, err := fixtureGit(partial, "apply", patch); return err }, "commoncap: refuse CAP_CHOWN (the bug to find)", tagBad},
		{appendTo(filepath.Join(partial, "kernel", "fork.c"), "/* tsemlab bisect fixture: a harmless change after the bug */\n"), "fork: a harmless comment", tagHead},
	}
	_, err = fixtureGit(partial, "init", "-q", "-b", branchName)
	require.NoError(t, err)
	for i, s := range steps {
		if s.edit != nil {
			require.NoError(t, s.edit(), s.msg)
		}
		_, err := fixtureGit(partial, "add", "-A", "-f") // -f: Debian's .gitignore ignores the whole top level
		require.NoError(t, err)
		date := fmt.Sprintf("2025-01-0%dT12:00:00Z", i+1)
		_, err = fixtureGit(partial, "-c", "user.name=tsemlab fixture", "-c", "user.email=fixture@tsemlab.invalid",
			"commit", "-q", "--no-verify", "--no-gpg-sign", "--date", date, "-m", s.msg, commitEnv(date))
		require.NoError(t, err)
		if s.tag != "" {
			_, err = fixtureGit(partial, "tag", s.tag)
			require.NoError(t, err)
		}
	}
	require.NoError(t, os.Rename(partial, dir))
	t.Logf("fixture tree %s made in %s", dir, time.Since(start).Round(time.Second))
	return dir
}

// commitEnv is a marker fixtureGit turns into a fixed committer date.
func commitEnv(date string) string { return "\x00COMMITTER_DATE=" + date }

func appendTo(path, text string) func() error {
	return func() error {
		f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			return err
		}
		if _, err := f.WriteString(text); err != nil {
			f.Close()
			return err
		}
		return f.Close()
	}
}

// fixtureGit runs git in dir; an argument made by commitEnv sets the
// committer (name, e-mail, date) instead of being passed.
func fixtureGit(dir string, args ...string) (string, error) {
	env := os.Environ()
	var argv []string
	for _, a := range args {
		if date, ok := strings.CutPrefix(a, "\x00COMMITTER_DATE="); ok {
			env = append(env, "GIT_COMMITTER_DATE="+date, "GIT_COMMITTER_NAME=tsemlab fixture", "GIT_COMMITTER_EMAIL=fixture@tsemlab.invalid")
			continue
		}
		argv = append(argv, a)
	}
	cmd := exec.Command("git", append([]string{"-C", dir, "-c", "core.looseCompression=1"}, argv...)...)
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("git %s: %w: %s", strings.Join(argv, " "), err, out)
	}
	return string(out), nil
}

// virtSpec builds tree with tinyconfig + kernel/config/virt.config.
func virtSpec(t *testing.T, tree string) kbuild.Spec {
	src, err := image.FindSource(".")
	require.NoError(t, err)
	return kbuild.Spec{Source: tree, Fragments: []string{filepath.Join(src, "kernel", "config", "virt.config")}}
}

func TestBuild_TinyconfigVirtBootsAndPassesCapsChown(t *testing.T) {
	tarball := testutil.RequireKernelBuild(t)
	tree := fixtureTree(t, tarball)
	_, err := fixtureGit(tree, "checkout", "-q", "--detach", tagGood)
	require.NoError(t, err)
	defer fixtureGit(tree, "checkout", "-q", "-f", branchName)

	ctx, cancel := testContext(t)
	defer cancel()
	b := &kbuild.Builder{CacheDir: cacheDir(t), Log: quiet()}
	start := time.Now()
	k, err := b.Build(ctx, virtSpec(t, tree))
	require.NoError(t, err)
	t.Logf("build: %s (cached: %v, %d objects compiled) -> %s", time.Since(start).Round(time.Second), k.Cached, k.Objects, k.Path)
	start = time.Now()
	again, err := b.Build(ctx, virtSpec(t, tree))
	require.NoError(t, err)
	t.Logf("second build: %s", time.Since(start).Round(time.Millisecond))
	assert.True(t, again.Cached, "the second build is a cache hit")
	assert.Equal(t, k.Path, again.Path)

	src, err := image.FindSource(".")
	require.NoError(t, err)
	l, err := lab.Prepare(ctx, lab.Options{KernelPath: k.Path, Accel: "auto", CacheDir: cacheDir(t), SourceDir: src, Log: quiet()})
	require.NoError(t, err)
	args := filepath.Join(t.TempDir(), "kernel-args.yaml")
	require.NoError(t, os.WriteFile(args, []byte("name: kernel-args\nkernel_args: [tsemlab.test=kernel-args]\nphases: [{name: p, steps: [{run: cat /proc/cmdline, expect: {stdout_contains: tsemlab.test=kernel-args}}]}]\n"), 0o644))
	scs, err := scenario.LoadAll(ctx, []string{filepath.Join(src, "scenarios", "caps-chown.yaml"), args})
	require.NoError(t, err)
	run := runner.Run(ctx, runner.Config{Kernel: l.Kernel, Image: l.Image, Accel: l.Accel, QEMU: l.QEMU, QEMUVersion: l.QEMUVersion, OutDir: t.TempDir(), Log: quiet()}, scs)
	require.Len(t, run.Scenarios, 2)
	assert.Equal(t, result.Pass, run.Scenarios[0].Status, "caps-chown on the built kernel: %s", run.Scenarios[0].Reason)
	assert.Equal(t, result.Pass, run.Scenarios[1].Status, "the scenario's kernel_args reach the guest: %s", run.Scenarios[1].Reason)
	assert.Contains(t, run.Scenarios[1].Env.KernelCmdline, " tsemlab.test=kernel-args", "and are recorded")
	assert.NotContains(t, run.Scenarios[0].Env.KernelCmdline, "tsemlab.test", "only in the scenario that asks")
}

// TestBisect_FindsTheFixtureCommit runs a real git bisect over the fixture
// history with the tsemlab binary: good is the tarball, the commit that
// makes the capability check refuse CAP_CHOWN must be named first bad.
// Then --check-endpoints confirms a good and a bad revision, both from the
// cache the bisect filled.
func TestBisect_FindsTheFixtureCommit(t *testing.T) {
	tarball := testutil.RequireKernelBuild(t)
	tree := fixtureTree(t, tarball)
	src, err := image.FindSource(".")
	require.NoError(t, err)
	bin := filepath.Join(t.TempDir(), "tsemlab")
	out, err := exec.Command("go", "build", "-o", bin, filepath.Join(src, "cmd", "tsemlab")).CombinedOutput()
	require.NoError(t, err, "%s", out)
	steps := filepath.Join(t.TempDir(), "steps.log")
	scen := filepath.Join(src, "scenarios", "caps-chown.yaml")
	env := append(os.Environ(), "TSEMLAB_SRC="+src)
	bad, err := fixtureGit(tree, "rev-parse", tagBad)
	require.NoError(t, err)
	bad = strings.TrimSpace(bad)

	_, err = fixtureGit(tree, "bisect", "start", tagHead, tagGood)
	require.NoError(t, err)
	defer fixtureGit(tree, "bisect", "reset", "-q")
	start := time.Now()
	cmd := exec.Command("git", "-C", tree, "bisect", "run", bin, "bisect-step", "--scenario", scen, "--log", steps)
	cmd.Env = env
	out, err = cmd.CombinedOutput()
	took := time.Since(start)
	log, _ := os.ReadFile(steps)
	t.Logf("git bisect run took %s; step log:\n%s", took.Round(time.Second), log)
	require.NoError(t, err, "%s", out)
	first, err := fixtureGit(tree, "rev-parse", "refs/bisect/bad")
	require.NoError(t, err)
	assert.Equal(t, bad, strings.TrimSpace(first), "git bisect names the fixture commit; its output:\n%s", out)
	assert.Contains(t, string(out), bad+" is the first bad commit")
	assert.Contains(t, string(log), "bad (exit 1): caps-chown fail")
	assert.Contains(t, string(log), "good (exit 0): caps-chown passed 1 of 1")

	before, err := fixtureGit(tree, "rev-parse", tagBad+"~1")
	require.NoError(t, err)
	start = time.Now()
	cmd = exec.Command(bin, "bisect-step", "--tree", tree, "--scenario", scen, "--log", steps, "--check-endpoints", strings.TrimSpace(before), tagBad)
	cmd.Env = env
	out, err = cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	t.Logf("--check-endpoints took %s:\n%s", time.Since(start).Round(time.Second), out)
	assert.Contains(t, string(out), "endpoints ok")
	assert.Equal(t, 2, strings.Count(string(out), "(cached)"), "both revisions came from the cache")
}

package bisect

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tsemlab/tsemlab/harness/image"
	"github.com/tsemlab/tsemlab/harness/kbuild"
	"github.com/tsemlab/tsemlab/harness/kernel"
	"github.com/tsemlab/tsemlab/harness/lab"
	"github.com/tsemlab/tsemlab/harness/result"
	"github.com/tsemlab/tsemlab/harness/runner"
	"github.com/tsemlab/tsemlab/harness/scenario"
)

func TestDecide_ExitCodes(t *testing.T) {
	cfgErr := &kbuild.ConfigError{Problems: []kbuild.Problem{{Fragment: "tsem.config", Mismatch: kernel.Mismatch{Option: "CONFIG_SECURITY_TSEM", Want: "y", Got: "n"}, Cause: "this tree has no security/tsem; it is not a TSEM tree"}}}
	pass, fail := Try{Status: result.Pass}, Try{Status: result.Fail, Reason: "step drop-chown: expected deny, got allow"}
	tests := []struct {
		name    string
		err     error
		tries   []Try
		verdict Verdict
		code    int
		reason  string
	}{
		{"pass", nil, []Try{pass}, Good, 0, "passed 1 of 1"},
		{"every try passed", nil, []Try{pass, pass, pass}, Good, 0, "passed 3 of 3"},
		{"fail", nil, []Try{fail}, Bad, 1, "fail: step drop-chown: expected deny, got allow"},
		{"timeout", nil, []Try{{Status: result.Timeout, Reason: "step x still running after 30s"}}, Bad, 1, "timeout: step x"},
		{"crash is the bug hunted", nil, []Try{{Status: result.Crash, Reason: "Kernel panic - not syncing"}}, Bad, 1, "crash: Kernel panic"},
		{"one bad try of three", nil, []Try{pass, {Status: result.Crash, Reason: "BUG: KASAN"}}, Bad, 1, "crash (try 2 of 2): BUG: KASAN"},
		{"skipped scenario", nil, []Try{{Status: result.Skip, Reason: "kernel lacks LSM tsem"}}, Skip, 125, "skip: kernel lacks LSM tsem"},
		{"harness error in the run", nil, []Try{{Status: result.Error, Reason: "guest ended without done"}}, Skip, 125, "error: guest ended"},
		{"error then pass", nil, []Try{{Status: result.Error}, pass}, Skip, 125, "error (try 1 of 2)"},
		{"no tries", nil, nil, Skip, 125, "did not run"},
		{"config lost options", fmt.Errorf("build: %w", cfgErr), nil, Skip, 125, "CONFIG_SECURITY_TSEM is not set (tsem.config asks for y): this tree has no security/tsem"},
		{"build failed", &kbuild.BuildError{Step: "compiling", Err: errors.New("make bzImage: exit status 2"), Log: "/x.log", Tail: "error"}, nil, Skip, 125, "build failed: compiling: make bzImage"},
		{"patch does not apply", &kbuild.PatchError{Patch: "0002-x.patch", Index: 2, Total: 3}, nil, Skip, 125, "patch 0002-x.patch (2 of 3)"},
		{"harness error", fmt.Errorf("%w: qemu-system-x86_64 not found", lab.ErrInfra), nil, Skip, 125, "harness error"},
		{"bad spec", fmt.Errorf("%w: fragment: open nope.config", kbuild.ErrSpec), nil, Abort, 128, "bad input"},
		{"no compiler", fmt.Errorf("%w: flex, bison", kbuild.ErrTools), nil, Abort, 128, "cannot build kernels"},
		{"bad scenario", fmt.Errorf("%w: x.yaml:3:1: unknown field", ErrInput), nil, Abort, 128, "bad input"},
		{"interrupted", fmt.Errorf("kernel build interrupted: %w", context.Canceled), nil, Abort, 128, "interrupted"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, reason := Decide(tt.err, tt.tries, len(tt.tries))
			assert.Equal(t, tt.verdict, v)
			assert.Equal(t, tt.code, int(v))
			assert.Contains(t, reason, tt.reason)
			assert.NotContains(t, reason, "\n")
		})
	}
}

func TestSummary_Line(t *testing.T) {
	s := Summary{Revision: "0123456789abcdef0123", Verdict: Bad, Reason: "caps-chown fail: step drop-all-add-chown", Build: 62*time.Second + 300*time.Millisecond, Run: 41 * time.Second, Results: "/c/bisect/x"}
	assert.Equal(t, "tsemlab bisect-step 0123456789ab bad (exit 1): caps-chown fail: step drop-all-add-chown; build 1m2s, run 41s; results /c/bisect/x", s.Line())
	s.Cached, s.Results, s.Verdict = true, "", Good
	assert.Equal(t, "tsemlab bisect-step 0123456789ab good (exit 0): caps-chown fail: step drop-all-add-chown; build 1m2s (cached), run 41s", s.Line())
}

// fakes: a builder that "builds" a file per revision, and a runner whose
// statuses are scripted per revision.

type fakeBuilder struct {
	cached map[string]bool // revisions LookupRevision finds
	err    error
	built  []string // the trees Build was called with, and their revisions
	dir    string
}

func (f *fakeBuilder) kernelFor(rev string) *kbuild.Kernel {
	p := filepath.Join(f.dir, rev+".bzImage")
	_ = os.WriteFile(p, []byte(rev), 0o644)
	return &kbuild.Kernel{Path: p, Source: kbuild.Identity{Kind: kbuild.KindGit, Revision: rev}}
}

func (f *fakeBuilder) Build(ctx context.Context, spec kbuild.Spec) (*kbuild.Kernel, error) {
	rev, err := gitOut(ctx, spec.Source, "rev-parse", "HEAD")
	if err != nil {
		return nil, err
	}
	f.built = append(f.built, spec.Source+"@"+rev)
	if f.err != nil {
		return nil, f.err
	}
	return f.kernelFor(rev), nil
}

func (f *fakeBuilder) LookupRevision(ctx context.Context, spec kbuild.Spec, rev string) (*kbuild.Kernel, error) {
	if f.cached[rev] {
		k := f.kernelFor(rev)
		k.Cached = true
		return k, nil
	}
	return nil, nil
}

// scripted returns Prepare and Run fakes: each run of a kernel pops the
// next status scripted for its revision.
func scripted(statuses map[string][]result.Status, runs *int) (func(context.Context, lab.Options) (*lab.Lab, error), func(context.Context, runner.Config, []*scenario.Scenario) *result.Run) {
	prepare := func(_ context.Context, o lab.Options) (*lab.Lab, error) {
		return &lab.Lab{Kernel: &kernel.Kernel{Path: o.KernelPath}, Image: &image.Image{}}, nil
	}
	run := func(_ context.Context, c runner.Config, scs []*scenario.Scenario) *result.Run {
		*runs++
		rev := strings.TrimSuffix(filepath.Base(c.Kernel.Path), ".bzImage")
		st := statuses[rev][0]
		statuses[rev] = statuses[rev][1:]
		return &result.Run{Scenarios: []*result.Scenario{{Name: scs[0].Name, Status: st, Reason: "scripted " + string(st)}}}
	}
	return prepare, run
}

// history makes a git repository with commits a, b and c; it returns the
// tree and the revisions.
func history(t *testing.T) (string, []string) {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("needs git installed")
	}
	tree := t.TempDir()
	git := func(args ...string) string {
		out, err := exec.Command("git", append([]string{"-C", tree, "-c", "user.name=t", "-c", "user.email=t@example.invalid", "-c", "commit.gpgsign=false"}, args...)...).CombinedOutput()
		require.NoError(t, err, "%s", out)
		return strings.TrimSpace(string(out))
	}
	git("init", "-q")
	var revs []string
	for _, c := range []string{"a", "b", "c"} {
		require.NoError(t, os.WriteFile(filepath.Join(tree, "file"), []byte(c), 0o644))
		git("add", "file")
		git("commit", "-q", "-m", c)
		revs = append(revs, git("rev-parse", "HEAD"))
	}
	return tree, revs
}

func testOptions(t *testing.T, tree string, b *fakeBuilder, statuses map[string][]result.Status, runs *int) Options {
	scen := filepath.Join(t.TempDir(), "s.yaml")
	require.NoError(t, os.WriteFile(scen, []byte("name: s\nphases: [{name: p, steps: [{run: 'true'}]}]\n"), 0o644))
	b.dir = t.TempDir()
	prepare, run := scripted(statuses, runs)
	return Options{Tree: tree, Scenario: scen, Builder: b, CacheDir: t.TempDir(), StepLog: filepath.Join(t.TempDir(), "steps.log"), Log: quiet(), Prepare: prepare, Run: run}
}

func TestStep_TriesStopAtTheFirstBadRun(t *testing.T) {
	tree, revs := history(t)
	runs := 0
	o := testOptions(t, tree, &fakeBuilder{}, map[string][]result.Status{revs[2]: {result.Pass, result.Crash, result.Pass}}, &runs)
	o.Tries = 3
	s := Step(context.Background(), o)
	assert.Equal(t, Bad, s.Verdict)
	assert.Equal(t, 2, runs, "the third try is not needed")
	assert.Equal(t, "s crash (try 2 of 3): scripted crash", s.Reason)
	assert.Equal(t, revs[2], s.Revision)
	log, err := os.ReadFile(o.StepLog)
	require.NoError(t, err)
	assert.Contains(t, string(log), "tsemlab bisect-step "+revs[2][:12]+" bad (exit 1): s crash (try 2 of 3)")
}

func TestStep_BuildFailureSkipsWithoutBooting(t *testing.T) {
	tree, revs := history(t)
	runs := 0
	b := &fakeBuilder{err: &kbuild.BuildError{Step: "compiling", Err: errors.New("make bzImage: exit status 2"), Log: "/l", Tail: "x"}}
	o := testOptions(t, tree, b, nil, &runs)
	s := Step(context.Background(), o)
	assert.Equal(t, Skip, s.Verdict)
	assert.Equal(t, 0, runs)
	assert.Equal(t, []string{tree + "@" + revs[2]}, b.built)
	assert.Contains(t, s.Line(), "skip (exit 125): build failed: compiling: make bzImage: exit status 2")
}

func TestStep_BadScenarioAborts(t *testing.T) {
	tree, _ := history(t)
	runs := 0
	o := testOptions(t, tree, &fakeBuilder{}, nil, &runs)
	require.NoError(t, os.WriteFile(o.Scenario, []byte("name: s\nphasez: []\n"), 0o644))
	s := Step(context.Background(), o)
	assert.Equal(t, Abort, s.Verdict)
	assert.Contains(t, s.Reason, "bad input")
}

func TestStep_KernelOutKeepsEachRevisionsKernel(t *testing.T) {
	tree, revs := history(t)
	runs := 0
	o := testOptions(t, tree, &fakeBuilder{}, map[string][]result.Status{revs[2]: {result.Pass}}, &runs)
	o.KernelOut = filepath.Join(t.TempDir(), "kernels")
	s := Step(context.Background(), o)
	assert.Equal(t, Good, s.Verdict)
	data, err := os.ReadFile(filepath.Join(o.KernelOut, revs[2][:12]+".bzImage"))
	require.NoError(t, err)
	assert.Equal(t, revs[2], string(data))
}

func TestCheckEndpoints_CachedOrBuiltInATemporaryWorktree(t *testing.T) {
	tree, revs := history(t)
	runs := 0
	b := &fakeBuilder{cached: map[string]bool{revs[0]: true}}
	o := testOptions(t, tree, b, map[string][]result.Status{revs[0]: {result.Pass}, revs[2]: {result.Fail}}, &runs)
	sums, err := CheckEndpoints(context.Background(), o, revs[0][:8], "HEAD")
	require.NoError(t, err)
	require.Len(t, sums, 2)
	assert.Equal(t, Good, sums[0].Verdict)
	assert.True(t, sums[0].Cached, "the good revision's kernel was in the cache")
	assert.Equal(t, Bad, sums[1].Verdict)
	require.Len(t, b.built, 1, "only the bad revision was built")
	wt, rev, _ := strings.Cut(b.built[0], "@")
	assert.Equal(t, revs[2], rev)
	assert.NotEqual(t, tree, wt, "built in a worktree, not the user's tree")
	assert.NoDirExists(t, wt, "the worktree is removed afterwards")
	head, err := gitOut(context.Background(), tree, "rev-parse", "HEAD")
	require.NoError(t, err)
	assert.Equal(t, revs[2], head, "the user's checkout did not move")
	list, err := gitOut(context.Background(), tree, "worktree", "list")
	require.NoError(t, err)
	assert.Equal(t, 1, len(strings.Split(list, "\n")), "no worktree left registered: %s", list)
}

func TestCheckEndpoints_GoodThatFailsIsReported(t *testing.T) {
	tree, revs := history(t)
	runs := 0
	b := &fakeBuilder{cached: map[string]bool{revs[0]: true, revs[2]: true}}
	o := testOptions(t, tree, b, map[string][]result.Status{revs[0]: {result.Fail}, revs[2]: {result.Fail}}, &runs)
	_, err := CheckEndpoints(context.Background(), o, revs[0], revs[2])
	require.ErrorIs(t, err, ErrEndpoints)
	assert.Contains(t, err.Error(), "the good revision "+revs[0]+" is bad")
	assert.Empty(t, b.built)

	_, err = CheckEndpoints(context.Background(), o, "no-such-rev", revs[2])
	assert.ErrorIs(t, err, ErrInput)
}

func TestScenarioPath_FallsBackToTheCheckout(t *testing.T) {
	src := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(src, "scenarios"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(src, "scenarios", "x.yaml"), nil, 0o644))
	assert.Equal(t, filepath.Join(src, "scenarios", "x.yaml"), ScenarioPath("scenarios/x.yaml", src))
	assert.Equal(t, "scenarios/nope.yaml", ScenarioPath("scenarios/nope.yaml", src))
	assert.Equal(t, "/abs/x.yaml", ScenarioPath("/abs/x.yaml", src))
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

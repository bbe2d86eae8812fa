package bisect

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/tsemlab/tsemlab/harness/kbuild"
	"github.com/tsemlab/tsemlab/harness/lab"
	"github.com/tsemlab/tsemlab/harness/result"
	"github.com/tsemlab/tsemlab/harness/runner"
	"github.com/tsemlab/tsemlab/harness/scenario"
	"github.com/tsemlab/tsemlab/internal/fileutil"
)

// Builder builds kernels (*kbuild.Builder is one).
type Builder interface {
	Build(ctx context.Context, spec kbuild.Spec) (*kbuild.Kernel, error)
	LookupRevision(ctx context.Context, spec kbuild.Spec, revision string) (*kbuild.Kernel, error)
}

// Options configure a bisect step.
type Options struct {
	// Tree is the kernel tree git bisect checked out.
	Tree string
	// Scenario is the scenario file.
	Scenario string
	// Config holds the base and fragments; its Source is set to Tree.
	Config kbuild.Spec
	Builder
	// Tries is how many times the scenario runs; the revision is bad if
	// any run is. 0 means 1.
	Tries int
	// KernelOut, when set, is a directory the built bzImage is copied to
	// as <revision>.bzImage.
	KernelOut string
	// StepLog is the file each step's summary line is appended to; ""
	// means tsemlab-bisect.log in the tree's git directory.
	StepLog string
	// CacheDir and SourceDir are as in lab.Options; results go under
	// CacheDir/bisect.
	CacheDir, SourceDir string
	Accel               string
	// Timeout overrides the scenario's own when non-zero.
	Timeout time.Duration
	Log     *slog.Logger
	// Prepare and Run are lab.Prepare and runner.Run when nil.
	Prepare func(context.Context, lab.Options) (*lab.Lab, error)
	Run     func(context.Context, runner.Config, []*scenario.Scenario) *result.Run
}

// Step builds and tests the tree's checkout, appends its summary line to
// the step log and returns the summary; its Verdict is the exit code for
// git bisect run.
func Step(ctx context.Context, o Options) Summary {
	s := test(ctx, o, o.Tree)
	if err := o.appendLog(s); err != nil {
		o.Log.Warn("bisect step log not written", "err", err)
	}
	return s
}

// test builds the checkout of tree and runs the scenario on it.
func test(ctx context.Context, o Options, tree string) Summary {
	s := Summary{}
	rev, err := gitOut(ctx, tree, "rev-parse", "--verify", "HEAD^{commit}")
	if err != nil {
		s.Verdict, s.Reason = Decide(fmt.Errorf("%w: %s is not a git tree with a checkout: %w", ErrInput, tree, err), nil, 0)
		return s
	}
	s.Revision = rev
	sc, err := scenario.Load(ctx, o.Scenario)
	if err != nil {
		s.Verdict, s.Reason = Decide(fmt.Errorf("%w: %w", ErrInput, err), nil, 0)
		return s
	}
	spec := o.Config
	spec.Source = tree
	start := time.Now()
	k, err := o.Builder.Build(ctx, spec)
	s.Build = time.Since(start)
	return o.runBuilt(ctx, s, k, err, sc)
}

// runBuilt runs the scenario on the kernel a build gave, or decides the
// step from the build's error (a failed build or lost options: skip).
func (o Options) runBuilt(ctx context.Context, s Summary, k *kbuild.Kernel, err error, sc *scenario.Scenario) Summary {
	if err != nil {
		s.Verdict, s.Reason = Decide(err, nil, 0)
		return s
	}
	s.Cached, s.Kernel = k.Cached, k.Path
	return o.runOn(ctx, s, k, sc)
}

// runOn boots kernel k and runs the scenario up to o.Tries times,
// stopping at the first bad run.
func (o Options) runOn(ctx context.Context, s Summary, k *kbuild.Kernel, sc *scenario.Scenario) (res Summary) {
	start := time.Now()
	defer func() { res.Run = time.Since(start) }()
	if o.KernelOut != "" {
		if err := copyKernel(k.Path, filepath.Join(o.KernelOut, s.Revision[:min(12, len(s.Revision))]+".bzImage")); err != nil {
			s.Verdict, s.Reason = Decide(fmt.Errorf("%w: --kernel-out: %w", ErrInput, err), nil, 0)
			return s
		}
	}
	prepare, run := o.Prepare, o.Run
	if prepare == nil {
		prepare = lab.Prepare
	}
	if run == nil {
		run = runner.Run
	}
	l, err := prepare(ctx, lab.Options{KernelPath: k.Path, Accel: o.Accel, CacheDir: o.CacheDir, SourceDir: o.SourceDir, Log: o.Log})
	if err != nil {
		s.Verdict, s.Reason = Decide(err, nil, 0)
		return s
	}
	s.Results = filepath.Join(o.CacheDir, "bisect", fmt.Sprintf("%.12s-%s", s.Revision, time.Now().UTC().Format("20060102T150405Z")))
	var tries []Try
	for i := range max(o.Tries, 1) {
		r := run(ctx, runner.Config{
			Kernel: l.Kernel, Image: l.Image, Accel: l.Accel, QEMU: l.QEMU, QEMUVersion: l.QEMUVersion, Facts: l.Facts,
			OutDir: filepath.Join(s.Results, fmt.Sprintf("try-%d", i+1)), Timeout: o.Timeout, Log: o.Log,
		}, []*scenario.Scenario{sc})
		if ctx.Err() != nil {
			s.Verdict, s.Reason = Decide(fmt.Errorf("interrupted: %w", ctx.Err()), nil, 0)
			return s
		}
		tries = append(tries, tryOf(r))
		if v, _ := Decide(nil, tries, o.Tries); v == Bad {
			break
		}
	}
	s.Verdict, s.Reason = Decide(nil, tries, o.Tries)
	s.Reason = sc.Name + " " + s.Reason
	return s
}

// tryOf is the outcome of a run of one scenario.
func tryOf(r *result.Run) Try {
	if r == nil || len(r.Scenarios) != 1 || r.Scenarios[0] == nil {
		return Try{Status: result.Error, Reason: "the runner returned no result"}
	}
	return Try{Status: r.Scenarios[0].Status, Reason: r.Scenarios[0].Reason}
}

// appendLog appends the summary line to the step log.
func (o Options) appendLog(s Summary) error {
	path := o.StepLog
	if path == "" {
		p, err := gitOut(context.Background(), o.Tree, "rev-parse", "--path-format=absolute", "--git-path", "tsemlab-bisect.log")
		if err != nil {
			return err
		}
		path = p
	}
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintf(f, "%s %s\n", time.Now().UTC().Format(time.RFC3339), s.Line()); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func copyKernel(src, dst string) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	return fileutil.Copy(src, dst)
}

// gitOut runs git in dir and returns its trimmed stdout.
func gitOut(ctx context.Context, dir string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "git", append([]string{"-C", dir}, args...)...)
	var errb strings.Builder
	cmd.Stderr = &errb
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("git %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(errb.String()))
	}
	return strings.TrimSpace(string(out)), nil
}

// TopLevel returns the top of the git tree holding dir ("" is the current
// directory): the kernel tree a bisect step builds.
func TopLevel(dir string) (string, error) {
	if dir == "" {
		dir = "."
	}
	top, err := gitOut(context.Background(), dir, "rev-parse", "--show-toplevel")
	if err != nil {
		return "", fmt.Errorf("%w: %s is not in a git kernel tree (run bisect-step inside one, or pass --tree): %w", ErrInput, dir, err)
	}
	return top, nil
}

// ScenarioPath resolves a scenario path given to bisect-step: as it is
// when it exists (relative to the kernel tree git bisect runs in), else
// relative to the tsemlab checkout src, so that scenarios/x.yaml works
// from inside a kernel tree.
func ScenarioPath(path, src string) string {
	if _, err := os.Stat(path); err == nil || filepath.IsAbs(path) || src == "" {
		return path
	}
	if _, err := os.Stat(filepath.Join(src, path)); err == nil {
		return filepath.Join(src, path)
	}
	return path
}

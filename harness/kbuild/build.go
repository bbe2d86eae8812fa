package kbuild

import (
	"context"
	"encoding/json"

	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/tsemlab/tsemlab/harness/filelock"
	"github.com/tsemlab/tsemlab/internal/digest"
	"github.com/tsemlab/tsemlab/internal/fileutil"
)

// Build builds the kernel spec describes, or finds it in the cache, and
// returns it. Bad input is ErrSpec; options that did not survive
// olddefconfig are a *ConfigError (ErrConfig) and nothing is compiled; a
// failed make is a *BuildError (ErrBuild) naming the kept log.
func (b *Builder) Build(ctx context.Context, spec Spec) (*Kernel, error) {
	start := time.Now()
	in, err := readConfigInputs(spec)
	if err != nil {
		return nil, err
	}
	p := &progress{w: b.Progress, start: start}
	if b.Progress == nil && b.Log != nil {
		p.onPhase = func(name string) { b.Log.Info("kernel build", "phase", name) }
	}
	defer p.done()
	t, err := b.source(ctx, spec, p)
	if err != nil {
		return nil, err
	}
	cc, compiler, err := b.compiler(ctx)
	if err != nil {
		return nil, err
	}
	key := cacheKey(t.ID, in, compiler)
	if k := b.Lookup(key); k != nil {
		return k, nil
	}
	if err := checkOutOfTree(t.Dir); err != nil {
		return nil, err
	}
	buildDir := filepath.Join(b.kernelsDir(), "build-"+shortHash(t.Dir, in.slot())[:16])
	unlock, err := filelock.Lock(ctx, buildDir+".lock")
	if err != nil {
		return nil, err
	}
	defer unlock()
	if k := b.Lookup(key); k != nil {
		return k, nil
	}
	k := &Kernel{Key: key, Source: t.ID, Base: in.Base, Fragments: in.Fragments, Compiler: compiler, CCache: cc != "", BuildDir: buildDir}
	m := &maker{tree: t.Dir, build: buildDir, jobs: b.jobs(), cc: cc, env: b.env(), p: p}
	if err := b.compile(ctx, m, in, k); err != nil {
		return nil, err
	}
	k.Built, k.Seconds, k.Objects = time.Now().UTC(), time.Since(start).Seconds(), p.count()
	if err := b.store(k); err != nil {
		return nil, fmt.Errorf("store the kernel in the cache: %w", err)
	}
	return k, nil
}

// BuildError is a failed configuration or compilation step.
type BuildError struct {
	Step string
	Err  error
	// Log is the full log, kept; Tail its last lines; Errors the
	// compiler's first errors in it, which a parallel make buries under
	// what its other jobs printed after them.
	Log, Tail, Errors string
}

func (e *BuildError) Error() string {
	first := ""
	if e.Errors != "" {
		first = "; the first errors in it:\n" + e.Errors + "\nand its last lines"
	} else {
		first = "; its last lines"
	}
	return fmt.Sprintf("%s: %v; full log: %s%s:\n%s", e.Step, e.Err, e.Log, first, e.Tail)
}

// compilerErrors finds the first n compiler or linker errors in a build
// log, each with the line before it when that names the function ("In
// function ...") and the source line and caret after it.
func compilerErrors(log string, n int) string {
	lines := strings.Split(log, "\n")
	var out []string
	for i := 0; i < len(lines) && n > 0; i++ {
		l := lines[i]
		if !strings.Contains(l, ": error:") && !strings.Contains(l, ": fatal error:") && !strings.Contains(l, "undefined reference to") {
			continue
		}
		n--
		if i > 0 && strings.Contains(lines[i-1], ": In function") {
			out = append(out, lines[i-1])
		}
		out = append(out, l)
		for j := i + 1; j < len(lines) && j <= i+2 && strings.Contains(lines[j], "|"); j++ {
			out = append(out, lines[j])
		}
	}
	return strings.Join(out, "\n")
}

func (e *BuildError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrBuild) true.
func (e *BuildError) Is(target error) bool { return target == ErrBuild }

// compile configures, verifies and compiles in m's build directory, with
// the log in logs/ (kept there when anything fails).
func (b *Builder) compile(ctx context.Context, m *maker, in *configInputs, k *Kernel) error {
	k.Log = filepath.Join(b.kernelsDir(), "logs", k.Key[:24]+".log")
	if err := os.MkdirAll(filepath.Dir(k.Log), 0o755); err != nil {
		return err
	}
	if err := os.MkdirAll(m.build, 0o755); err != nil {
		return err
	}
	logf, err := os.Create(k.Log)
	if err != nil {
		return err
	}
	defer logf.Close()
	m.log = logf
	fmt.Fprintf(logf, "tsemlab kernel build %s\nsource: %s\ntree: %s\nbuild directory: %s\nbase: %s\ncompiler: %s (CC=%q)\n",
		time.Now().UTC().Format(time.RFC3339), k.Source, m.tree, m.build, in.Base, k.Compiler, m.cc)
	fail := func(step string, err error) error {
		if ctx.Err() != nil {
			return fmt.Errorf("kernel build interrupted while %s (log: %s): %w", step, k.Log, ctx.Err())
		}
		logf.Sync()
		data, _ := os.ReadFile(k.Log)
		return &BuildError{Step: step, Err: err, Log: k.Log, Errors: compilerErrors(string(data), 3), Tail: lastLines(string(data), 20)}
	}
	m.p.phase("checking fragments")
	kconfig := &kconfigs{tree: m.tree}
	if problems := undeclared(kconfig, in); len(problems) > 0 {
		cerr := &ConfigError{Problems: problems, Log: k.Log}
		fmt.Fprintf(logf, "\n%v\n", cerr)
		return cerr
	}
	if err := configure(ctx, m, in); err != nil {
		return fail("configuring", err)
	}
	m.p.phase("verifying")
	fmt.Fprintf(logf, "\n[%s] verifying the final .config\n", time.Since(m.p.start).Round(time.Second))
	cfgPath := filepath.Join(m.build, ".config")
	_, v, err := verify(kconfig, cfgPath, in)
	if err != nil {
		return fail("verifying", err)
	}
	problems := v.problems
	for _, p := range v.foreign {
		fmt.Fprintf(logf, "set aside: %s\n", p)
		k.SetAside = append(k.SetAside, p.String())
		if b.Log != nil {
			b.Log.Warn("kernel build: option set aside", "option", p.String())
		}
	}
	if k.ConfigSHA256, err = digest.File(cfgPath); err != nil {
		return err
	}
	if len(problems) > 0 {
		cerr := &ConfigError{Problems: problems, Config: cfgPath, Log: k.Log}
		fmt.Fprintf(logf, "\n%v\n", cerr)
		return cerr
	}
	if err := m.make(ctx, "compiling", "bzImage"); err != nil {
		return fail("compiling", err)
	}
	return nil
}

// store copies the bzImage, its .config and the log into the kernel's
// cache directory, atomically.
func (b *Builder) store(k *Kernel) error {
	k.Dir = filepath.Join(b.kernelsDir(), "kbuild-"+k.Key[:24])
	tmp := k.Dir + ".partial"
	if err := os.RemoveAll(tmp); err != nil {
		return err
	}
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	for src, dst := range map[string]string{
		filepath.Join(k.BuildDir, "arch", "x86", "boot", "bzImage"): "bzImage",
		filepath.Join(k.BuildDir, ".config"):                        "config",
		k.Log:                                                       "build.log",
	} {
		if err := fileutil.Copy(src, filepath.Join(tmp, dst)); err != nil {
			return err
		}
	}
	data, err := json.MarshalIndent(k, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(tmp, "kbuild.json"), append(data, '\n'), 0o644); err != nil {
		return err
	}
	if err := os.RemoveAll(k.Dir); err != nil {
		return err
	}
	if err := os.Rename(tmp, k.Dir); err != nil {
		return err
	}
	_ = os.Remove(k.Log)
	k.Path, k.Log = filepath.Join(k.Dir, "bzImage"), filepath.Join(k.Dir, "build.log")
	return nil
}

// Lookup returns the cached kernel with this key, or nil.
func (b *Builder) Lookup(key string) *Kernel {
	if len(key) < 24 {
		return nil
	}
	k, err := readKernel(filepath.Join(b.kernelsDir(), "kbuild-"+key[:24]))
	if err != nil || k.Key != key {
		return nil
	}
	k.Cached = true
	return k
}

func readKernel(dir string) (*Kernel, error) {
	data, err := os.ReadFile(filepath.Join(dir, "kbuild.json"))
	if err != nil {
		return nil, err
	}
	var k Kernel
	if err := json.Unmarshal(data, &k); err != nil {
		return nil, fmt.Errorf("%s: %w", dir, err)
	}
	k.Dir, k.Path, k.Log = dir, filepath.Join(dir, "bzImage"), filepath.Join(dir, "build.log")
	if _, err := os.Stat(k.Path); err != nil {
		return nil, err
	}
	return &k, nil
}

// List returns the kernels built into the cache at cacheDir, oldest first.
func List(cacheDir string) ([]*Kernel, error) {
	dirs, err := filepath.Glob(filepath.Join(cacheDir, "kernels", "kbuild-*"))
	if err != nil {
		return nil, err
	}
	var out []*Kernel
	for _, d := range dirs {
		if strings.HasSuffix(d, ".partial") {
			continue
		}
		if k, err := readKernel(d); err == nil {
			out = append(out, k)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Built.Before(out[j].Built) })
	return out, nil
}

// cacheKey identifies a build: what it was built from and with. The
// configuration is identified by its inputs (with the tree, they decide
// the .config), so a hit needs no make run.
func cacheKey(id Identity, in *configInputs, compiler string) string {
	return shortHash("tsemlab kbuild 1", id.keyMaterial(), in.hash(), compiler, "ARCH=x86_64 bzImage")
}

// compiler returns the CC make variable (ccache when installed) and the
// compiler's version line.
func (b *Builder) compiler(ctx context.Context) (cc, version string, err error) {
	if b.compilerVersion != nil {
		version, err = b.compilerVersion(ctx)
	} else if err = checkTools(); err == nil {
		var out string
		if out, err = runQuiet(ctx, "", "gcc", "--version"); err != nil {
			err = fmt.Errorf("%w: gcc --version: %w (apt-get install %s)", ErrTools, err, buildPackages)
		}
		version, _, _ = strings.Cut(out, "\n")
	}
	if err != nil {
		return "", "", err
	}
	if _, err := exec.LookPath("ccache"); err == nil && !b.NoCCache {
		cc = "ccache gcc"
	}
	return cc, strings.TrimSpace(version), nil
}

// buildPackages are the Debian packages a kernel build needs.
const buildPackages = "build-essential flex bison bc libelf-dev libssl-dev cpio"

// checkTools reports the build tools missing from PATH.
func checkTools() error {
	var missing []string
	for _, tool := range []string{"make", "gcc", "flex", "bison", "bc", "tar"} {
		if _, err := exec.LookPath(tool); err != nil {
			missing = append(missing, tool)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w: %s (apt-get install %s)", ErrTools, strings.Join(missing, ", "), buildPackages)
	}
	return nil
}

func (b *Builder) jobs() int {
	if b.Jobs > 0 {
		return b.Jobs
	}
	return runtime.NumCPU()
}

// env is the build's environment on top of tsemlab's: ccache's directory
// in the cache (unless CCACHE_DIR is set), a fixed user and host in the
// kernel's version string, and C-locale output for the progress parser.
func (b *Builder) env() []string {
	env := []string{"LC_ALL=C", "KBUILD_BUILD_USER=tsemlab", "KBUILD_BUILD_HOST=tsemlab"}
	if os.Getenv("CCACHE_DIR") == "" {
		env = append(env, "CCACHE_DIR="+filepath.Join(b.kernelsDir(), "ccache"))
	}
	return env
}

// checkOutOfTree refuses a tree that holds an in-tree build: make O=
// refuses it too, less clearly.
func checkOutOfTree(dir string) error {
	for _, f := range []string{".config", filepath.Join("include", "config", "auto.conf")} {
		if _, err := os.Stat(filepath.Join(dir, f)); err == nil {
			return fmt.Errorf("%w: %s has an in-tree build (%s): tsemlab builds out of tree (make O=), which needs a clean tree; run make mrproper there (it deletes that build), or use a clean copy", ErrSpec, dir, f)
		}
	}
	return nil
}

// LookupRevision returns the cached kernel built from a clean checkout of
// the git revision with spec's configuration, or nil: a git tree's
// identity does not depend on where the tree is, so a revision built in
// one tree is found for any other.
func (b *Builder) LookupRevision(ctx context.Context, spec Spec, revision string) (*Kernel, error) {
	in, err := readConfigInputs(spec)
	if err != nil {
		return nil, err
	}
	_, compiler, err := b.compiler(ctx)
	if err != nil {
		return nil, err
	}
	return b.Lookup(cacheKey(Identity{Kind: KindGit, Revision: revision}, in, compiler)), nil
}

package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/tsemlab/tsemlab/harness/kbuild"
	"github.com/tsemlab/tsemlab/harness/lab"
)

// buildFlags are the kernel build flags `kernel build` and `bisect-step`
// share.
type buildFlags struct {
	base      string
	fragments []string
	jobs      int
	noCCache  bool
}

func (f *buildFlags) register(c *cobra.Command) {
	fl := c.Flags()
	fl.StringVar(&f.base, "base", kbuild.DefaultBase, "base configuration: tinyconfig, defconfig or a .config file")
	fl.StringArrayVar(&f.fragments, "fragment", nil, "config fragment merged onto the base, repeatable (default kernel/config/virt.config of the tsemlab checkout)")
	fl.IntVarP(&f.jobs, "jobs", "j", 0, "make -j (default: the number of CPUs)")
	fl.BoolVar(&f.noCCache, "no-ccache", false, "build without ccache even when it is installed")
}

// spec returns the build spec for source, with the default fragment.
func (f *buildFlags) spec(source, patches string) (kbuild.Spec, error) {
	frags := f.fragments
	if len(frags) == 0 {
		src, err := lab.SourceDir()
		if err != nil {
			return kbuild.Spec{}, fmt.Errorf("default fragment: %w (or pass --fragment)", err)
		}
		frags = []string{filepath.Join(src, "kernel", "config", "virt.config")}
	}
	return kbuild.Spec{Source: source, Patches: patches, Base: f.base, Fragments: frags}, nil
}

// builder is the kernel builder for these flags, with progress on a
// terminal only.
func (f *buildFlags) builder(g *globals) (*kbuild.Builder, error) {
	cache, err := lab.CacheDir(g.log)
	if err != nil {
		return nil, err
	}
	b := &kbuild.Builder{CacheDir: cache, Jobs: f.jobs, NoCCache: f.noCCache, Log: g.log}
	if isTerminal(os.Stderr) && os.Getenv("CI") != "true" {
		b.Progress = os.Stderr
	}
	return b, nil
}

func kernelCmd(g *globals) *cobra.Command {
	c := &cobra.Command{Use: "kernel", Short: "Build kernels"}
	var f buildFlags
	var source, patches string
	build := &cobra.Command{
		Use:   "build [--source DIR|GIT_URL@REF|TARBALL] [--patches DIR] [--base B] [--fragment FILE]...",
		Short: "Build a bzImage from a kernel tree and config fragments, cached",
		Long: `Build configures a kernel from --base (tinyconfig by default), merges the
fragments onto it with the tree's scripts/kconfig/merge_config.sh, runs
olddefconfig, and checks that every option a fragment asks for has that value
in the final .config: if one does not, it stops before compiling and names
each option with its likely cause (an unmet dependency, or a tree without the
feature: "CONFIG_SECURITY_TSEM is not set: this tree has no security/tsem; it
is not a TSEM tree"). Then it compiles the bzImage out of tree (make O=, with
ccache when installed) in a build directory kept in the cache, so the next
build of the same tree recompiles only what changed.

The source is a kernel tree (default: the current directory), a git URL with
a ref (shallow-cloned into the cache) or a tarball (unpacked into the cache),
with --patches applied in name order to the last two. The kernel is cached by
the source's identity (git revision plus a hash of uncommitted changes;
tarball and patch hashes; for a non-git tree its files' names, sizes and
mtimes), the configuration inputs and the compiler version: building the
same thing again returns at once.

Prints what was built, then the bzImage's path last on stdout. Exit codes:
0 built or cached; 2 bad input, a patch that does not apply or options the
configuration lost; 3 build tools missing or the build failed (the log is
kept and named).`,
		Example: `  tsemlab kernel build --source ~/linux --fragment kernel/config/virt.config --fragment kernel/config/tsem.config
  tsemlab kernel build --source /usr/src/linux-source-6.12.tar.xz --patches ~/tsem-patches
  tsemlab run --kernel "$(tsemlab kernel build --source ~/linux | tail -1)" scenarios/`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			spec, err := f.spec(source, patches)
			if err != nil {
				return &exitError{code: exitInfra, err: err}
			}
			start := time.Now()
			b, err := f.builder(g)
			if err != nil {
				return &exitError{code: exitInfra, err: err}
			}
			k, err := b.Build(cmd.Context(), spec)
			if err != nil {
				return buildExit(err)
			}
			printKernel(k, time.Since(start))
			return nil
		},
	}
	build.Flags().StringVar(&source, "source", ".", "kernel tree, GIT_URL@REF or tarball")
	build.Flags().StringVar(&patches, "patches", "", "directory of patches (*.patch, *.diff) applied in name order to a tarball or git URL source")
	f.register(build)
	c.AddCommand(build)
	return c
}

// buildExit maps a kernel build error to tsemlab's exit codes.
func buildExit(err error) error {
	switch {
	case errors.Is(err, kbuild.ErrSpec), errors.Is(err, kbuild.ErrPatch), errors.Is(err, kbuild.ErrConfig):
		return badInput(err)
	}
	return &exitError{code: exitInfra, err: err}
}

// printKernel says what was built, from what, with the bzImage's path last.
func printKernel(k *kbuild.Kernel, took time.Duration) {
	how := fmt.Sprintf("built in %s (%d objects compiled)", took.Round(time.Second), k.Objects)
	if k.Cached {
		how = fmt.Sprintf("cached (built %s in %s)", k.Built.Local().Format("2006-01-02 15:04"), (time.Duration(k.Seconds) * time.Second).Round(time.Second))
	}
	cc := ""
	if k.CCache {
		cc = ", ccache"
	}
	fmt.Printf("kernel   %s\nsource   %s\nconfig   %s, sha256 %.16s\n", how, k.Source, k.ConfigInputs(), k.ConfigSHA256)
	for _, o := range k.SetAside {
		fmt.Printf("         set aside: %s\n", o)
	}
	fmt.Printf("compiler %s%s\nlog      %s\n%s\n", k.Compiler, cc, k.Log, k.Path)
}

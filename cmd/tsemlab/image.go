package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/spf13/cobra"

	"github.com/tsemlab/tsemlab/harness/image"
	"github.com/tsemlab/tsemlab/harness/kernel"
	"github.com/tsemlab/tsemlab/harness/lab"
	"github.com/tsemlab/tsemlab/harness/rootfs"
)

// initramfsName is the NAME `image build` takes for the u-root initramfs.
const initramfsName = "initramfs"

type imageBuildOptions struct {
	kernelPath string
	imagesDir  string
	mirror     string
	suite      string
	refresh    bool
}

func imageCmd(g *globals) *cobra.Command {
	c := parent(&cobra.Command{Use: "image", Short: "Build guest images"})
	var o imageBuildOptions
	build := &cobra.Command{
		Use:   "build [NAME...]",
		Short: "Build (or find cached) the u-root initramfs and the workload root filesystems",
		Long: `Build builds what the guest needs and caches it, printing each image's path
last. With no NAME it builds everything: the u-root initramfs for the kernel
and every root filesystem defined in images/. A NAME builds only that root
filesystem (images/NAME.yaml); the name initramfs builds only the initramfs.
run builds the initramfs itself on first use.

The initramfs holds the guest orchestrator and u-root's core commands (built
with mkuimage), bash and GNU chown from the host and the kernel's modules the
guest needs; it is cached by a hash of all its inputs.

A root filesystem is bootstrapped with mmdebstrap (as root) from the Debian
suite its definition names, packed read-only as erofs, and cached under
images/ in tsemlab's cache with its metadata (.json) and full build log
(.log), keyed by the decoded definition and the suite's InRelease file. The
definitions ask for buster, the suite of the documented experiments; when the
mirror no longer serves it, the mirror's stable release is used instead, with
a notice, and recorded in the metadata. --suite (or TSEMLAB_DEBIAN_SUITE)
builds from that suite instead, with no fallback. The mirror is --mirror, else
TSEMLAB_DEBIAN_MIRROR, else the Debian mirror apt uses on this host. See
images/README.md.

Exit codes: 0 built or cached; 2 bad definition or unknown NAME; 3 a build
failed (its log is kept and named).`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return imageBuild(cmd, g, o, args)
		},
	}
	f := build.Flags()
	f.StringVar(&o.kernelPath, "kernel", "", "bzImage the initramfs is for (default: the stock kernel)")
	f.StringVar(&o.imagesDir, "images", "", "directory of image definitions (default: images/ of the tsemlab checkout)")
	f.StringVar(&o.mirror, "mirror", "", "Debian mirror URL (default: $"+rootfs.EnvMirror+", else apt's)")
	f.StringVar(&o.suite, "suite", "", "build every root filesystem from this Debian suite, with no fallback (default: $"+rootfs.EnvSuite+", else each definition's)")
	f.BoolVar(&o.refresh, "refresh", false, "ask the mirror for the suite's current state even if it was asked in the last 24 hours")
	c.AddCommand(build)
	return c
}

func imageBuild(cmd *cobra.Command, g *globals, o imageBuildOptions, args []string) error {
	ctx := cmd.Context()
	withInitramfs := len(args) == 0 || slices.Contains(args, initramfsName)
	names := slices.DeleteFunc(slices.Clone(args), func(n string) bool { return n == initramfsName })
	var defs []*rootfs.Definition
	if len(args) == 0 || len(names) > 0 {
		dir := o.imagesDir
		if dir == "" {
			src, err := lab.SourceDir()
			if err != nil {
				return &exitError{code: exitInfra, err: err}
			}
			dir = filepath.Join(src, "images")
		}
		var err error
		if defs, err = rootfs.Select(dir, names); err != nil {
			return badInput(err)
		}
	}
	cache, err := lab.CacheDir(g.log)
	if err != nil {
		return &exitError{code: exitInfra, err: err}
	}
	if withInitramfs {
		if err := buildInitramfs(cmd, g, o.kernelPath, cache); err != nil {
			return err
		}
	}
	b := rootfs.Builder{CacheDir: cache, Mirror: o.mirror, Suite: o.suite, Refresh: o.refresh, Log: g.log}
	if isTerminal(os.Stderr) && os.Getenv("CI") != "true" {
		b.Progress = os.Stderr
	}
	var failed []error
	for _, def := range defs {
		start := time.Now()
		img, err := b.Build(ctx, def)
		if err != nil {
			if ctx.Err() != nil {
				return &exitError{code: exitInfra, err: err}
			}
			failed = append(failed, err)
			continue
		}
		how := fmt.Sprintf("built in %s", time.Since(start).Round(time.Second))
		if img.Cached {
			how = "cached"
		}
		suite := img.Release.Suite
		if img.Release.Suite != img.Release.Requested {
			suite += " instead of " + img.Release.Requested
		}
		fmt.Printf("%s: Debian %s (%s), %.1f MiB, sha256 %s, %s\n%s\n", img.Name, img.DebianVersion, suite, float64(img.Size)/(1<<20), img.SHA256, how, img.Path)
	}
	if len(failed) > 0 {
		return &exitError{code: exitInfra, err: errors.Join(failed...)}
	}
	return nil
}

func buildInitramfs(cmd *cobra.Command, g *globals, kernelPath, cache string) error {
	src, err := lab.SourceDir()
	if err != nil {
		return &exitError{code: exitInfra, err: err}
	}
	var k *kernel.Kernel
	if kernelPath != "" {
		k, err = kernel.Open(kernelPath)
	} else {
		k, err = kernel.Stock{CacheDir: cache, Log: g.log}.Get(cmd.Context())
	}
	if err != nil {
		return &exitError{code: exitInfra, err: err}
	}
	spec := image.Spec{SourceDir: src, KernelRelease: k.Release}
	if k.ModulesDir != "" {
		if spec.Modules, _, err = kernel.ModuleOrder(k.ModulesDir, image.GuestModules); err != nil {
			return &exitError{code: exitInfra, err: err}
		}
	}
	img, err := image.Builder{CacheDir: cache, Log: g.log}.Base(cmd.Context(), spec)
	if err != nil {
		return &exitError{code: exitInfra, err: err}
	}
	fmt.Printf("initramfs sha256 %s\n%s\n", img.SHA256, img.Path)
	return nil
}

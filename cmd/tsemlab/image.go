package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/tsemlab/tsemlab/harness/image"
	"github.com/tsemlab/tsemlab/harness/kernel"
	"github.com/tsemlab/tsemlab/harness/lab"
)

func imageCmd(g *globals) *cobra.Command {
	c := &cobra.Command{Use: "image", Short: "Build guest images"}
	var kernelPath string
	build := &cobra.Command{
		Use:   "build",
		Short: "Build (or find cached) the u-root initramfs for a kernel",
		Long: `Build compiles the guest orchestrator and u-root's core commands into an
initramfs with mkuimage, adds bash and GNU chown from the host and the kernel's
modules the guest needs, and caches it by a hash of all its inputs. It prints
the image path last. run does this itself on first use.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			src, err := lab.SourceDir()
			if err != nil {
				return &exitError{code: exitInfra, err: err}
			}
			var k *kernel.Kernel
			if kernelPath != "" {
				k, err = kernel.Open(kernelPath)
			} else {
				k, err = kernel.Stock{CacheDir: lab.CacheDir(), Log: g.log}.Get(cmd.Context())
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
			img, err := image.Builder{CacheDir: lab.CacheDir(), Log: g.log}.Base(cmd.Context(), spec)
			if err != nil {
				return &exitError{code: exitInfra, err: err}
			}
			fmt.Printf("initramfs sha256 %s\n%s\n", img.SHA256, img.Path)
			return nil
		},
	}
	build.Flags().StringVar(&kernelPath, "kernel", "", "bzImage the image is for (default: the stock kernel)")
	c.AddCommand(build)
	return c
}

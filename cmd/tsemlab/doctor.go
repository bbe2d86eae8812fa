package main

import (
	"os"

	"github.com/spf13/cobra"

	"github.com/tsemlab/tsemlab/harness/doctor"
	"github.com/tsemlab/tsemlab/harness/lab"
)

func doctorCmd(g *globals) *cobra.Command {
	var kernelPath string
	c := &cobra.Command{
		Use:   "doctor",
		Short: "Check what is installed and whether KVM works here",
		Long: `Doctor lists the tools tsemlab needs and the command that installs any that
are missing, shows the cached kernels and images, and boots the guest once
under KVM (when /dev/kvm exists) and under TCG to show which works and how fast.
Exit 0 when a run can work, 3 otherwise.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cache, err := lab.CacheDir(g.log)
			if err != nil {
				return &exitError{code: exitInfra, err: err}
			}
			src, srcErr := lab.SourceDir()
			o := doctor.Options{KernelPath: kernelPath, CacheDir: cache, SourceDir: src, TSEMKernel: os.Getenv("TSEMLAB_TSEM_KERNEL"), Prepare: lab.Prepare, Log: g.log}
			if srcErr != nil {
				o.Prepare = nil
			}
			err = doctor.Run(cmd.Context(), os.Stdout, o)
			if err == nil && srcErr != nil {
				err = srcErr
			}
			if err != nil {
				return &exitError{code: exitInfra, err: err}
			}
			return nil
		},
	}
	c.Flags().StringVar(&kernelPath, "kernel", "", "bzImage to test-boot (default: the stock kernel)")
	return c
}

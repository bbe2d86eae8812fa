package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/tsemlab/tsemlab/harness/kernel"
	"github.com/tsemlab/tsemlab/harness/lab"
	"github.com/tsemlab/tsemlab/harness/qemu"
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
			ok := true
			check := func(name, fix string) {
				if p, err := exec.LookPath(name); err == nil {
					fmt.Printf("ok       %-20s %s\n", name, p)
				} else {
					ok = false
					fmt.Printf("MISSING  %-20s fix: %s\n", name, fix)
				}
			}
			check("qemu-system-x86_64", "apt-get install qemu-system-x86")
			check("go", "install Go 1.26 (the guest is compiled from source)")
			check("apt-get", "only needed for the default kernel; else pass --kernel")
			check("dpkg-deb", "apt-get install dpkg")
			check("bash", "apt-get install bash")
			check("chown", "apt-get install coreutils")
			if v, err := qemu.Version("qemu-system-x86_64"); err == nil {
				fmt.Printf("         qemu version: %s\n", v)
			}
			if f, err := os.OpenFile("/dev/kvm", os.O_RDWR, 0); err == nil {
				f.Close()
				fmt.Println("ok       /dev/kvm             opens read-write (a test boot below says whether guests run)")
			} else {
				fmt.Printf("no KVM   /dev/kvm             %v: guests run under TCG (slower; timeouts are scaled x3)\n", err)
			}
			cache := lab.CacheDir()
			fmt.Printf("cache    %s\n", cache)
			kernels, _ := filepath.Glob(filepath.Join(cache, "kernels", "*", "boot", "vmlinuz-*"))
			for _, k := range kernels {
				fmt.Printf("         kernel %s\n", k)
			}
			images, _ := filepath.Glob(filepath.Join(cache, "initramfs", "*.cpio"))
			for _, i := range images {
				fmt.Printf("         image  %s\n", i)
			}
			if tk := os.Getenv("TSEMLAB_TSEM_KERNEL"); tk != "" {
				if k, err := kernel.Open(tk); err == nil {
					fmt.Printf("ok       TSEMLAB_TSEM_KERNEL  %s (%s)\n", tk, k.Release)
				} else {
					fmt.Printf("BAD      TSEMLAB_TSEM_KERNEL  %v\n", err)
				}
			} else {
				fmt.Println("note     TSEMLAB_TSEM_KERNEL  unset: TSEM scenarios will be skipped (see README, TSEM kernels)")
			}
			if !ok {
				return &exitError{code: exitInfra, err: fmt.Errorf("missing tools above")}
			}
			src, err := lab.SourceDir()
			if err != nil {
				return &exitError{code: exitInfra, err: err}
			}
			l, err := lab.Prepare(cmd.Context(), lab.Options{KernelPath: kernelPath, Accel: "tcg", CacheDir: cache, SourceDir: src, Log: g.log})
			if err != nil {
				return &exitError{code: exitInfra, err: err}
			}
			fmt.Printf("kernel   %s (%s)\nimage    %s\n", l.Kernel.Path, l.Kernel.Release, l.Image.Path)
			for _, a := range []qemu.Accel{qemu.KVM, qemu.TCG} {
				if a == qemu.KVM {
					if _, err := os.Stat("/dev/kvm"); err != nil {
						continue
					}
				}
				ctx, cancel := context.WithTimeout(cmd.Context(), 90*time.Second)
				rep, err := l.Boot(ctx, a, g.log)
				cancel()
				if err != nil {
					fmt.Printf("FAIL     boot under %s: %v\n", a, err)
					continue
				}
				fmt.Printf("ok       boot under %s: guest up at %.2fs uptime, %.2fs wall; LSMs %v; clocksource %s\n",
					a, rep.Uptime.Seconds(), rep.Wall.Seconds(), rep.Hello.LSMs, rep.Hello.Clocksource)
			}
			return nil
		},
	}
	c.Flags().StringVar(&kernelPath, "kernel", "", "bzImage to test-boot (default: the stock kernel)")
	return c
}

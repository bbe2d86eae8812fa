// Package doctor checks a host for what tsemlab needs: the tools (and the
// command that installs each missing one), KVM, the cached kernels and
// images, the TSEM kernel the tests would use, and a real boot under each
// accelerator that may work.
package doctor

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/tsemlab/tsemlab/harness/facts"
	"github.com/tsemlab/tsemlab/harness/kbuild"
	"github.com/tsemlab/tsemlab/harness/kernel"
	"github.com/tsemlab/tsemlab/harness/lab"
	"github.com/tsemlab/tsemlab/harness/qemu"
)

// Options say what to check and how.
type Options struct {
	// KernelPath is the bzImage to test-boot; "" is the stock kernel.
	KernelPath string
	CacheDir   string
	SourceDir  string
	// TSEMKernel is TSEMLAB_TSEM_KERNEL's value.
	TSEMKernel string
	// LookPath finds a tool; default exec.LookPath.
	LookPath func(string) (string, error)
	// Prepare readies the lab the test boots use (lab.Prepare); nil skips
	// the boots.
	Prepare func(context.Context, lab.Options) (*lab.Lab, error)
	Log     *slog.Logger
}

// tool is one program tsemlab needs and how to get it.
type tool struct{ name, fix string }

var tools = []tool{
	{"qemu-system-x86_64", "apt-get install qemu-system-x86"},
	{"go", "install Go 1.26 (the guest is compiled from source)"},
	{"apt-get", "only needed for the default kernel; else pass --kernel"},
	{"dpkg-deb", "apt-get install dpkg"},
	{"bash", "apt-get install bash"},
	{"chown", "apt-get install coreutils"},
}

// ErrMissing is returned when a tool is missing or no boot worked.
var ErrMissing = fmt.Errorf("tsemlab cannot run here yet: see the lines above")

// Run writes the checks to w, one line each, and returns ErrMissing (or the
// error that stopped it) when a run could not work here.
func Run(ctx context.Context, w io.Writer, o Options) error {
	if o.LookPath == nil {
		o.LookPath = exec.LookPath
	}
	ok := checkTools(w, o.LookPath)
	checkKVM(w)
	listCache(w, o.CacheDir)
	checkTSEMKernel(w, o.TSEMKernel)
	if !ok {
		return ErrMissing
	}
	if o.Prepare == nil {
		return nil
	}
	l, err := o.Prepare(ctx, lab.Options{KernelPath: o.KernelPath, Accel: "tcg", CacheDir: o.CacheDir, SourceDir: o.SourceDir, Log: o.Log})
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "kernel   %s (%s)\nimage    %s\n", l.Kernel.Path, l.Kernel.Release, l.Image.Path)
	if l.Image.Tools != "" {
		fmt.Fprintf(w, "tools    %s (runc, apparmor_parser: attached to the scenarios that run them)\n", l.Image.Tools)
	} else {
		fmt.Fprintf(w, "tools    in the initramfs (no mkfs.erofs here: apt-get install erofs-utils makes every boot's initramfs 10 MB smaller)\n")
	}
	if !bootEach(ctx, w, l, o.Log) {
		return ErrMissing
	}
	return nil
}

func checkTools(w io.Writer, lookPath func(string) (string, error)) bool {
	ok := true
	for _, t := range tools {
		if p, err := lookPath(t.name); err == nil {
			fmt.Fprintf(w, "ok       %-20s %s\n", t.name, p)
		} else {
			ok = false
			fmt.Fprintf(w, "MISSING  %-20s fix: %s\n", t.name, t.fix)
		}
	}
	if v, err := qemu.Version("qemu-system-x86_64"); err == nil {
		fmt.Fprintf(w, "         qemu version: %s\n", v)
	}
	return ok
}

func checkKVM(w io.Writer) {
	f, err := os.OpenFile("/dev/kvm", os.O_RDWR, 0)
	if err != nil {
		fmt.Fprintf(w, "no KVM   /dev/kvm             %v: guests run under TCG (slower; timeouts are scaled x3)\n", err)
		return
	}
	f.Close()
	fmt.Fprintln(w, "ok       /dev/kvm             opens read-write (a test boot below says whether guests run)")
}

func listCache(w io.Writer, cache string) {
	fmt.Fprintf(w, "cache    %s\n", cache)
	kernels, _ := filepath.Glob(filepath.Join(cache, "kernels", "*", "boot", "vmlinuz-*"))
	for _, k := range kernels {
		fmt.Fprintf(w, "         kernel %s\n", k)
	}
	built, _ := kbuild.List(cache)
	for _, k := range built {
		fmt.Fprintf(w, "         built  %s: %s; config %s, sha256 %.12s; %s\n", k.Path, k.Source, k.ConfigInputs(), k.ConfigSHA256, k.Compiler)
	}
	images, _ := filepath.Glob(filepath.Join(cache, "initramfs", "*.cpio"))
	for _, i := range images {
		fmt.Fprintf(w, "         image  %s\n", i)
	}
	known, _ := filepath.Glob(filepath.Join(cache, "facts", "*.json"))
	for _, k := range known {
		var e facts.Entry
		if data, err := os.ReadFile(k); err == nil && json.Unmarshal(data, &e) == nil {
			fmt.Fprintf(w, "         facts  kernel %.12s %s: LSMs %s; features %s; TSEM %v; learned %s\n", e.KernelSHA256, e.Hello.KernelRelease,
				strings.Join(e.Hello.LSMs, ","), strings.Join(e.Hello.Features, ","), e.Hello.TSEM, e.Learned.Format(time.RFC3339))
		}
	}
}

func checkTSEMKernel(w io.Writer, path string) {
	if path == "" {
		fmt.Fprintln(w, "note     TSEMLAB_TSEM_KERNEL  unset: TSEM scenarios will be skipped (see README, TSEM kernels)")
		return
	}
	k, err := kernel.Open(path)
	if err != nil {
		fmt.Fprintf(w, "BAD      TSEMLAB_TSEM_KERNEL  %v\n", err)
		return
	}
	fmt.Fprintf(w, "ok       TSEMLAB_TSEM_KERNEL  %s (%s)\n", path, k.Release)
}

// bootEach boots under KVM (when /dev/kvm exists) and TCG and says how it
// went; true when at least one worked.
func bootEach(ctx context.Context, w io.Writer, l *lab.Lab, log *slog.Logger) bool {
	worked := false
	for _, a := range []qemu.Accel{qemu.KVM, qemu.TCG} {
		if _, err := os.Stat("/dev/kvm"); a == qemu.KVM && err != nil {
			continue
		}
		bctx, cancel := context.WithTimeout(ctx, 90*time.Second)
		rep, err := l.ProbeBoot(bctx, a, log)
		cancel()
		if err != nil {
			fmt.Fprintf(w, "FAIL     boot under %s: %v\n", a, err)
			continue
		}
		worked = true
		fmt.Fprintf(w, "ok       boot under %s: guest up at %.2fs uptime, %.2fs wall; LSMs %v; clocksource %s\n",
			a, rep.Uptime.Seconds(), rep.Wall.Seconds(), rep.Hello.LSMs, rep.Hello.Clocksource)
	}
	return worked
}

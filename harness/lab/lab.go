// Package lab prepares what every run needs before a scenario can boot: the
// kernel (the user's, or the stock one fetched on first use), the u-root
// initramfs built for it, QEMU, and the accelerator, probed once per host.
package lab

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/tsemlab/tsemlab/harness/boot"
	"github.com/tsemlab/tsemlab/harness/facts"
	"github.com/tsemlab/tsemlab/harness/image"
	"github.com/tsemlab/tsemlab/harness/kernel"
	"github.com/tsemlab/tsemlab/harness/qemu"
	"github.com/tsemlab/tsemlab/harness/tempdir"
	"github.com/tsemlab/tsemlab/protocol"
)

// Options say which kernel and accelerator to use.
type Options struct {
	// KernelPath is a bzImage; "" means the stock kernel.
	KernelPath string
	// Accel is auto, kvm or tcg.
	Accel string
	// QEMU is the binary; default qemu-system-x86_64.
	QEMU     string
	CacheDir string
	// SourceDir is the tsemlab checkout the guest is built from.
	SourceDir string
	Log       *slog.Logger
}

// Lab is a ready environment.
type Lab struct {
	// Facts remembers what kernels said about themselves at their first
	// boot here, so that unmet requirements skip without a boot.
	Facts       facts.Cache
	Kernel      *kernel.Kernel
	Image       *image.Image
	Accel       qemu.Choice
	QEMU        string
	QEMUVersion string
}

// Close releases what the lab holds for its run: the guest image, which
// the image cache does not prune while a lab uses it.
func (l *Lab) Close() { l.Image.Release() }

// ErrInfra classifies failures of the environment (QEMU missing, kernel not
// found, image build failed), which `tsemlab run` exits 3 for: test with
// errors.Is. It adds nothing to the message.
var ErrInfra = errors.New("infrastructure")

// infraError is an environment failure; its message is its cause's.
type infraError struct{ err error }

func (e *infraError) Error() string        { return e.err.Error() }
func (e *infraError) Unwrap() error        { return e.err }
func (e *infraError) Is(target error) bool { return target == ErrInfra }

func infra(err error) error { return &infraError{err} }

// SourceDir finds the tsemlab checkout: $TSEMLAB_SRC, else above the
// working directory, else above the running executable.
func SourceDir() (string, error) {
	if d := os.Getenv("TSEMLAB_SRC"); d != "" {
		return image.FindSource(d)
	}
	wd, _ := os.Getwd()
	d, err := image.FindSource(wd)
	if err == nil {
		return d, nil
	}
	if exe, eerr := os.Executable(); eerr == nil {
		if d, eerr := image.FindSource(filepath.Dir(exe)); eerr == nil {
			return d, nil
		}
	}
	return "", err
}

// Prepare gets the kernel, image, QEMU and accelerator ready.
func Prepare(ctx context.Context, o Options) (*Lab, error) {
	l := &Lab{QEMU: o.QEMU, Facts: facts.Cache{Dir: filepath.Join(o.CacheDir, "facts")}}
	if l.QEMU == "" {
		l.QEMU = "qemu-system-x86_64"
	}
	if _, err := exec.LookPath(l.QEMU); err != nil {
		return nil, infra(fmt.Errorf("%s not found: install QEMU (apt-get install qemu-system-x86)", l.QEMU))
	}
	v, err := qemu.Version(l.QEMU)
	if err != nil {
		return nil, infra(err)
	}
	l.QEMUVersion = v
	if o.KernelPath != "" {
		l.Kernel, err = kernel.Open(o.KernelPath)
	} else {
		l.Kernel, err = kernel.Stock{CacheDir: o.CacheDir, Log: o.Log}.Get(ctx)
	}
	if err != nil {
		return nil, infra(err)
	}
	spec := image.Spec{SourceDir: o.SourceDir, KernelRelease: l.Kernel.Release}
	if l.Kernel.ModulesDir != "" {
		mods, missing, err := kernel.ModuleOrder(l.Kernel.ModulesDir, image.GuestModules)
		if err != nil {
			return nil, infra(err)
		}
		if len(missing) > 0 {
			o.Log.Debug("guest modules not found as modules (built in?)", "modules", missing)
		}
		spec.Modules = mods
	}
	l.Image, err = image.Builder{CacheDir: o.CacheDir, Log: o.Log}.Base(ctx, spec)
	if err != nil {
		return nil, infra(err)
	}
	probe := qemu.Probe{
		CacheFile:   filepath.Join(o.CacheDir, "accel.json"),
		Fingerprint: fingerprint(l),
		Boot: func(ctx context.Context, a qemu.Accel) error {
			_, err := l.ProbeBoot(ctx, a, o.Log)
			return err
		},
		Log: o.Log,
	}
	l.Accel, err = probe.Choose(ctx, o.Accel)
	if err != nil {
		return nil, infra(err)
	}
	o.Log.Info("accelerator", "accel", l.Accel.Accel, "why", l.Accel.Reason)
	return l, nil
}

// fingerprint names the host and guest kernel an accelerator answer is
// good for.
func fingerprint(l *Lab) string {
	host, _ := os.Hostname()
	rel, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	cpu := ""
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(line, "model name") {
				cpu = strings.TrimSpace(line[strings.IndexByte(line, ':')+1:])
				break
			}
		}
	}
	return strings.Join([]string{host, strings.TrimSpace(string(rel)), cpu, l.QEMUVersion, l.Kernel.SHA256[:16]}, "|")
}

// ProbeBoot boots the lab's kernel and image with a probe plan (the guest
// says hello and powers off), remembers the kernel's facts and reports what
// it found: the accelerator probe and `tsemlab doctor` use it.
func (l *Lab) ProbeBoot(ctx context.Context, a qemu.Accel, log *slog.Logger) (*BootReport, error) {
	tmp, err := tempdir.New("probe")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	g, err := boot.Start(ctx, boot.Spec{
		QEMU: l.QEMU, Kernel: l.Kernel.Path, Image: l.Image, Accel: a, Dir: tmp, ConsoleLines: 30, Log: log,
		Plan: protocol.Plan{Version: protocol.Version, Scenario: "probe", Probe: true},
	})
	if err != nil {
		return nil, err
	}
	defer g.Stop(2 * time.Second)
	m, err := g.Hello(ctx)
	if err != nil {
		return nil, err
	}
	if ferr := l.Facts.Put(l.Kernel.SHA256, nil, *m.Hello, time.Now()); ferr != nil {
		log.Warn("kernel facts not remembered", "err", ferr)
	}
	return &BootReport{Hello: *m.Hello, Wall: time.Since(g.Started), Uptime: m.Uptime.Std(), KVM: g.VM.KVM}, nil
}

// BootReport is what a probe boot found.
type BootReport struct {
	Hello  protocol.Hello
	Wall   time.Duration
	Uptime time.Duration
	KVM    bool
}

package orchestrator

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/tsemlab/tsemlab/internal/fileutil"
	"github.com/tsemlab/tsemlab/protocol"
)

// images is what running steps on a workload image needs: where it goes,
// how to mount, and which runc. The zero value is the guest's (filled in
// by attachImage); tests set their own.
type images struct {
	mnt    mounter
	layout layout
	runc   string
	// sealedRunc is runc's sealed copy when runc came on the tools drive
	// (see sealedExecutable); runc is its path then.
	sealedRunc *os.File
	// toolsReady: the tools drive's programs were copied before the
	// snapshot (readyTools).
	toolsReady bool
	// work is the running phase's workload; nil outside a phase and for
	// scenarios without an image.
	work *workload
}

// guestRunc is where the image build packs the host's runc.
const guestRunc = "/bin/runc"

// deviceWait bounds the wait for the image's disk to appear.
const deviceWait = 10 * time.Second

// workload is where a phase's steps run when the scenario names an image:
// chrooted into the phase's root (process mode), or in a container whose
// root it is. It travels to a namespace leader in its job, so it is JSON.
type workload struct {
	// Root is the directory steps see as / in process mode ("" in
	// container mode, where runc sets the root).
	Root string `json:"root,omitempty"`
	// Container runs the phase's shell in a container (container mode).
	Container *container `json:"container,omitempty"`
}

// root is the directory processes are chrooted into, "" for none.
func (w *workload) root() string {
	if w == nil {
		return ""
	}
	return w.Root
}

// phase returns ph as its chrooted processes run it: the image's
// environment under the phase's own, and / as the working directory unless
// the phase names one (a chroot keeps the old one otherwise).
func (w *workload) phase(ph protocol.Phase) protocol.Phase {
	if w.root() == "" {
		return ph
	}
	ph.Env = append(slices.Clone(imageEnv), ph.Env...)
	if ph.Dir == "" {
		ph.Dir = "/"
	}
	return ph
}

// self is how a chrooted process runs this binary again (capexec): by
// /proc/self/exe, which the root's /proc reaches although the binary is
// outside the root.
func (w *workload) self(self string) string {
	if w.root() == "" {
		return self
	}
	return "/proc/self/exe"
}

// phaseImage is the workload image a phase runs in, "" for none.
func (o *orchestrator) phaseImage(ph protocol.Phase) string {
	if ph.Image != "" {
		return ph.Image
	}
	return o.plan.Image
}

// attachImage mounts every workload image the plan's phases name,
// read-only, once for the whole scenario, and, in container mode, gives
// runc its state directory and cgroups. Each undo goes on td as it becomes
// needed.
func (o *orchestrator) attachImage(ctx context.Context, td *teardown) error {
	names := o.plan.Images()
	tools := o.hasTools() && !o.img.toolsReady
	if len(names) == 0 && !tools {
		return nil
	}
	o.useGuestLayout()
	if tools {
		// The tools drive first: runc, which runs the images, is on it.
		if err := o.attachTools(ctx, td); err != nil {
			return err
		}
	}
	for _, name := range names {
		if err := o.mountImage(ctx, name, td); err != nil {
			return err
		}
	}
	if o.plan.Mode != protocol.ModeContainer {
		return nil
	}
	if _, err := os.Stat(o.img.runc); err != nil {
		return fmt.Errorf("container mode needs runc, and neither this guest image nor a tools drive has it (%w): install runc on the host (apt-get install runc) and run again; the image is rebuilt with it", err)
	}
	if err := mountAll(o.img.mnt, o.img.layout.runcMounts(), td); err != nil {
		return fmt.Errorf("container state: %w", err)
	}
	return nil
}

// unmetByKernel says why this kernel cannot run the plan's workload, or ""
// when it can: Debian's runc (1.1) refuses to start a container without the
// devices cgroup (its v1 controller; under cgroup2 it wants a BPF device
// filter instead), so container mode on a kernel without it is a skip with
// the reason, not a failure.
func (o *orchestrator) unmetByKernel(release string) string {
	if o.plan.Mode != protocol.ModeContainer {
		return ""
	}
	proc := o.img.layout.Proc
	if proc == "" {
		proc = guestLayout.Proc
	}
	if hasController(filepath.Join(proc, "cgroups"), "devices") {
		return ""
	}
	return fmt.Sprintf("kernel %s lacks the devices cgroup (CONFIG_CGROUP_DEVICE), without which runc starts no container; kernel/config/virt.config asks for it", release)
}

// hasTools says whether the plan attaches the tools drive.
func (o *orchestrator) hasTools() bool {
	return slices.ContainsFunc(o.plan.Drives, func(d protocol.Drive) bool { return d.Image == protocol.ToolsImage })
}

// useGuestLayout mounts with the system and lays out in the guest's
// directories, unless a test set the images up otherwise.
func (o *orchestrator) useGuestLayout() {
	if o.img.mnt == nil {
		o.img.mnt, o.img.layout, o.img.runc = sysMounter{}, guestLayout, guestRunc
	}
}

// readyTools copies the tools drive's programs (copyTools) in a guest that
// waits for its plan, before its hello, and detaches the drive again: the
// copies are then in the snapshot, and a restored scenario does not pay
// the copy (half a second under TCG). Without a tools drive it does
// nothing.
func (o *orchestrator) readyTools(ctx context.Context) error {
	if !o.hasTools() {
		return nil
	}
	o.useGuestLayout()
	var td teardown
	err := o.attachTools(ctx, &td)
	if terr := td.run(); err == nil && terr != nil {
		err = fmt.Errorf("detach the tools drive: %w", terr)
	}
	o.img.toolsReady = err == nil
	return err
}

// attachTools mounts the tools drive and copies its programs (copyTools).
func (o *orchestrator) attachTools(ctx context.Context, td *teardown) error {
	if err := o.mountImage(ctx, protocol.ToolsImage, td); err != nil {
		return err
	}
	return o.copyTools()
}

// mountImage mounts the image called name from the drive the plan says
// holds it.
func (o *orchestrator) mountImage(ctx context.Context, name string, td *teardown) error {
	i := slices.IndexFunc(o.plan.Drives, func(d protocol.Drive) bool { return d.Image == name })
	if i < 0 {
		return fmt.Errorf("the plan names image %q but attaches no drive holding it", name)
	}
	d := o.plan.Drives[i]
	if err := waitForDevice(ctx, d.Device, deviceWait); err != nil {
		return err
	}
	start := time.Now()
	if err := mountAll(o.img.mnt, o.img.layout.imageMounts(d), td); err != nil {
		return fmt.Errorf("attach image %s: %w", name, err)
	}
	o.logf("image %s: %s mounted read-only in %s", name, d.Device, time.Since(start).Round(time.Millisecond))
	return nil
}

// copyTools copies the tools drive's programs to the guest's root file
// system (layout.Tools), where the initramfs's /bin links point. They run
// from there, not from the drive: TSEM gives an executable on a real file
// system a content digest, computed at its exec, and under TCG hashing
// runc's 9 MB at each of its execs made a TSEM container scenario 7 s
// slower (a copy takes a fraction of a second); a file of the initramfs
// root has no digest, as when runc was packed in the initramfs. runc goes
// to a sealed memfd instead, and its path there is linked from
// layout.Tools (see sealedExecutable).
func (o *orchestrator) copyTools() error {
	start := time.Now()
	src, dst := o.img.layout.image(protocol.ToolsImage), o.img.layout.Tools
	entries, err := os.ReadDir(src)
	if err != nil {
		return fmt.Errorf("tools drive: %w", err)
	}
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return fmt.Errorf("tools drive: %w", err)
	}
	var names []string
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		from, to := filepath.Join(src, e.Name()), filepath.Join(dst, e.Name())
		names = append(names, e.Name())
		if e.Name() == "runc" {
			// runc runs from a sealed memfd (see sealedExecutable);
			// the initramfs's /bin/runc leads there too.
			f, err := sealedExecutable(from)
			if err != nil {
				return fmt.Errorf("tools drive: %w", err)
			}
			o.img.sealedRunc, o.img.runc = f, sealedPath(f)
			if err := os.Symlink(o.img.runc, to); err != nil {
				return fmt.Errorf("tools drive: %w", err)
			}
			continue
		}
		if err := fileutil.Copy(from, to); err != nil {
			return fmt.Errorf("tools drive: %w", err)
		}
		if err := os.Chmod(to, 0o755); err != nil {
			return fmt.Errorf("tools drive: %w", err)
		}
	}
	if len(names) == 0 {
		return fmt.Errorf("tools drive: %s holds no programs (was the drive mounted?)", src)
	}
	o.logf("tools %s copied to %s in %s", strings.Join(names, ", "), dst, time.Since(start).Round(time.Millisecond))
	return nil
}

// enterPhase gives a phase a fresh root when it runs in a workload image:
// a writable overlay on a tmpfs of its own over the read-only image, and
// either the mounts chrooted processes need (process mode) or a container
// bundle (container mode). The teardown it returns undoes all of it, and
// must run even after an error.
func (o *orchestrator) enterPhase(ph protocol.Phase) (*teardown, error) {
	td := &teardown{}
	image := o.phaseImage(ph)
	if image == "" {
		return td, nil
	}
	l := o.img.layout
	if err := mountAll(o.img.mnt, l.overlayMounts(image), td); err != nil {
		return td, fmt.Errorf("phase root: %w", err)
	}
	w := &workload{}
	if o.plan.Mode == protocol.ModeContainer {
		c, err := o.bundle(ph, image, td)
		if err != nil {
			return td, err
		}
		w.Container = c
	} else {
		if err := mountAll(o.img.mnt, l.processMounts(), td); err != nil {
			return td, fmt.Errorf("phase root: %w", err)
		}
		td.push("kill what still runs in "+l.Root, func() error { return killRooted(l.Proc, l.Root) })
		w.Root = l.Root
	}
	o.img.work = w
	td.push("leave the phase's root", func() error {
		o.img.work = nil
		return nil
	})
	return td, nil
}

// cleanup undoes a phase's environment and reports what could not be
// undone: the run goes on (the next phase mounts afresh), but a leak is
// the harness's error to show.
func (o *orchestrator) cleanup(phase string, td *teardown) {
	if err := td.run(); err != nil {
		_ = o.out.send(protocol.Message{Kind: protocol.KindError, Error: fmt.Sprintf("cleanup after phase %s: %v", phase, err)})
	}
}

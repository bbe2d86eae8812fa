package lab

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os/exec"
	"slices"
	"strings"
	"sync"

	"github.com/tsemlab/tsemlab/harness/rootfs"
	"github.com/tsemlab/tsemlab/harness/scenario"
	"github.com/tsemlab/tsemlab/protocol"
)

// RootFSOptions say where the workload image definitions are and how to
// build them.
type RootFSOptions struct {
	// Dir holds the definitions (images/ of the tsemlab checkout).
	Dir      string
	CacheDir string
	// Progress gets one line per build phase (a terminal), or nil.
	Progress io.Writer
	Log      *slog.Logger
	// LookPath finds host programs; nil means exec.LookPath.
	LookPath func(string) (string, error)
	// Build builds or finds one image; nil means a rootfs.Builder's.
	Build func(context.Context, *rootfs.Definition) (*rootfs.Image, error)
}

// ErrNoRunc is returned when a container scenario is to run but the host
// has no runc to pack into the guest.
var ErrNoRunc = errors.New("container-mode scenarios run Debian's runc, which the guest image takes from this host: install it (apt-get install runc)")

// RootFS builds, or finds cached, every workload image the scenarios name,
// before anything boots, and returns them by name. A name with no
// definition, or a bad definition, is the user's error; a failed build or
// a missing runc is the environment's (ErrInfra).
func RootFS(ctx context.Context, o RootFSOptions, scenarios []*scenario.Scenario) (rootfs.Images, error) {
	b, err := StartRootFS(ctx, o, scenarios)
	if err != nil || b == nil {
		return nil, err
	}
	defer b.Close()
	out := rootfs.Images{}
	for _, name := range b.order {
		img, err := b.Image(ctx, name)
		if err != nil {
			return nil, infra(err)
		}
		out[name] = img
	}
	return out, nil
}

// StartRootFS checks that every workload image the scenarios name has a
// definition (and that the host has runc when one runs a container) and
// starts building the images, or finding them cached, in the background,
// one at a time in the order the scenarios first name them: a run boots
// and runs the scenarios that need no image meanwhile, and each scenario
// waits only for its own (Builds.Image). Nil when no scenario names one.
// Errors are the user's (no definition) or ErrInfra (no runc).
func StartRootFS(ctx context.Context, o RootFSOptions, scenarios []*scenario.Scenario) (*Builds, error) {
	var names []string
	container := false
	for _, s := range scenarios {
		for _, name := range s.Images() {
			if !slices.Contains(names, name) {
				names = append(names, name)
			}
		}
		container = container || s.Mode == protocol.ModeContainer
	}
	if len(names) == 0 {
		return nil, nil
	}
	defs, err := rootfs.Select(o.Dir, names)
	if err != nil {
		return nil, fmt.Errorf("workload images: %w", err)
	}
	lookPath, build := o.LookPath, o.Build
	if lookPath == nil {
		lookPath = exec.LookPath
	}
	if container {
		if _, err := lookPath("runc"); err != nil {
			return nil, infra(ErrNoRunc)
		}
	}
	if build == nil {
		build = rootfs.Builder{CacheDir: o.CacheDir, Progress: o.Progress, Log: o.Log}.Build
	}
	log := o.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(ctx)
	b := &Builds{builds: map[string]*imageBuild{}, cancel: cancel}
	for _, def := range defs {
		bctx, bcancel := context.WithCancelCause(ctx)
		b.builds[def.Name] = &imageBuild{def: def, ctx: bctx, cancel: bcancel, done: make(chan struct{})}
		b.order = append(b.order, def.Name)
	}
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		for _, name := range b.order {
			ib := b.builds[name]
			if ib.ctx.Err() == nil {
				ib.img, ib.err = build(ib.ctx, ib.def)
			}
			switch {
			case ib.ctx.Err() != nil && ib.img == nil:
				ib.err = fmt.Errorf("workload image %s: not built: %w", name, context.Cause(ib.ctx))
			case ib.err != nil:
				ib.err = workloadImageError(name, ib.err)
				log.Error("workload image not built", "image", name, "err", ib.err)
			default:
				log.Info("workload image", "image", ib.img.Name, "suite", ib.img.Release.Suite, "debian", ib.img.DebianVersion, "cached", ib.img.Cached, "path", ib.img.Path)
			}
			ib.cancel(nil)
			close(ib.done)
		}
	}()
	return b, nil
}

// workloadImageError names the image a build error is about, once: the
// builder's own errors mostly start with "image NAME: " already.
func workloadImageError(name string, err error) error {
	if strings.HasPrefix(err.Error(), "image "+name+": ") {
		return fmt.Errorf("workload %w", err)
	}
	return fmt.Errorf("workload image %s: %w", name, err)
}

// errNotNeeded cancels the build of an image no scenario of the run needs
// any more.
var errNotNeeded = errors.New("no scenario left in this run needs it")

// Builds are the workload images of a run being built in the background
// (StartRootFS).
type Builds struct {
	order  []string
	builds map[string]*imageBuild
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

type imageBuild struct {
	def    *rootfs.Definition
	ctx    context.Context
	cancel context.CancelCauseFunc
	done   chan struct{}
	img    *rootfs.Image
	err    error
}

// Image returns the named image, waiting while it is built; the error
// names the image and says why it is missing.
func (b *Builds) Image(ctx context.Context, name string) (*rootfs.Image, error) {
	ib := b.builds[name]
	if ib == nil {
		return nil, fmt.Errorf("workload image %q is not one this run builds (no scenario given to StartRootFS names it)", name)
	}
	select {
	case <-ib.done:
		return ib.img, ib.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Ready says whether Image returns at once for every one of names.
func (b *Builds) Ready(names ...string) bool {
	for _, name := range names {
		if ib := b.builds[name]; ib != nil {
			select {
			case <-ib.done:
			default:
				return false
			}
		}
	}
	return true
}

// Keep cancels the builds of every image not in names that have not
// finished: the scenarios that needed them are known to be skipped.
// It returns the names of the builds it cancelled.
func (b *Builds) Keep(names []string) []string {
	var dropped []string
	for _, name := range b.order {
		ib := b.builds[name]
		if slices.Contains(names, name) || b.Ready(name) {
			continue
		}
		ib.cancel(errNotNeeded)
		dropped = append(dropped, name)
	}
	return dropped
}

// Close cancels the builds not finished yet and waits for them to stop
// (a build cleans up after itself).
func (b *Builds) Close() {
	if b == nil {
		return
	}
	b.cancel()
	b.wg.Wait()
}

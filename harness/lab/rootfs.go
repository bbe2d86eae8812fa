package lab

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os/exec"
	"slices"

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

func phaseImages(s *scenario.Scenario) []string {
	var out []string
	for _, ph := range s.Phases {
		out = append(out, ph.Image)
	}
	return out
}

// RootFS builds, or finds cached, every workload image the scenarios name,
// before anything boots, and returns them by name. A name with no
// definition, or a bad definition, is the user's error; a failed build or
// a missing runc is the environment's (ErrInfra).
func RootFS(ctx context.Context, o RootFSOptions, scenarios []*scenario.Scenario) (map[string]*rootfs.Image, error) {
	var names []string
	container := false
	for _, s := range scenarios {
		for _, name := range append([]string{s.Image}, phaseImages(s)...) {
			if name != "" && !slices.Contains(names, name) {
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
	out := map[string]*rootfs.Image{}
	for _, def := range defs {
		img, err := build(ctx, def)
		if err != nil {
			return nil, infra(fmt.Errorf("workload image %s: %w", def.Name, err))
		}
		if o.Log != nil {
			o.Log.Info("workload image", "image", img.Name, "suite", img.Release.Suite, "debian", img.DebianVersion, "cached", img.Cached, "path", img.Path)
		}
		out[def.Name] = img
	}
	return out, nil
}

package runner

import (
	"fmt"

	"github.com/tsemlab/tsemlab/harness/boot"
	"github.com/tsemlab/tsemlab/harness/result"
	"github.com/tsemlab/tsemlab/protocol"
)

// drives attaches the scenario's workload image, when it names one: the
// read-only drive to boot with, its guest device in the plan, and which
// build (suite, Debian version, hash) in the result.
func (r *scenarioRun) drives(plan *protocol.Plan) ([]boot.Drive, error) {
	if r.s.Image == "" {
		return nil, nil
	}
	img := r.c.RootFS[r.s.Image]
	if img == nil {
		return nil, fmt.Errorf("workload image %q was not built before the run (lab.RootFS)", r.s.Image)
	}
	drives := []boot.Drive{{Image: img.Name, Path: img.Path, FSType: img.Format}}
	plan.Drives = boot.GuestDrives(drives)
	r.res.Env.RootFS = &result.RootFS{
		Name: img.Name, Path: img.Path, SHA256: img.SHA256,
		Suite: img.Release.Suite, RequestedSuite: img.Release.Requested, DebianVersion: img.DebianVersion,
	}
	return drives, nil
}

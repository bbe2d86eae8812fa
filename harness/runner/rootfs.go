package runner

import (
	"context"
	"fmt"

	"github.com/tsemlab/tsemlab/harness/boot"
	"github.com/tsemlab/tsemlab/harness/result"
	"github.com/tsemlab/tsemlab/protocol"
)

// drives attaches the workload images the plan's phases run in, and the
// tools drive when the plan runs runc or apparmor_parser: the read-only
// drives to boot with, in the order the phases first name them;
// the guest device of each in the plan; and which build (suite, Debian
// version, hash) in the result.
func (r *scenarioRun) drives(ctx context.Context, plan *protocol.Plan) ([]boot.Drive, error) {
	var drives []boot.Drive
	for _, name := range plan.Images() {
		if r.c.RootFS == nil {
			return nil, fmt.Errorf("workload image %q: this run has no workload images", name)
		}
		img, err := r.c.RootFS.Image(ctx, name)
		if err != nil {
			return nil, err
		}
		drives = append(drives, boot.Drive{Image: img.Name, Path: img.Path, FSType: img.Format})
		r.res.Env.RootFS = append(r.res.Env.RootFS, result.RootFS{
			Name: img.Name, Path: img.Path, SHA256: img.SHA256,
			Suite: img.Release.Suite, RequestedSuite: img.Release.Requested, DebianVersion: img.DebianVersion,
		})
	}
	if plan.NeedsTools() && r.c.Image != nil && r.c.Image.Tools != "" {
		// Last, so that a workload image is /dev/vda whether or not the
		// plan needs the tools.
		drives = append(drives, boot.Drive{Image: protocol.ToolsImage, Path: r.c.Image.Tools, FSType: "erofs"})
	}
	plan.Drives = boot.GuestDrives(drives)
	return drives, nil
}

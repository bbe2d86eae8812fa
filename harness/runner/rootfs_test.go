package runner

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tsemlab/tsemlab/harness/boot"
	"github.com/tsemlab/tsemlab/harness/image"
	"github.com/tsemlab/tsemlab/harness/result"
	"github.com/tsemlab/tsemlab/harness/rootfs"
	"github.com/tsemlab/tsemlab/harness/scenario"
	"github.com/tsemlab/tsemlab/protocol"
)

func builtImage(name string) *rootfs.Image {
	return &rootfs.Image{
		Name: name, Path: "/cache/images/" + name + "-0123.erofs", Format: "erofs", SHA256: "sum-" + name,
		Release: rootfs.Release{Suite: "trixie", Requested: "buster"}, DebianVersion: "13.8",
	}
}

func TestDrives_AttachThePhasesImagesAndRecordTheirSuites(t *testing.T) {
	r := &scenarioRun{
		c:   Config{RootFS: rootfs.Images{"httpd": builtImage("httpd"), "debian-minimal": builtImage("debian-minimal")}},
		s:   &scenario.Scenario{Name: "s", Image: "debian-minimal"},
		res: &result.Scenario{},
	}
	plan := protocol.Plan{Image: "debian-minimal", Phases: []protocol.Phase{{Name: "a", Image: "debian-minimal"}, {Name: "b", Image: "httpd"}, {Name: "c", Image: "debian-minimal"}}}
	drives, err := r.drives(context.Background(), &plan)
	require.NoError(t, err)
	assert.Equal(t, []boot.Drive{
		{Image: "debian-minimal", Path: "/cache/images/debian-minimal-0123.erofs", FSType: "erofs"},
		{Image: "httpd", Path: "/cache/images/httpd-0123.erofs", FSType: "erofs"},
	}, drives)
	assert.Equal(t, []protocol.Drive{
		{Image: "debian-minimal", Device: "/dev/vda", FSType: "erofs"},
		{Image: "httpd", Device: "/dev/vdb", FSType: "erofs"},
	}, plan.Drives)
	require.Len(t, r.res.Env.RootFS, 2)
	assert.Equal(t, result.RootFS{Name: "httpd", Path: "/cache/images/httpd-0123.erofs", SHA256: "sum-httpd", Suite: "trixie", RequestedSuite: "buster", DebianVersion: "13.8"}, r.res.Env.RootFS[1])
}

func TestDrives_NoImageNoDrive(t *testing.T) {
	r := &scenarioRun{s: &scenario.Scenario{Name: "s"}, res: &result.Scenario{}}
	plan := protocol.Plan{Phases: []protocol.Phase{{Name: "p"}}}
	drives, err := r.drives(context.Background(), &plan)
	require.NoError(t, err)
	assert.Nil(t, drives)
	assert.Nil(t, plan.Drives)
	assert.Nil(t, r.res.Env.RootFS)
}

func TestDrives_AnImageNotBuiltIsAnError(t *testing.T) {
	r := &scenarioRun{s: &scenario.Scenario{Name: "s", Image: "httpd"}, res: &result.Scenario{}}
	_, err := r.drives(context.Background(), &protocol.Plan{Phases: []protocol.Phase{{Name: "p", Image: "httpd"}}})
	require.Error(t, err)
	assert.Contains(t, err.Error(), `workload image "httpd": this run has no workload images`)

	r.c.RootFS = rootfs.Images{"debian-minimal": builtImage("debian-minimal")}
	_, err = r.drives(context.Background(), &protocol.Plan{Phases: []protocol.Phase{{Name: "p", Image: "httpd"}}})
	require.Error(t, err)
	assert.Contains(t, err.Error(), `workload image "httpd" was not built before the run`)
}

// TestDrives_ToolsDriveOnlyWhenThePlanRunsItsPrograms: runc and
// apparmor_parser travel on the tools drive, attached (last, so that a
// workload image stays /dev/vda) only to plans that run them.
func TestDrives_ToolsDriveOnlyWhenThePlanRunsItsPrograms(t *testing.T) {
	img := &image.Image{Path: "/cache/initramfs/k.cpio", Tools: "/cache/initramfs/k.tools.erofs"}
	tools := boot.Drive{Image: protocol.ToolsImage, Path: img.Tools, FSType: "erofs"}
	tests := []struct {
		name string
		plan protocol.Plan
		want []boot.Drive
	}{
		{"container mode", protocol.Plan{Mode: protocol.ModeContainer, Image: "httpd", Phases: []protocol.Phase{{Name: "p", Image: "httpd"}}},
			[]boot.Drive{{Image: "httpd", Path: "/cache/images/httpd-0123.erofs", FSType: "erofs"}, tools}},
		{"an AppArmor lab", protocol.Plan{Phases: []protocol.Phase{{Name: "p", AppArmor: &protocol.AppArmor{File: "apparmor/x"}}}}, []boot.Drive{tools}},
		{"process mode", protocol.Plan{Mode: protocol.ModeProcess, Image: "httpd", Phases: []protocol.Phase{{Name: "p", Image: "httpd"}}},
			[]boot.Drive{{Image: "httpd", Path: "/cache/images/httpd-0123.erofs", FSType: "erofs"}}},
		{"plain steps", protocol.Plan{Phases: []protocol.Phase{{Name: "p"}}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &scenarioRun{c: Config{Image: img, RootFS: rootfs.Images{"httpd": builtImage("httpd")}}, s: &scenario.Scenario{Name: "s"}, res: &result.Scenario{}}
			drives, err := r.drives(context.Background(), &tt.plan)
			require.NoError(t, err)
			assert.Equal(t, tt.want, drives)
			assert.Equal(t, boot.GuestDrives(tt.want), tt.plan.Drives)
		})
	}
	// An image built without mkfs.erofs keeps the programs: no drive.
	r := &scenarioRun{c: Config{Image: &image.Image{Path: "/k.cpio"}}, s: &scenario.Scenario{Name: "s"}, res: &result.Scenario{}}
	drives, err := r.drives(context.Background(), &protocol.Plan{Mode: protocol.ModeContainer})
	require.NoError(t, err)
	assert.Nil(t, drives)
}

package runner

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tsemlab/tsemlab/harness/boot"
	"github.com/tsemlab/tsemlab/harness/result"
	"github.com/tsemlab/tsemlab/harness/rootfs"
	"github.com/tsemlab/tsemlab/harness/scenario"
	"github.com/tsemlab/tsemlab/protocol"
)

func TestDrives_AttachTheScenarioImageAndRecordItsSuite(t *testing.T) {
	img := &rootfs.Image{
		Name: "httpd", Path: "/cache/images/httpd-eb2bf6c4bba86aba.erofs", Format: "erofs", SHA256: "0194",
		Release: rootfs.Release{Suite: "trixie", Requested: "buster"}, DebianVersion: "13.8",
	}
	r := &scenarioRun{c: Config{RootFS: map[string]*rootfs.Image{"httpd": img}}, s: &scenario.Scenario{Name: "s", Image: "httpd"}, res: &result.Scenario{}}
	plan := protocol.Plan{Image: "httpd"}
	drives, err := r.drives(&plan)
	require.NoError(t, err)
	assert.Equal(t, []boot.Drive{{Image: "httpd", Path: img.Path, FSType: "erofs"}}, drives)
	assert.Equal(t, []protocol.Drive{{Image: "httpd", Device: "/dev/vda", FSType: "erofs"}}, plan.Drives)
	assert.Equal(t, &result.RootFS{Name: "httpd", Path: img.Path, SHA256: "0194", Suite: "trixie", RequestedSuite: "buster", DebianVersion: "13.8"}, r.res.Env.RootFS)
}

func TestDrives_NoImageNoDrive(t *testing.T) {
	r := &scenarioRun{s: &scenario.Scenario{Name: "s"}, res: &result.Scenario{}}
	plan := protocol.Plan{}
	drives, err := r.drives(&plan)
	require.NoError(t, err)
	assert.Nil(t, drives)
	assert.Nil(t, plan.Drives)
	assert.Nil(t, r.res.Env.RootFS)
}

func TestDrives_AnImageNotBuiltIsAnError(t *testing.T) {
	r := &scenarioRun{s: &scenario.Scenario{Name: "s", Image: "httpd"}, res: &result.Scenario{}}
	_, err := r.drives(&protocol.Plan{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), `workload image "httpd" was not built before the run`)
}

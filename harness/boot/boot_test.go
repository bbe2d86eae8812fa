package boot

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tsemlab/tsemlab/protocol"
)

func TestSpec_DrivesAreReadOnlyVirtioDisksTheGuestFindsInThePlan(t *testing.T) {
	s := Spec{Kernel: "/k/bzImage", Dir: "/tmp/run", Accel: "tcg", Drives: []Drive{
		{Image: "debian-minimal", Path: "/cache/images/debian-minimal-5389c70134cca01a.erofs", FSType: "erofs"},
		{Image: "httpd", Path: "/cache/images/httpd-eb2bf6c4bba86aba.erofs", FSType: "erofs"},
	}}
	c, err := s.Config("/tmp/run/initrd.cpio")
	require.NoError(t, err)
	cmdline := strings.Join(c.Cmdline(), " ")
	assert.Contains(t, cmdline, "-drive file=/cache/images/debian-minimal-5389c70134cca01a.erofs,format=raw,if=virtio,readonly=on -drive file=/cache/images/httpd-eb2bf6c4bba86aba.erofs,format=raw,if=virtio,readonly=on")
	assert.Equal(t, []protocol.Drive{
		{Image: "debian-minimal", Device: "/dev/vda", FSType: "erofs"},
		{Image: "httpd", Device: "/dev/vdb", FSType: "erofs"},
	}, GuestDrives(s.Drives))
	assert.Nil(t, GuestDrives(nil), "no drives, nothing in the plan")

	c, err = Spec{Kernel: "/k/bzImage", Dir: "/tmp/run", Accel: "tcg"}.Config("/tmp/run/initrd.cpio")
	require.NoError(t, err)
	assert.NotContains(t, c.Cmdline(), "-drive")
}

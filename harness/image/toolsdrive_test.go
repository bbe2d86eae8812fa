package image

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/u-root/mkuimage/cpio"

	"github.com/tsemlab/tsemlab/protocol"
)

func TestDriveFiles_SplitsTheHostPrograms(t *testing.T) {
	hosts := map[string]string{"bash": "/usr/bin/bash", "runc": "/usr/sbin/runc", "apparmor_parser": "/usr/sbin/apparmor_parser"}
	files, tools := driveFiles(hosts, true)
	assert.Equal(t, []string{"/usr/bin/bash:bin/bash"}, files)
	assert.Equal(t, map[string]string{"runc": "/usr/sbin/runc", "apparmor_parser": "/usr/sbin/apparmor_parser"}, tools)

	files, tools = driveFiles(hosts, false)
	assert.Equal(t, []string{"/usr/sbin/apparmor_parser:bin/apparmor_parser", "/usr/bin/bash:bin/bash", "/usr/sbin/runc:bin/runc"}, files)
	assert.Empty(t, tools)
}

func TestToolLinks_PointWhereTheGuestCopiesTheTools(t *testing.T) {
	recs := toolLinks(map[string]string{"runc": "/usr/sbin/runc", "apparmor_parser": "/x"})
	require.Len(t, recs, 2)
	for i, name := range []string{"apparmor_parser", "runc"} {
		assert.Equal(t, "bin/"+name, recs[i].Name)
		assert.Equal(t, uint64(cpio.S_IFLNK), recs[i].Mode&cpio.S_IFMT)
		assert.Equal(t, protocol.ToolsDir+"/"+name, readLink(t, recs[i]))
	}
}

func readLink(t *testing.T, r cpio.Record) string {
	t.Helper()
	b := make([]byte, r.FileSize)
	_, err := r.ReadAt(b, 0)
	require.NoError(t, err)
	return string(b)
}

func TestToolsPath(t *testing.T) {
	assert.Equal(t, "/c/initramfs/0123.tools.erofs", toolsPath("/c/initramfs/0123.cpio"))
}

// TestBuildTools_PacksTheProgramsReproducibly builds a real erofs image
// (mkfs.erofs is in the CI install list): the same programs and key give
// the same bytes, and the image holds each program executable.
func TestBuildTools_PacksTheProgramsReproducibly(t *testing.T) {
	if _, err := exec.LookPath("mkfs.erofs"); err != nil {
		t.Skip("needs mkfs.erofs (apt-get install erofs-utils)")
	}
	prog := filepath.Join(t.TempDir(), "prog")
	require.NoError(t, os.WriteFile(prog, []byte("#!/bin/sh\necho tool\n"), 0o700))
	tools := map[string]string{"runc": prog}
	var images [][]byte
	for i := 0; i < 2; i++ {
		out := filepath.Join(t.TempDir(), "tools.erofs")
		require.NoError(t, buildTools(context.Background(), tools, "0123456789abcdef0123456789abcdef", t.TempDir(), out))
		b, err := os.ReadFile(out)
		require.NoError(t, err)
		images = append(images, b)
	}
	assert.Equal(t, images[0], images[1])
	if _, err := exec.LookPath("fsck.erofs"); err == nil {
		dir := t.TempDir()
		img := filepath.Join(dir, "tools.erofs")
		require.NoError(t, os.WriteFile(img, images[0], 0o644))
		out, err := exec.Command("fsck.erofs", "--extract="+filepath.Join(dir, "x"), img).CombinedOutput()
		require.NoError(t, err, string(out))
		st, err := os.Stat(filepath.Join(dir, "x", "runc"))
		require.NoError(t, err)
		assert.Equal(t, os.FileMode(0o755), st.Mode().Perm())
	}
}

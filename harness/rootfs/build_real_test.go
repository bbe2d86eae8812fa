package rootfs

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// realCacheDir is tsemlab's cache (as harness/lab.CacheDir, which this
// package cannot import), so that a developer's second test run reuses
// the image and the guest side finds it.
func realCacheDir(t *testing.T) string {
	if d := os.Getenv("TSEMLAB_CACHE"); d != "" {
		return d
	}
	d, err := os.UserCacheDir()
	require.NoError(t, err)
	return filepath.Join(d, "tsemlab")
}

// requireBuildHost skips, or fails under CI=true, when this host cannot
// build images.
func requireBuildHost(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("builds a Debian image with mmdebstrap (minutes, needs the Debian mirror); run without -short")
	}
	err := checkHost()
	if err == nil {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("CI must be able to build images: %v (.ci/run installs mmdebstrap and erofs-utils)", err)
	}
	t.Skipf("cannot build images here: %v", err)
}

func TestBuild_DebianMinimalForReal(t *testing.T) {
	requireBuildHost(t)
	def, err := Load(filepath.Join(shipped, "debian-minimal.yaml"))
	require.NoError(t, err)
	b := Builder{CacheDir: realCacheDir(t)}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()

	start := time.Now()
	img, err := b.Build(ctx, def)
	require.NoError(t, err)
	t.Logf("first build: %v (cached before: %v), %s, %d bytes, suite %s (requested %s), Debian %s",
		time.Since(start).Round(100*time.Millisecond), img.Cached, img.Path, img.Size, img.Release.Suite, img.Release.Requested, img.DebianVersion)
	require.FileExists(t, img.Path)
	assert.NotEmpty(t, img.Release.Suite)
	assert.NotEmpty(t, img.DebianVersion)
	assert.NotEmpty(t, img.Packages)

	// The image is an erofs filesystem holding what the definition asks for.
	out := filepath.Join(t.TempDir(), "root")
	fsck, err := exec.CommandContext(ctx, "fsck.erofs", "--extract="+out, img.Path).CombinedOutput()
	require.NoError(t, err, "fsck.erofs: %s", fsck)
	st, err := os.Stat(filepath.Join(out, "usr/bin/bash"))
	require.NoError(t, err)
	assert.True(t, st.Mode().IsRegular())
	passwd, err := os.ReadFile(filepath.Join(out, "etc/passwd"))
	require.NoError(t, err)
	assert.Contains(t, string(passwd), "rocinante:x:1000:1000::/home/rocinante:/bin/bash")
	assert.NoFileExists(t, filepath.Join(out, "root/.bash_history"))
	home, err := os.Stat(filepath.Join(out, "home/rocinante"))
	require.NoError(t, err)
	assert.Equal(t, uint32(1000), home.Sys().(*syscall.Stat_t).Uid, "rocinante owns its home")
	version, err := os.ReadFile(filepath.Join(out, "etc/debian_version"))
	require.NoError(t, err)
	assert.Equal(t, img.DebianVersion+"\n", string(version))

	start = time.Now()
	again, err := b.Build(ctx, def)
	require.NoError(t, err)
	t.Logf("second build: %v", time.Since(start))
	assert.True(t, again.Cached)
	assert.Equal(t, img.Path, again.Path)
	assert.Equal(t, img.SHA256, again.SHA256)
}

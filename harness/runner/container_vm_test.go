package runner

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tsemlab/tsemlab/harness/image"
	"github.com/tsemlab/tsemlab/harness/lab"
	"github.com/tsemlab/tsemlab/harness/result"
	"github.com/tsemlab/tsemlab/harness/rootfs"
	"github.com/tsemlab/tsemlab/harness/scenario"
	"github.com/tsemlab/tsemlab/internal/vmtest"
	"github.com/tsemlab/tsemlab/protocol"
)

// These tests build the workload images of images/ (minutes each, once:
// later runs find them cached) and boot real guests with them.

var (
	builtImages   = map[string]*rootfs.Image{}
	builtImagesMu sync.Mutex
)

// requireImageHost skips, or fails under CI=true, when this host cannot
// build workload images or run container scenarios.
func requireImageHost(t testing.TB, container bool) {
	t.Helper()
	var missing []string
	if os.Geteuid() != 0 {
		missing = append(missing, "root (mmdebstrap's root mode)")
	}
	tools := []string{"mmdebstrap", "mkfs.erofs"}
	if container {
		tools = append(tools, "runc")
	}
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			missing = append(missing, tool)
		}
	}
	if len(missing) == 0 {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("CI must build workload images and run containers, but lacks %s (.ci/run installs mmdebstrap, erofs-utils and runc)", strings.Join(missing, ", "))
	}
	t.Skipf("workload images need %s, which this host lacks (apt-get install mmdebstrap erofs-utils runc, as root)", strings.Join(missing, ", "))
}

// workloadImages builds (or finds cached) the images the scenarios name,
// once per test binary; nil when they name none.
func workloadImages(t testing.TB, scenarios []*scenario.Scenario) rootfs.Images {
	t.Helper()
	named, container := false, false
	for _, s := range scenarios {
		named = named || s.Image != ""
		container = container || s.Mode == protocol.ModeContainer
	}
	if !named {
		return nil
	}
	requireImageHost(t, container)
	builtImagesMu.Lock()
	defer builtImagesMu.Unlock()
	src, err := image.FindSource(".")
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	build := func(ctx context.Context, def *rootfs.Definition) (*rootfs.Image, error) {
		if img := builtImages[def.Name]; img != nil {
			return img, nil
		}
		start := time.Now()
		img, err := rootfs.Builder{CacheDir: cacheDir(t)}.Build(ctx, def)
		if err == nil {
			builtImages[def.Name] = img
			t.Logf("image %s: %s (cached: %v) in %s, suite %s, Debian %s", def.Name, img.Path, img.Cached, time.Since(start).Round(100*time.Millisecond), img.Release.Suite, img.DebianVersion)
		}
		return img, err
	}
	imgs, err := lab.RootFS(ctx, lab.RootFSOptions{Dir: filepath.Join(src, "images"), Build: build}, scenarios)
	require.NoError(t, err)
	return imgs
}

func fileSHA256(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	h := sha256.New()
	_, err = io.Copy(h, f)
	require.NoError(t, err)
	return hex.EncodeToString(h.Sum(nil))
}

// TestRun_StockKernel_ContainerSmoke runs container-smoke (runc containers
// of debian-minimal and httpd, a GET over the guest's loopback) and
// process-image-smoke (steps chrooted into the image) end to end on the
// stock kernel, and checks that nothing the runs wrote reached the cached
// images.
func TestRun_StockKernel_ContainerSmoke(t *testing.T) {
	l := prepare(t, "")
	all, err := scenario.LoadAll(t.Context(), []string{"../../scenarios/container-smoke.yaml", "../../scenarios/process-image-smoke.yaml"})
	require.NoError(t, err)
	imgs := workloadImages(t, all)
	require.Len(t, imgs, 2)
	before := map[string]string{}
	for name, img := range imgs {
		before[name] = fileSHA256(t, img.Path)
		assert.Equal(t, img.SHA256, before[name], "%s is the image its metadata describes", name)
	}
	c := labConfig(l, vmtest.ResultsDir(t))
	c.RootFS = imgs
	run := Run(context.Background(), c, all)
	require.Len(t, run.Scenarios, 2)
	for _, sc := range run.Scenarios {
		require.Equal(t, result.Pass, sc.Status, "%s: %s\n%s", sc.Name, sc.Reason, sc.ConsoleTail)
		t.Logf("%s: %s total, hello at %s, first step at %s", sc.Name, time.Duration(sc.Duration), time.Duration(sc.BootTime), time.Duration(sc.FirstStep))
	}
	smoke := run.Scenarios[0]
	minimal := imgs["debian-minimal"]
	version := smoke.Phases[0].Steps[1]
	assert.Equal(t, "cat /etc/debian_version", version.Run)
	assert.Equal(t, minimal.DebianVersion+"\n", version.Stdout, "the container runs the image's Debian")
	require.Len(t, smoke.Env.RootFS, 2)
	assert.Equal(t, result.RootFS{
		Name: "debian-minimal", Path: minimal.Path, SHA256: minimal.SHA256,
		Suite: minimal.Release.Suite, RequestedSuite: minimal.Release.Requested, DebianVersion: minimal.DebianVersion,
	}, smoke.Env.RootFS[0], "the result records which image and suite")
	for name, img := range imgs {
		assert.Equal(t, before[name], fileSHA256(t, img.Path), "%s changed on the host: a guest wrote to the cached image", name)
	}
}

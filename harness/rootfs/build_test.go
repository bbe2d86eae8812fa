package rootfs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tsemlab/tsemlab/harness/filelock"
)

// fakeTools stands in for mmdebstrap and mkfs.erofs: mmdebstrap makes a
// root with a dpkg status file, mkfs.erofs writes a small file.
type fakeTools struct {
	calls    []string
	failWith string // mmdebstrap prints this and fails
}

func (f *fakeTools) run(_ context.Context, argv, env []string, log io.Writer) error {
	f.calls = append(f.calls, argv[0])
	switch argv[0] {
	case "mmdebstrap":
		if f.failWith != "" {
			fmt.Fprintln(log, "I: downloading packages with apt...")
			fmt.Fprintln(log, f.failWith)
			return errors.New("exit status 1")
		}
		root := argv[len(argv)-2]
		if err := os.MkdirAll(filepath.Join(root, "var/lib/dpkg"), 0o755); err != nil {
			return err
		}
		status := "Package: procps\nStatus: install ok installed\nVersion: 2:4.0.4-9\n\nPackage: gone\nStatus: deinstall ok config-files\nVersion: 1\n\nPackage: bash\nStatus: install ok installed\nVersion: 5.2.37-2+b5\n"
		if err := os.WriteFile(filepath.Join(root, "var/lib/dpkg/status"), []byte(status), 0o644); err != nil {
			return err
		}
		if !containsPrefix(env, "SOURCE_DATE_EPOCH=") {
			return errors.New("no SOURCE_DATE_EPOCH")
		}
		fmt.Fprintln(log, "I: success in 0.1 seconds")
		return os.WriteFile(filepath.Join(root, "etc_debian_version_placeholder"), nil, 0o644)
	case "mkfs.erofs":
		return os.WriteFile(argv[len(argv)-2], []byte("erofs image of "+argv[len(argv)-1]), 0o644)
	}
	return fmt.Errorf("unexpected command %s", argv[0])
}

func containsPrefix(env []string, p string) bool {
	for _, e := range env {
		if strings.HasPrefix(e, p) {
			return true
		}
	}
	return false
}

func testBuilder(t *testing.T, m *fakeMirror, tools *fakeTools) Builder {
	t.Helper()
	t.Setenv(EnvSuite, "")
	return Builder{CacheDir: t.TempDir(), Mirror: mirrorURL, Fetcher: m, run: tools.run}
}

func TestBuild_SecondBuildIsACacheHitWithoutNetwork(t *testing.T) {
	tools := &fakeTools{}
	m := servingTrixie()
	b := testBuilder(t, m, tools)
	var progress bytes.Buffer
	b.Progress = &progress
	def := mustParse(t, "debian-minimal.yaml", "name: debian-minimal\npackages: [bash, procps]\n")

	img, err := b.Build(context.Background(), def)
	require.NoError(t, err)
	assert.False(t, img.Cached)
	assert.Equal(t, []string{"mmdebstrap", "mkfs.erofs"}, tools.calls)
	assert.Equal(t, filepath.Join(b.Dir(), "debian-minimal-"+img.Key[:16]+".erofs"), img.Path)
	assert.Equal(t, "trixie", img.Release.Suite)
	assert.Equal(t, "buster", img.Release.Requested)
	assert.Contains(t, img.Release.Fallback, "buster is not served")
	assert.Equal(t, img.Release.Date.Unix(), img.SourceDateEpoch)
	assert.Equal(t, []Package{{"bash", "5.2.37-2+b5"}, {"procps", "2:4.0.4-9"}}, img.Packages)
	st, err := os.Stat(img.Path)
	require.NoError(t, err)
	assert.Equal(t, img.Size, st.Size())
	assert.Equal(t, os.FileMode(0o444), st.Mode().Perm())
	assert.FileExists(t, strings.TrimSuffix(img.Path, ".erofs")+".json")
	assert.FileExists(t, img.Log)
	left, _ := filepath.Glob(filepath.Join(b.Dir(), ".build-*"))
	assert.Empty(t, left, "build directories are removed")
	out := progress.String()
	for _, phase := range []string{"resolved suite buster at http://deb.example.org/debian: trixie", "notice: buster is not served", "mmdebstrap trixie minbase + bash procps", "packing erofs", "built " + img.Path} {
		assert.Contains(t, out, phase)
	}

	progress.Reset()
	m.err = errors.New("network is down")
	again, err := b.Build(context.Background(), def)
	require.NoError(t, err)
	assert.True(t, again.Cached)
	assert.Equal(t, img.Key, again.Key)
	assert.Equal(t, img.SHA256, again.SHA256)
	assert.Len(t, tools.calls, 2, "nothing rebuilt")
	assert.Empty(t, progress.String(), "a cache hit prints no phases")
}

func TestBuild_FailedBuildKeepsItsLogAndSaysWhere(t *testing.T) {
	tools := &fakeTools{failWith: "E: Unable to locate package nosuch"}
	b := testBuilder(t, servingTrixie(), tools)
	def := mustParse(t, "broken.yaml", "name: broken\npackages: [nosuch]\n")
	_, err := b.Build(context.Background(), def)
	require.Error(t, err)
	logs, _ := filepath.Glob(filepath.Join(b.Dir(), "broken-*.log"))
	require.Len(t, logs, 1)
	assert.Contains(t, err.Error(), "image broken: mmdebstrap: exit status 1 (full log: "+logs[0]+"; it ends:")
	assert.Contains(t, err.Error(), "E: Unable to locate package nosuch")
	log, _ := os.ReadFile(logs[0])
	assert.Contains(t, string(log), "FAILED: mmdebstrap: exit status 1")
	images, _ := filepath.Glob(filepath.Join(b.Dir(), "broken-*.erofs"))
	metas, _ := filepath.Glob(filepath.Join(b.Dir(), "broken-*.json"))
	left, _ := filepath.Glob(filepath.Join(b.Dir(), ".build-*"))
	assert.Empty(t, images)
	assert.Empty(t, metas)
	assert.Empty(t, left)
}

func TestBuild_AMissAsksTheMirrorBeforeBuilding(t *testing.T) {
	tools := &fakeTools{}
	m := servingTrixie()
	b := testBuilder(t, m, tools)
	first, err := b.Build(context.Background(), mustParse(t, "x.yaml", "name: x\n"))
	require.NoError(t, err)

	// The archive moves on; the remembered answer still says the old one.
	m.files[mirrorURL+"/dists/trixie/InRelease"] = inRelease("stable", "trixie", "13.9", "Sat, 09 Jan 2027 10:00:00 UTC")
	hit, err := b.Build(context.Background(), mustParse(t, "x.yaml", "name: x\n"))
	require.NoError(t, err)
	assert.True(t, hit.Cached, "within ReleaseTTL a hit needs no network")

	changed, err := b.Build(context.Background(), mustParse(t, "x.yaml", "name: x\npackages: [less]\n"))
	require.NoError(t, err)
	assert.False(t, changed.Cached)
	assert.Equal(t, "13.9", changed.Release.Version, "a miss builds from the archive as it is now")
	assert.NotEqual(t, first.Release.InReleaseSHA256, changed.Release.InReleaseSHA256)

	b.Refresh = true
	refreshed, err := b.Build(context.Background(), mustParse(t, "x.yaml", "name: x\n"))
	require.NoError(t, err)
	assert.False(t, refreshed.Cached, "--refresh sees the archive update")
	assert.NotEqual(t, first.Key, refreshed.Key)
}

func TestBuild_NamedSuiteDoesNotFallBack(t *testing.T) {
	tools := &fakeTools{}
	b := testBuilder(t, servingTrixie(), tools)
	b.Suite = "buster"
	_, err := b.Build(context.Background(), mustParse(t, "x.yaml", "name: x\nsuite: trixie\n"))
	require.ErrorIs(t, err, ErrNotServed)
	assert.Contains(t, err.Error(), "image x: suite buster:")
	assert.Empty(t, tools.calls)

	t.Setenv(EnvSuite, "bookworm")
	b.Suite = ""
	img, err := b.Build(context.Background(), mustParse(t, "x.yaml", "name: x\n"))
	require.NoError(t, err)
	assert.Equal(t, "bookworm", img.Release.Suite)
	assert.Empty(t, img.Release.Fallback)
}

func TestBuild_KeepsTheTwoNewestImagesOfADefinition(t *testing.T) {
	tools := &fakeTools{}
	b := testBuilder(t, servingTrixie(), tools)
	for _, pkgs := range []string{"[a1]", "[a2]", "[a3]"} {
		_, err := b.Build(context.Background(), mustParse(t, "x.yaml", "name: x\npackages: "+pkgs+"\n"))
		require.NoError(t, err)
	}
	// Another definition whose name starts with x- is not x's.
	_, err := b.Build(context.Background(), mustParse(t, "x-y.yaml", "name: x-y\n"))
	require.NoError(t, err)
	b.prune("x", "")
	images, _ := filepath.Glob(filepath.Join(b.Dir(), "x-????????????????.erofs"))
	assert.Len(t, images, 2)
	others, _ := filepath.Glob(filepath.Join(b.Dir(), "x-y-*.erofs"))
	assert.Len(t, others, 1)
}

func TestMountPointsUnder_DeepestFirst(t *testing.T) {
	info := `22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
98 22 0:5 / /c/images/.build-x-1/root/dev/pts rw - devpts devpts rw
97 22 0:21 / /c/images/.build-x-1/root/proc rw - proc proc rw
99 22 0:21 / /c/images/.build-x-10/root/proc rw - proc proc rw
100 22 0:22 / /c/images/.build-x-1/root/with\040space rw - tmpfs tmpfs rw
`
	assert.Equal(t, []string{
		"/c/images/.build-x-1/root/with space",
		"/c/images/.build-x-1/root/dev/pts",
		"/c/images/.build-x-1/root/proc",
	}, mountPointsUnder(info, "/c/images/.build-x-1/"))
}

func TestCheckHost_NamesThePackagesToInstall(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	err := checkHost()
	require.ErrorIs(t, err, ErrMissingTool)
	assert.EqualError(t, err, "missing tool: install it with apt-get install mmdebstrap erofs-utils")
}

func TestBuild_TwoBuildsOfOneImageBuildItOnce(t *testing.T) {
	tools := &fakeTools{}
	b := testBuilder(t, servingTrixie(), tools)
	def := mustParse(t, "x.yaml", "name: x\n")
	unlock, err := filelock.Lock(context.Background(), filepath.Join(b.Dir(), "x.lock"))
	require.NoError(t, err)
	type result struct {
		img *Image
		err error
	}
	done := make(chan result, 2)
	for range 2 {
		go func() {
			img, err := b.Build(context.Background(), def)
			done <- result{img, err}
		}()
	}
	unlock()
	var cached int
	for range 2 {
		r := <-done
		require.NoError(t, r.err)
		if r.img.Cached {
			cached++
		}
	}
	assert.Equal(t, 1, cached)
	assert.Equal(t, []string{"mmdebstrap", "mkfs.erofs"}, tools.calls)
}

func TestTailOf_LastLinesShortened(t *testing.T) {
	f := filepath.Join(t.TempDir(), "log")
	require.NoError(t, os.WriteFile(f, []byte("one\n\ntwo\n"+strings.Repeat("x", 300)+"\nFAILED: it\n"), 0o644))
	assert.Equal(t, "; it ends:\n  two\n  "+strings.Repeat("x", maxTailLine)+" ...", tailOf(f, 2))
	assert.Equal(t, "", tailOf(filepath.Join(t.TempDir(), "none"), 2))
}

// TestRunCommand_InterruptStopsTheWholeGroup: like mmdebstrap, the parent
// survives SIGTERM and waits for its child; only a signal to the group
// stops the child, after which the parent cleans up and ends.
func TestRunCommand_InterruptStopsTheWholeGroup(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "child.pid")
	// The child writes its pid itself once it runs with default signal
	// handling (an exec resets the parent's trap).
	script := `trap 'echo parent got TERM' TERM; sh -c 'echo $$ > ` + pidFile + `; exec sleep 300' & wait; wait; echo parent saw the child end`
	ctx, cancel := context.WithCancel(context.Background())
	var log bytes.Buffer
	done := make(chan error, 1)
	go func() { done <- runCommand(ctx, []string{"sh", "-c", script}, os.Environ(), &log) }()
	require.Eventually(t, func() bool { b, err := os.ReadFile(pidFile); return err == nil && len(b) > 0 }, 10*time.Second, 20*time.Millisecond)
	cancel()
	var err error
	select {
	case err = <-done:
	case <-time.After(stopGrace / 2):
		t.Fatalf("runCommand did not return after cancellation; log: %s", log.String())
	}
	require.ErrorIs(t, err, context.Canceled)
	assert.Contains(t, log.String(), "parent saw the child end")
	b, rerr := os.ReadFile(pidFile)
	require.NoError(t, rerr)
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	require.NotZero(t, pid)
	assert.ErrorIs(t, syscall.Kill(pid, 0), syscall.ESRCH, "the child is gone")
}

package lab

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tsemlab/tsemlab/harness/rootfs"
	"github.com/tsemlab/tsemlab/harness/scenario"
	"github.com/tsemlab/tsemlab/protocol"
)

// fakeBuild records which definitions were built and returns an image
// named after each.
type fakeBuild struct {
	built []string
	err   error
}

func (f *fakeBuild) build(_ context.Context, def *rootfs.Definition) (*rootfs.Image, error) {
	f.built = append(f.built, def.Name)
	if f.err != nil {
		return nil, f.err
	}
	return &rootfs.Image{Name: def.Name, Path: "/cache/images/" + def.Name + ".erofs"}, nil
}

func imagesDir(t *testing.T) string {
	dir, err := filepath.Abs("../../images")
	require.NoError(t, err)
	return dir
}

func noRunc(string) (string, error) { return "", os.ErrNotExist }

func TestRootFS_BuildsEachNamedImageOnce(t *testing.T) {
	f := &fakeBuild{}
	scs := []*scenario.Scenario{
		{Name: "a", Image: "httpd", Mode: protocol.ModeProcess},
		{Name: "b"},
		{Name: "c", Image: "debian-minimal", Mode: protocol.ModeProcess},
		{Name: "d", Image: "httpd", Mode: protocol.ModeProcess},
		{Name: "e", Phases: []scenario.Phase{{Name: "p", Image: "httpd"}, {Name: "q"}}},
	}
	got, err := RootFS(context.Background(), RootFSOptions{Dir: imagesDir(t), Build: f.build, LookPath: noRunc}, scs)
	require.NoError(t, err)
	assert.Equal(t, []string{"httpd", "debian-minimal"}, f.built)
	assert.Equal(t, "/cache/images/httpd.erofs", got["httpd"].Path)
	assert.Len(t, got, 2)
}

func TestRootFS_NothingToDoWithoutImages(t *testing.T) {
	f := &fakeBuild{}
	got, err := RootFS(context.Background(), RootFSOptions{Dir: "/nonexistent", Build: f.build}, []*scenario.Scenario{{Name: "a"}})
	require.NoError(t, err)
	assert.Nil(t, got)
	assert.Empty(t, f.built)
}

func TestRootFS_FailuresAreClassified(t *testing.T) {
	container := []*scenario.Scenario{{Name: "c", Image: "debian-minimal", Mode: protocol.ModeContainer}}
	t.Run("unknown image is the user's error", func(t *testing.T) {
		_, err := RootFS(context.Background(), RootFSOptions{Dir: imagesDir(t), Build: (&fakeBuild{}).build}, []*scenario.Scenario{{Name: "a", Image: "debian-minimum"}})
		require.Error(t, err)
		assert.False(t, errors.Is(err, ErrInfra))
		assert.Contains(t, err.Error(), `no image definition "debian-minimum"`)
		assert.Contains(t, err.Error(), `did you mean "debian-minimal"?`)
	})
	t.Run("no runc for a container scenario is the environment's", func(t *testing.T) {
		f := &fakeBuild{}
		_, err := RootFS(context.Background(), RootFSOptions{Dir: imagesDir(t), Build: f.build, LookPath: noRunc}, container)
		require.ErrorIs(t, err, ErrInfra)
		assert.ErrorIs(t, err, ErrNoRunc)
		assert.Empty(t, f.built, "nothing is built for a run that cannot start")
	})
	t.Run("a failed build is the environment's", func(t *testing.T) {
		f := &fakeBuild{err: errors.New("mmdebstrap: exit status 1 (log: /cache/images/debian-minimal-x.log)")}
		found := func(string) (string, error) { return "/usr/sbin/runc", nil }
		_, err := RootFS(context.Background(), RootFSOptions{Dir: imagesDir(t), Build: f.build, LookPath: found}, container)
		require.ErrorIs(t, err, ErrInfra)
		assert.Equal(t, "workload image debian-minimal: mmdebstrap: exit status 1 (log: /cache/images/debian-minimal-x.log)", err.Error())
	})
}

// blockingBuild builds nothing until released (or its context ends), so
// that a test sees builds in flight.
type blockingBuild struct {
	mu      sync.Mutex
	started []string
	release chan struct{}
}

func (f *blockingBuild) build(ctx context.Context, def *rootfs.Definition) (*rootfs.Image, error) {
	f.mu.Lock()
	f.started = append(f.started, def.Name)
	f.mu.Unlock()
	select {
	case <-f.release:
		return &rootfs.Image{Name: def.Name, Path: "/cache/images/" + def.Name + ".erofs"}, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (f *blockingBuild) startedNames() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.started)
}

// TestStartRootFS_BuildsInTheBackgroundOneAtATime: StartRootFS returns
// before any image is built; Image waits for its own; the builds go one
// at a time in the order the scenarios first name the images.
func TestStartRootFS_BuildsInTheBackgroundOneAtATime(t *testing.T) {
	f := &blockingBuild{release: make(chan struct{})}
	scs := []*scenario.Scenario{
		{Name: "none"},
		{Name: "b", Phases: []scenario.Phase{{Name: "p", Image: "httpd"}}},
		{Name: "a", Image: "debian-minimal"},
	}
	b, err := StartRootFS(context.Background(), RootFSOptions{Dir: imagesDir(t), Build: f.build, LookPath: noRunc}, scs)
	require.NoError(t, err)
	defer b.Close()
	assert.False(t, b.Ready("httpd"))
	assert.False(t, b.Ready("debian-minimal", "httpd"))
	assert.True(t, b.Ready(), "no image asked for is ready")
	require.Eventually(t, func() bool { return len(f.startedNames()) == 1 }, 5*time.Second, 10*time.Millisecond)
	assert.Equal(t, []string{"httpd"}, f.startedNames(), "one build at a time, first named first")

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err = b.Image(ctx, "httpd")
	require.ErrorIs(t, err, context.DeadlineExceeded, "Image waits for the build")

	close(f.release)
	img, err := b.Image(context.Background(), "debian-minimal")
	require.NoError(t, err)
	assert.Equal(t, "/cache/images/debian-minimal.erofs", img.Path)
	assert.True(t, b.Ready("debian-minimal", "httpd"))
	assert.Equal(t, []string{"httpd", "debian-minimal"}, f.startedNames())

	_, err = b.Image(context.Background(), "other")
	require.Error(t, err)
	assert.Contains(t, err.Error(), `workload image "other" is not one this run builds`)
}

// TestStartRootFS_KeepCancelsBuildsNoScenarioNeeds: images only skipped
// scenarios name are not built, whether their build is running or has
// not started; the others go on.
func TestStartRootFS_KeepCancelsBuildsNoScenarioNeeds(t *testing.T) {
	f := &blockingBuild{release: make(chan struct{})}
	scs := []*scenario.Scenario{{Name: "a", Image: "httpd"}, {Name: "b", Image: "debian-minimal"}}
	b, err := StartRootFS(context.Background(), RootFSOptions{Dir: imagesDir(t), Build: f.build, LookPath: noRunc}, scs)
	require.NoError(t, err)
	defer b.Close()
	require.Eventually(t, func() bool { return len(f.startedNames()) == 1 }, 5*time.Second, 10*time.Millisecond)

	assert.Equal(t, []string{"httpd"}, b.Keep([]string{"debian-minimal"}), "the running build of httpd is cancelled")
	_, err = b.Image(context.Background(), "httpd")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "workload image httpd: not built: no scenario left in this run needs it")

	close(f.release)
	_, err = b.Image(context.Background(), "debian-minimal")
	require.NoError(t, err, "the needed image is still built")
	assert.Empty(t, b.Keep(nil), "a built image is never cancelled")

	g := &blockingBuild{release: make(chan struct{})}
	b2, err := StartRootFS(context.Background(), RootFSOptions{Dir: imagesDir(t), Build: g.build, LookPath: noRunc}, scs)
	require.NoError(t, err)
	require.Eventually(t, func() bool { return len(g.startedNames()) == 1 }, 5*time.Second, 10*time.Millisecond)
	assert.Equal(t, []string{"debian-minimal"}, b2.Keep([]string{"httpd"}), "a build not started yet is dropped")
	close(g.release)
	_, err = b2.Image(context.Background(), "debian-minimal")
	require.ErrorContains(t, err, "not built: no scenario left in this run needs it")
	b2.Close()
	assert.Equal(t, []string{"httpd"}, g.startedNames(), "the dropped build never started")
}

// TestStartRootFS_CloseStopsBuildsInFlight: a run that ends (or is
// interrupted) stops its builds and waits for them.
func TestStartRootFS_CloseStopsBuildsInFlight(t *testing.T) {
	f := &blockingBuild{release: make(chan struct{})}
	b, err := StartRootFS(context.Background(), RootFSOptions{Dir: imagesDir(t), Build: f.build, LookPath: noRunc},
		[]*scenario.Scenario{{Name: "a", Image: "httpd"}, {Name: "b", Image: "debian-minimal"}})
	require.NoError(t, err)
	require.Eventually(t, func() bool { return len(f.startedNames()) == 1 }, 5*time.Second, 10*time.Millisecond)
	b.Close()
	_, err = b.Image(context.Background(), "debian-minimal")
	require.ErrorContains(t, err, "workload image debian-minimal: not built: context canceled")
	assert.Equal(t, []string{"httpd"}, f.startedNames())
	var nilBuilds *Builds
	nilBuilds.Close()
}

func TestWorkloadImageError_NamesTheImageOnce(t *testing.T) {
	assert.EqualError(t, workloadImageError("httpd", errors.New("image httpd: building images needs root")), "workload image httpd: building images needs root")
	assert.EqualError(t, workloadImageError("httpd", errors.New("lock: context canceled")), "workload image httpd: lock: context canceled")
	assert.EqualError(t, workloadImageError("httpd", errors.New("image httpd-2: x")), "workload image httpd: image httpd-2: x")
}

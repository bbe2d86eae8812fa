package lab

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

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

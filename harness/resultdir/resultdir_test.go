package resultdir

import (
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var when = time.Date(2025, 6, 1, 12, 0, 0, 123456789, time.FixedZone("CEST", 2*3600))

func TestNew_NamesByUTCMillisecondsAndASuffix(t *testing.T) {
	parent := filepath.Join(t.TempDir(), "results")
	dir, err := New(parent, when)
	require.NoError(t, err)
	assert.Equal(t, parent, filepath.Dir(dir))
	assert.Regexp(t, `^20250601T100000\.123Z-[0-9a-f]{6}$`, filepath.Base(dir))
	assert.DirExists(t, dir)
}

// TestNew_ConcurrentRunsInOneMillisecondGetTheirOwnDirectories is two
// (here forty) invocations of `tsemlab run` starting at once.
func TestNew_ConcurrentRunsInOneMillisecondGetTheirOwnDirectories(t *testing.T) {
	parent := t.TempDir()
	const n = 40
	dirs := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d, err := New(parent, when)
			assert.NoError(t, err)
			dirs[i] = d
		}()
	}
	wg.Wait()
	seen := map[string]bool{}
	for _, d := range dirs {
		assert.False(t, seen[d], "two runs got %s", d)
		seen[d] = true
	}
	entries, err := os.ReadDir(parent)
	require.NoError(t, err)
	assert.Len(t, entries, n)
}

func TestNew_TakenNameIsRetriedAndNeverReused(t *testing.T) {
	parent := t.TempDir()
	suffixes := []string{"aaaaaa", "aaaaaa", "bbbbbb"}
	next := func() (string, error) { s := suffixes[0]; suffixes = suffixes[1:]; return s, nil }
	first, err := newDir(parent, when, next)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(first, "mine"), nil, 0o644))
	second, err := newDir(parent, when, next)
	require.NoError(t, err)
	assert.Equal(t, "20250601T100000.123Z-bbbbbb", filepath.Base(second))
	assert.FileExists(t, filepath.Join(first, "mine"), "the first run's directory is untouched")

	same := func() (string, error) { return "aaaaaa", nil }
	_, err = newDir(parent, when, same)
	assert.ErrorContains(t, err, "were all taken")
}

func TestLatest_PointsAtTheNewestRunAndReplacesAtomically(t *testing.T) {
	parent := t.TempDir()
	a, err := New(parent, when)
	require.NoError(t, err)
	b, err := New(parent, when.Add(time.Second))
	require.NoError(t, err)

	require.NoError(t, Latest(a))
	target, err := os.Readlink(filepath.Join(parent, LatestName))
	require.NoError(t, err)
	assert.Equal(t, filepath.Base(a), target, "a relative link: the tree may move")

	require.NoError(t, Latest(b))
	target, err = os.Readlink(filepath.Join(parent, LatestName))
	require.NoError(t, err)
	assert.Equal(t, filepath.Base(b), target)
	left, _ := filepath.Glob(filepath.Join(parent, ".latest-*"))
	assert.Empty(t, left, "no temporary links left")
}

func TestLatest_ConcurrentRunsLeaveOneWholeLink(t *testing.T) {
	parent := t.TempDir()
	var dirs []string
	for range 20 {
		d, err := New(parent, when)
		require.NoError(t, err)
		dirs = append(dirs, d)
	}
	var wg sync.WaitGroup
	for _, d := range dirs {
		wg.Add(1)
		go func() { defer wg.Done(); assert.NoError(t, Latest(d)) }()
	}
	wg.Wait()
	target, err := os.Readlink(filepath.Join(parent, LatestName))
	require.NoError(t, err)
	assert.Contains(t, dirs, filepath.Join(parent, target))
}

func TestLatest_ADirectoryInTheWayIsAnError(t *testing.T) {
	parent := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(parent, LatestName, "x"), 0o755))
	d, err := New(parent, when)
	require.NoError(t, err)
	assert.ErrorContains(t, Latest(d), "link "+filepath.Join(parent, LatestName))
	left, _ := filepath.Glob(filepath.Join(parent, ".latest-*"))
	assert.Empty(t, left)
}

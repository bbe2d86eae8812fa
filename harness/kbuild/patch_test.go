package kbuild

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSeries_NameOrderPatchesOnly(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []string{"0010-late.patch", "0002-second.patch", "0001-first.diff", "series", "README", "0003-notes.txt"} {
		writeFile(t, filepath.Join(dir, name), "")
	}
	require.NoError(t, os.Mkdir(filepath.Join(dir, "0000-a-directory.patch"), 0o755))
	got, err := Series(dir)
	require.NoError(t, err)
	var names []string
	for _, p := range got {
		names = append(names, filepath.Base(p))
	}
	assert.Equal(t, []string{"0001-first.diff", "0002-second.patch", "0010-late.patch"}, names)

	_, err = Series(t.TempDir())
	assert.ErrorContains(t, err, "no *.patch or *.diff files")
}

// TestApplySeries_StopsAtTheFirstFailureAndNamesIt applies three patches
// to a small git tree: the first applies, the second does not (its
// context is wrong), the third is never tried.
func TestApplySeries_StopsAtTheFirstFailureAndNamesIt(t *testing.T) {
	for _, tool := range []string{"patch", "git"} {
		t.Run(tool, func(t *testing.T) {
			requireTool(t, tool)
			tree := gitTree(t)
			dir := t.TempDir()
			writeFile(t, filepath.Join(dir, "0001-return-1.patch"), forkPatch("return 0", "return 1"))
			writeFile(t, filepath.Join(dir, "0002-stale.patch"), forkPatch("return 5", "return 6"))
			writeFile(t, filepath.Join(dir, "0003-return-2.patch"), forkPatch("return 1", "return 2"))
			series, err := Series(dir)
			require.NoError(t, err)
			if tool == "git" {
				t.Setenv("PATH", gitOnlyPath(t))
			}
			err = applySeries(context.Background(), tree, series)
			require.ErrorIs(t, err, ErrPatch)
			var pe *PatchError
			require.ErrorAs(t, err, &pe)
			assert.Equal(t, 2, pe.Index)
			assert.Equal(t, 3, pe.Total)
			assert.Equal(t, "0002-stale.patch", filepath.Base(pe.Patch))
			assert.Contains(t, err.Error(), "patch 0002-stale.patch (2 of 3) does not apply: ")
			fork, err := os.ReadFile(filepath.Join(tree, "kernel", "fork.c"))
			require.NoError(t, err)
			assert.Contains(t, string(fork), "return 1", "the first patch applied, the failed one left nothing, the third was not tried")
			assert.NotContains(t, string(fork), "return 2")
		})
	}
}

func TestApplySeries_InOrder(t *testing.T) {
	requireTool(t, "patch")
	tree := fakeTree(t)
	dir := t.TempDir()
	// The second patch only applies after the first.
	writeFile(t, filepath.Join(dir, "0002-then.patch"), forkPatch("return 1", "return 2"))
	writeFile(t, filepath.Join(dir, "0001-first.patch"), forkPatch("return 0", "return 1"))
	series, err := Series(dir)
	require.NoError(t, err)
	require.NoError(t, applySeries(context.Background(), tree, series))
	fork, err := os.ReadFile(filepath.Join(tree, "kernel", "fork.c"))
	require.NoError(t, err)
	assert.Contains(t, string(fork), "return 2")
}

// gitOnlyPath is a PATH with git and the basic tools but no patch, so
// applySeries falls back to git apply.
func gitOnlyPath(t *testing.T) string {
	dir := t.TempDir()
	for _, tool := range []string{"git", "sh"} {
		p, err := exec.LookPath(tool)
		require.NoError(t, err)
		require.NoError(t, os.Symlink(p, filepath.Join(dir, tool)))
	}
	return dir
}

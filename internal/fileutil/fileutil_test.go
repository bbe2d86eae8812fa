package fileutil

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCopy(t *testing.T) {
	dir := t.TempDir()
	src, dst := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	require.NoError(t, os.WriteFile(src, []byte("kernel"), 0o644))
	require.NoError(t, os.WriteFile(dst, []byte("older and longer"), 0o644))
	require.NoError(t, Copy(src, dst))
	got, err := os.ReadFile(dst)
	require.NoError(t, err)
	assert.Equal(t, "kernel", string(got))
	assert.ErrorIs(t, Copy(filepath.Join(dir, "missing"), dst), os.ErrNotExist)
}

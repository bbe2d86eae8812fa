package lab

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// noHome leaves CacheDir only its last resort, in a fresh temporary dir.
func noHome(t *testing.T) (tmp string) {
	t.Helper()
	tmp = t.TempDir()
	t.Setenv("TSEMLAB_CACHE", "")
	t.Setenv("XDG_CACHE_HOME", "")
	t.Setenv("HOME", "")
	t.Setenv("TMPDIR", tmp)
	return tmp
}

func TestCacheDir_EnvironmentOrder(t *testing.T) {
	noHome(t)
	t.Setenv("HOME", "/home/u")
	d, err := CacheDir(nil)
	require.NoError(t, err)
	assert.Equal(t, "/home/u/.cache/tsemlab", d)
	t.Setenv("XDG_CACHE_HOME", "/xdg")
	d, err = CacheDir(nil)
	require.NoError(t, err)
	assert.Equal(t, "/xdg/tsemlab", d)
	t.Setenv("TSEMLAB_CACHE", "/mine")
	d, err = CacheDir(nil)
	require.NoError(t, err)
	assert.Equal(t, "/mine", d)
}

func TestCacheDir_WithoutHomeIsPrivateToTheUser(t *testing.T) {
	tmp := noHome(t)
	var logs bytes.Buffer
	d, err := CacheDir(slog.New(slog.NewTextHandler(&logs, nil)))
	require.NoError(t, err)
	assert.Equal(t, filepath.Join(tmp, fmt.Sprintf("tsemlab-cache-%d", os.Getuid())), d)
	st, err := os.Lstat(d)
	require.NoError(t, err)
	assert.True(t, st.IsDir())
	assert.Equal(t, os.FileMode(0o700), st.Mode().Perm())
	assert.Contains(t, logs.String(), "private to this user")
	assert.Contains(t, logs.String(), d)

	again, err := CacheDir(slog.New(slog.NewTextHandler(&logs, nil)))
	require.NoError(t, err, "an existing private directory is reused")
	assert.Equal(t, d, again)
}

func TestCacheDir_WithoutHomeRefusesAnUnsafeDirectory(t *testing.T) {
	name := fmt.Sprintf("tsemlab-cache-%d", os.Getuid())
	tests := []struct {
		name  string
		plant func(t *testing.T, d string)
		want  string
	}{
		{"world-writable", func(t *testing.T, d string) {
			require.NoError(t, os.Mkdir(d, 0o700))
			require.NoError(t, os.Chmod(d, 0o777))
		}, "is writable by others (mode -rwxrwxrwx)"},
		{"group-writable", func(t *testing.T, d string) {
			require.NoError(t, os.Mkdir(d, 0o700))
			require.NoError(t, os.Chmod(d, 0o770))
		}, "is writable by others"},
		{"another user's", func(t *testing.T, d string) {
			require.NoError(t, os.Mkdir(d, 0o700))
			if err := os.Chown(d, os.Getuid()+1, -1); err != nil {
				t.Skipf("cannot give a directory to another user here (%v): needs root", err)
			}
		}, "belongs to another user"},
		{"a symbolic link", func(t *testing.T, d string) {
			require.NoError(t, os.Symlink(t.TempDir(), d))
		}, "is not a directory"},
		{"a file", func(t *testing.T, d string) {
			require.NoError(t, os.WriteFile(d, nil, 0o600))
		}, "is not a directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tmp := noHome(t)
			tt.plant(t, filepath.Join(tmp, name))
			_, err := CacheDir(slog.New(slog.NewTextHandler(&bytes.Buffer{}, nil)))
			require.ErrorIs(t, err, ErrInfra)
			assert.ErrorContains(t, err, tt.want)
			assert.ErrorContains(t, err, "set TSEMLAB_CACHE or HOME")
		})
	}
}

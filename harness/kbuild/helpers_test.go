package kbuild

import (
	"context"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// fakeTree copies testdata/faketree (a stand-in for a kernel tree: a
// Makefile that "configures" and "compiles" in an instant, a fake
// merge_config.sh and a small Kconfig) into a temporary directory.
func fakeTree(t *testing.T) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "linux")
	err := filepath.WalkDir("testdata/faketree", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel("testdata/faketree", p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), data, info.Mode().Perm())
	})
	require.NoError(t, err)
	return dst
}

// gitTree is a fake tree committed to a new git repository.
func gitTree(t *testing.T) string {
	t.Helper()
	requireTool(t, "git")
	dir := fakeTree(t)
	runGit(t, dir, "init", "-q")
	runGit(t, dir, "add", "-A")
	runGit(t, dir, "commit", "-q", "-m", "fake tree")
	return dir
}

func runGit(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", append([]string{"-C", dir, "-c", "user.name=test", "-c", "user.email=test@example.invalid", "-c", "commit.gpgsign=false"}, args...)...)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "git %v: %s", args, out)
	return string(out)
}

func requireTool(t *testing.T, name string) {
	t.Helper()
	if _, err := exec.LookPath(name); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI must have %s installed", name)
		}
		t.Skipf("needs %s installed", name)
	}
}

func writeFile(t *testing.T, path, text string) string {
	t.Helper()
	require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
	require.NoError(t, os.WriteFile(path, []byte(text), 0o644))
	return path
}

// testBuilder builds fake trees into a temporary cache with a fixed
// compiler version.
func testBuilder(t *testing.T) *Builder {
	t.Helper()
	requireTool(t, "make")
	requireTool(t, "awk")
	return &Builder{
		CacheDir: t.TempDir(), Jobs: 2, NoCCache: true,
		Log:             slog.New(slog.NewTextHandler(io.Discard, nil)),
		compilerVersion: func(context.Context) (string, error) { return "gcc (fake) 12.2.0", nil },
	}
}

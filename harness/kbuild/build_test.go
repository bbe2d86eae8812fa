package kbuild

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestBuild_SecondBuildIsACacheHit(t *testing.T) {
	b := testBuilder(t)
	tree := gitTree(t)
	frag := writeFile(t, filepath.Join(t.TempDir(), "virt.config"), "CONFIG_NET=y\nCONFIG_INET=y\n")
	spec := Spec{Source: tree, Fragments: []string{frag}}

	k, err := b.Build(context.Background(), spec)
	require.NoError(t, err)
	assert.False(t, k.Cached)
	assert.Equal(t, 2, k.Objects, "the fake tree compiles two objects")
	assert.FileExists(t, k.Path)
	assert.FileExists(t, filepath.Join(k.Dir, "kbuild.json"))
	assert.FileExists(t, k.Log)
	cfg, err := os.ReadFile(filepath.Join(k.Dir, "config"))
	require.NoError(t, err)
	assert.Equal(t, "CONFIG_64BIT=y\nCONFIG_NET=y\nCONFIG_INET=y\n", string(cfg))
	assert.Equal(t, KindGit, k.Source.Kind)
	assert.Equal(t, "tinyconfig", k.Base)

	again, err := b.Build(context.Background(), spec)
	require.NoError(t, err)
	assert.True(t, again.Cached)
	assert.Equal(t, k.Path, again.Path)
	assert.Equal(t, k.Key, again.Key)
	assert.Equal(t, k.ConfigSHA256, again.ConfigSHA256)

	list, err := List(b.CacheDir)
	require.NoError(t, err)
	require.Len(t, list, 1)
	assert.Equal(t, k.Key, list[0].Key)
	assert.Equal(t, k.Source.Revision, list[0].Source.Revision)

	rev := strings.TrimSpace(runGit(t, tree, "rev-parse", "HEAD"))
	found, err := b.LookupRevision(context.Background(), spec, rev)
	require.NoError(t, err)
	require.NotNil(t, found, "a clean revision is found without its tree")
	assert.Equal(t, k.Key, found.Key)
}

func TestBuild_ChangedFileRebuildsInTheSameBuildDirectory(t *testing.T) {
	b := testBuilder(t)
	tree := gitTree(t)
	spec := Spec{Source: tree}
	k1, err := b.Build(context.Background(), spec)
	require.NoError(t, err)
	writeFile(t, filepath.Join(tree, "kernel", "fork.c"), "int fork(void) { return 1; }\n")
	k2, err := b.Build(context.Background(), spec)
	require.NoError(t, err)
	assert.False(t, k2.Cached, "an uncommitted change is another source")
	assert.NotEqual(t, k1.Key, k2.Key)
	assert.Equal(t, k1.BuildDir, k2.BuildDir, "the build directory is reused")
	img, err := os.ReadFile(k2.Path)
	require.NoError(t, err)
	assert.Equal(t, "int fork(void) { return 1; }\n", string(img))
	old, err := os.ReadFile(k1.Path)
	require.NoError(t, err)
	assert.NotEqual(t, string(img), string(old), "the first kernel stays as it was")
}

func TestBuild_LostOptionStopsBeforeCompiling(t *testing.T) {
	b := testBuilder(t)
	tree := gitTree(t)
	writeFile(t, filepath.Join(tree, "drops"), "CONFIG_INET\n")
	frag := writeFile(t, filepath.Join(t.TempDir(), "net.config"), "CONFIG_INET=y\n")

	_, err := b.Build(context.Background(), Spec{Source: tree, Fragments: []string{frag}})
	require.ErrorIs(t, err, ErrConfig)
	var ce *ConfigError
	require.ErrorAs(t, err, &ce)
	require.Len(t, ce.Problems, 1)
	assert.Equal(t, "CONFIG_INET is not set (net.config asks for y): unmet dependency: it depends on NET (Kconfig:8) and CONFIG_NET is not set; add what it needs to a fragment", ce.Problems[0].String())
	assert.Contains(t, err.Error(), "nothing was compiled")
	assert.NoFileExists(t, filepath.Join(filepath.Dir(ce.Config), "arch", "x86", "boot", "bzImage"), "make bzImage never ran")
	log, rerr := os.ReadFile(ce.Log)
	require.NoError(t, rerr, "the log is kept")
	assert.Contains(t, string(log), "CONFIG_INET is not set")
}

func TestBuild_AnOptionNoKconfigDeclaresStopsBeforeConfiguring(t *testing.T) {
	b := testBuilder(t)
	tree := gitTree(t)
	frag := writeFile(t, filepath.Join(t.TempDir(), "tsem.config"), "CONFIG_SECURITY_TSEM=y\nCONFIG_NOSUCH_FEATURE=m\nCONFIG_GONE=n\n")

	_, err := b.Build(context.Background(), Spec{Source: tree, Fragments: []string{frag}})
	require.ErrorIs(t, err, ErrConfig)
	var ce *ConfigError
	require.ErrorAs(t, err, &ce)
	require.Len(t, ce.Problems, 2, "an option asked to be n needs no declaration")
	assert.Equal(t, "CONFIG_SECURITY_TSEM is not set (tsem.config asks for y): this tree has no security/tsem; it is not a TSEM tree", ce.Problems[0].String())
	assert.Equal(t, "CONFIG_NOSUCH_FEATURE is not set (tsem.config asks for m): no Kconfig file of this tree defines it (another kernel version, or a feature this tree does not have)", ce.Problems[1].String())
	assert.Empty(t, ce.Config, "nothing was configured")
	assert.Contains(t, err.Error(), "declared by no Kconfig file of this tree; nothing was configured or compiled")
	builds, _ := filepath.Glob(filepath.Join(b.CacheDir, "kernels", "build-*", ".config"))
	assert.Empty(t, builds, "make never ran")
	log, rerr := os.ReadFile(ce.Log)
	require.NoError(t, rerr, "the log is kept")
	assert.Contains(t, string(log), "CONFIG_SECURITY_TSEM is not set")
}

func TestBuild_FailedMakeKeepsItsLogAndShowsItsEnd(t *testing.T) {
	b := testBuilder(t)
	tree := gitTree(t)
	writeFile(t, filepath.Join(tree, "fail"), "")
	_, err := b.Build(context.Background(), Spec{Source: tree})
	require.ErrorIs(t, err, ErrBuild)
	var be *BuildError
	require.ErrorAs(t, err, &be)
	assert.Equal(t, "compiling", be.Step)
	assert.Contains(t, be.Tail, "a fake compile error")
	assert.Contains(t, err.Error(), "full log: "+be.Log)
	log, rerr := os.ReadFile(be.Log)
	require.NoError(t, rerr)
	assert.Contains(t, string(log), "] $ make -C "+tree)
	assert.Contains(t, string(log), "a fake compile error")
	list, _ := List(b.CacheDir)
	assert.Empty(t, list, "a failed build caches nothing")
}

func TestBuild_InterruptKillsMakesProcessGroup(t *testing.T) {
	b := testBuilder(t)
	tree := gitTree(t)
	writeFile(t, filepath.Join(tree, "hang"), "")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := b.Build(ctx, Spec{Source: tree})
		done <- err
	}()
	var pid int
	require.Eventually(t, func() bool {
		files, _ := filepath.Glob(filepath.Join(b.CacheDir, "kernels", "build-*", "child.pid"))
		if len(files) == 0 {
			return false
		}
		data, _ := os.ReadFile(files[0])
		pid, _ = strconv.Atoi(strings.TrimSpace(string(data)))
		return pid > 0
	}, 30*time.Second, 50*time.Millisecond)
	cancel()
	select {
	case err := <-done:
		require.ErrorIs(t, err, context.Canceled)
		assert.Contains(t, err.Error(), "interrupted")
	case <-time.After(30 * time.Second):
		t.Fatal("Build did not return after the interrupt")
	}
	assert.Eventually(t, func() bool { return gone(pid) }, 10*time.Second, 50*time.Millisecond, "make's child (sleep) is gone")
}

func TestBuild_BadInputIsErrSpec(t *testing.T) {
	b := testBuilder(t)
	tree := fakeTree(t)
	inTree := fakeTree(t)
	writeFile(t, filepath.Join(inTree, ".config"), "CONFIG_64BIT=y\n")
	badFrag := writeFile(t, filepath.Join(t.TempDir(), "bad.config"), "SECURITY=y\n")
	tests := []struct {
		name string
		spec Spec
		want string
	}{
		{"no source", Spec{}, "no source"},
		{"missing tree", Spec{Source: filepath.Join(tree, "nope")}, "no such file"},
		{"not a kernel tree", Spec{Source: t.TempDir()}, "is not a kernel tree"},
		{"patches on a local tree", Spec{Source: tree, Patches: t.TempDir()}, "apply them to your tree yourself"},
		{"fragment does not parse", Spec{Source: tree, Fragments: []string{badFrag}}, `bad.config:1: "SECURITY=y" is not CONFIG_NAME=value`},
		{"missing fragment", Spec{Source: tree, Fragments: []string{"nope.config"}}, "nope.config"},
		{"missing base file", Spec{Source: tree, Base: "nope.config"}, "--base nope.config"},
		{"in-tree build", Spec{Source: inTree}, "has an in-tree build (.config)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := b.Build(context.Background(), tt.spec)
			require.Error(t, err)
			assert.True(t, errors.Is(err, ErrSpec), "%v", err)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}

func TestBuild_BaseFileAndNonGitTree(t *testing.T) {
	b := testBuilder(t)
	tree := fakeTree(t)
	base := writeFile(t, filepath.Join(t.TempDir(), "my.config"), "CONFIG_64BIT=y\nCONFIG_NET=y\n")
	k, err := b.Build(context.Background(), Spec{Source: tree, Base: base})
	require.NoError(t, err)
	assert.Equal(t, KindDir, k.Source.Kind)
	assert.NotEmpty(t, k.Source.FilesSHA256)
	cfg, err := os.ReadFile(filepath.Join(k.Dir, "config"))
	require.NoError(t, err)
	assert.Equal(t, "CONFIG_64BIT=y\nCONFIG_NET=y\n", string(cfg))
	again, err := b.Build(context.Background(), Spec{Source: tree, Base: base})
	require.NoError(t, err)
	assert.True(t, again.Cached)
}

func TestBuild_TarballWithPatches(t *testing.T) {
	requireTool(t, "tar")
	requireTool(t, "patch")
	b := testBuilder(t)
	tree := fakeTree(t)
	tarball := filepath.Join(t.TempDir(), "linux-fake.tar.gz")
	out, err := runQuiet(context.Background(), filepath.Dir(tree), "tar", "-czf", tarball, filepath.Base(tree))
	require.NoError(t, err, out)
	patches := t.TempDir()
	writeFile(t, filepath.Join(patches, "0001-fork.patch"), forkPatch("return 0", "return 7"))

	plain, err := b.Build(context.Background(), Spec{Source: tarball})
	require.NoError(t, err)
	patched, err := b.Build(context.Background(), Spec{Source: tarball, Patches: patches})
	require.NoError(t, err)
	assert.NotEqual(t, plain.Key, patched.Key)
	assert.NotEqual(t, plain.Source.Tree, patched.Source.Tree, "each series has its own unpacked tree")
	require.Len(t, patched.Source.Patches, 1)
	assert.Equal(t, "0001-fork.patch", patched.Source.Patches[0].Name)
	img, err := os.ReadFile(patched.Path)
	require.NoError(t, err)
	assert.Contains(t, string(img), "return 7")
	again, err := b.Build(context.Background(), Spec{Source: tarball, Patches: patches})
	require.NoError(t, err)
	assert.True(t, again.Cached)
}

// forkPatch changes the fake tree's kernel/fork.c.
func forkPatch(from, to string) string {
	return "--- a/kernel/fork.c\n+++ b/kernel/fork.c\n@@ -1,2 +1,2 @@\n /* a fake source file; the fake bzImage is a copy of it */\n-int fork(void) { " + from + "; }\n+int fork(void) { " + to + "; }\n"
}

// gone says whether a process has ended: no such process, or a zombie
// nobody reaped (PID 1 of a container may not).
func gone(pid int) bool {
	if errors.Is(syscall.Kill(pid, 0), syscall.ESRCH) {
		return true
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	// pid (comm) STATE ...
	i := strings.LastIndexByte(string(stat), ')')
	return i > 0 && i+2 < len(stat) && stat[i+2] == 'Z'
}

// TestBuild_LeavesTheSourceTreeUntouched: a local tree is only read (it may
// be another user's); merge_config.sh's temporary files and every build
// output go to the build directory.
func TestBuild_LeavesTheSourceTreeUntouched(t *testing.T) {
	b := testBuilder(t)
	tree := gitTree(t)
	frag := writeFile(t, filepath.Join(t.TempDir(), "net.config"), "CONFIG_NET=y\n")
	before := snapshot(t, tree)
	_, err := b.Build(context.Background(), Spec{Source: tree, Fragments: []string{frag}})
	require.NoError(t, err)
	assert.Equal(t, before, snapshot(t, tree))
}

// snapshot maps every path of a tree but .git to its modification time.
func snapshot(t *testing.T, dir string) map[string]time.Time {
	out := map[string]time.Time{}
	require.NoError(t, filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Name() == ".git" {
			return filepath.SkipDir
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		out[p] = info.ModTime()
		return nil
	}))
	return out
}

func TestBuild_EditedFragmentReusesTheBuildDirectoryAnotherSetDoesNot(t *testing.T) {
	b := testBuilder(t)
	tree := gitTree(t)
	dir := t.TempDir()
	frag := writeFile(t, filepath.Join(dir, "virt.config"), "CONFIG_NET=y\n")
	k1, err := b.Build(context.Background(), Spec{Source: tree, Fragments: []string{frag}})
	require.NoError(t, err)
	writeFile(t, frag, "CONFIG_NET=y\nCONFIG_INET=y\n")
	k2, err := b.Build(context.Background(), Spec{Source: tree, Fragments: []string{frag}})
	require.NoError(t, err)
	assert.NotEqual(t, k1.Key, k2.Key, "another configuration, another kernel")
	assert.Equal(t, k1.BuildDir, k2.BuildDir, "an edited fragment rebuilds in the same directory")
	other := writeFile(t, filepath.Join(dir, "tsem.config"), "CONFIG_SECURITY=y\n")
	k3, err := b.Build(context.Background(), Spec{Source: tree, Fragments: []string{frag, other}})
	require.NoError(t, err)
	assert.NotEqual(t, k1.BuildDir, k3.BuildDir, "another set of fragments has its own directory")
}

// TestCompilerErrors_FindsTheErrorAParallelMakeBuried: with make -j the
// error is printed long before the build stops (a real log of a TSEM tree
// under defconfig, whose CONFIG_WERROR makes a warning fatal).
func TestCompilerErrors_FindsTheErrorAParallelMakeBuried(t *testing.T) {
	log := `  CC      security/tsem/tsem.o
  CC      fs/netfs/rolling_buffer.o
/src/security/tsem/tsem.c: In function 'tsem_kernel_read_file':
/src/security/tsem/tsem.c:1401:28: error: implicit conversion from 'enum kernel_read_file_id' to 'enum kernel_load_data_id' [-Werror=enum-conversion]
 1401 |         ep->CELL.kernel.id = id;
      |                            ^
cc1: all warnings being treated as errors
make[5]: *** [scripts/Makefile.build:234: security/tsem/tsem.o] Error 1
  CC      fs/eventfd.o
  AR      fs/built-in.a
`
	assert.Equal(t, `/src/security/tsem/tsem.c: In function 'tsem_kernel_read_file':
/src/security/tsem/tsem.c:1401:28: error: implicit conversion from 'enum kernel_read_file_id' to 'enum kernel_load_data_id' [-Werror=enum-conversion]
 1401 |         ep->CELL.kernel.id = id;
      |                            ^`, compilerErrors(log, 3))
	assert.Empty(t, compilerErrors("  CC      fs/eventfd.o\n", 3))
	e := &BuildError{Step: "compiling", Err: errors.New("make bzImage: exit status 2"), Log: "LOG", Errors: "x.c:1:1: error: y", Tail: "  AR      fs/built-in.a"}
	assert.Equal(t, "compiling: make bzImage: exit status 2; full log: LOG; the first errors in it:\nx.c:1:1: error: y\nand its last lines:\n  AR      fs/built-in.a", e.Error())
}

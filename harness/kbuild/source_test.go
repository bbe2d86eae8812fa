package kbuild

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestClassify_SourceKinds(t *testing.T) {
	tree := fakeTree(t)
	tarball := writeFile(t, filepath.Join(t.TempDir(), "linux-6.12.tar.xz"), "")
	other := writeFile(t, filepath.Join(t.TempDir(), "notes.txt"), "")
	tests := []struct {
		src, kind, err string
	}{
		{tree, KindDir, ""},
		{tarball, KindTarball, ""},
		{"https://example.org/linux.git@v6.12", KindGitURL, ""},
		{"https://user@example.org/linux.git@tsem/next", KindGitURL, ""},
		{"git@example.org:linux.git@0123abcd", KindGitURL, ""},
		{"https://example.org/linux.git", KindGitURL, "a git URL needs a ref: URL@REF"},
		{"git@example.org:linux.git", KindGitURL, "a git URL needs a ref"},
		{"", "", "no source"},
		{other, "", "neither a directory nor a tarball"},
		{t.TempDir(), "", "is not a kernel tree"},
	}
	for _, tt := range tests {
		kind, err := classify(tt.src)
		if tt.err != "" {
			require.Error(t, err, tt.src)
			assert.ErrorIs(t, err, ErrSpec)
			assert.Contains(t, err.Error(), tt.err)
			continue
		}
		require.NoError(t, err, tt.src)
		assert.Equal(t, tt.kind, kind, tt.src)
	}
	url, ref, ok, err := gitURLRef("https://user@example.org/linux.git@tsem/next")
	require.NoError(t, err)
	assert.True(t, ok)
	assert.Equal(t, "https://user@example.org/linux.git", url)
	assert.Equal(t, "tsem/next", ref)
}

// identityKey is the cache key of tree's current state with fixed
// configuration inputs and compiler.
func identityKey(t *testing.T, tree string) (Identity, string) {
	t.Helper()
	id, err := localIdentity(context.Background(), tree)
	require.NoError(t, err)
	return id, cacheKey(id, &configInputs{Base: "tinyconfig"}, "gcc 12")
}

func TestCacheKey_GitTreeStates(t *testing.T) {
	tree := gitTree(t)
	clean, cleanKey := identityKey(t, tree)
	assert.Equal(t, KindGit, clean.Kind)
	assert.Len(t, clean.Revision, 40)
	assert.Empty(t, clean.DiffSHA256, "a clean tree has no diff")

	fork := filepath.Join(tree, "kernel", "fork.c")
	orig, err := os.ReadFile(fork)
	require.NoError(t, err)
	writeFile(t, fork, string(orig)+"/* one */\n")
	dirty1, key1 := identityKey(t, tree)
	assert.Equal(t, clean.Revision, dirty1.Revision)
	assert.NotEmpty(t, dirty1.DiffSHA256)
	assert.NotEqual(t, cleanKey, key1, "a dirty diff changes the key")

	writeFile(t, fork, string(orig)+"/* two */\n")
	_, key2 := identityKey(t, tree)
	assert.NotEqual(t, key1, key2, "another diff, another key")

	writeFile(t, fork, string(orig))
	_, back := identityKey(t, tree)
	assert.Equal(t, cleanKey, back, "undoing the change gives the clean key back")

	writeFile(t, filepath.Join(tree, "kernel", "new.c"), "int x;\n")
	_, untracked := identityKey(t, tree)
	assert.NotEqual(t, cleanKey, untracked, "an untracked file counts")
	writeFile(t, filepath.Join(tree, "kernel", "new.c"), "int y;\n")
	_, untracked2 := identityKey(t, tree)
	assert.NotEqual(t, untracked, untracked2, "so does its content")

	runGit(t, tree, "add", "-A")
	runGit(t, tree, "commit", "-q", "-m", "new.c")
	committed, committedKey := identityKey(t, tree)
	assert.NotEqual(t, clean.Revision, committed.Revision)
	assert.Empty(t, committed.DiffSHA256)
	assert.NotEqual(t, cleanKey, committedKey)
	assert.NotEqual(t, untracked2, committedKey, "a commit is not its uncommitted diff")

	clone := filepath.Join(t.TempDir(), "clone")
	runGit(t, filepath.Dir(clone), "clone", "-q", tree, clone)
	cloned, cloneKey := identityKey(t, clone)
	assert.Equal(t, committedKey, cloneKey, "the same revision elsewhere has the same key")
	assert.NotEqual(t, committed.Tree, cloned.Tree)
}

func TestCacheKey_ConfigAndCompilerCount(t *testing.T) {
	id := Identity{Kind: KindGit, Revision: strings.Repeat("a", 40)}
	in := &configInputs{Base: "tinyconfig"}
	ref := cacheKey(id, in, "gcc (Debian 12.2.0-14) 12.2.0")
	assert.Equal(t, ref, cacheKey(id, &configInputs{Base: "tinyconfig"}, "gcc (Debian 12.2.0-14) 12.2.0"))
	assert.NotEqual(t, ref, cacheKey(id, in, "gcc (Debian 14.2.0-19) 14.2.0"), "another compiler")
	assert.NotEqual(t, ref, cacheKey(id, &configInputs{Base: "defconfig"}, "gcc (Debian 12.2.0-14) 12.2.0"), "another base")
	other := id
	other.Revision = strings.Repeat("b", 40)
	assert.NotEqual(t, ref, cacheKey(other, in, "gcc (Debian 12.2.0-14) 12.2.0"), "another revision")
	moved := id
	moved.Tree, moved.Origin = "/elsewhere", "/elsewhere"
	assert.Equal(t, ref, cacheKey(moved, in, "gcc (Debian 12.2.0-14) 12.2.0"), "a git tree's place does not count")
}

func TestCacheKey_NonGitTreeByNamesSizesAndTimes(t *testing.T) {
	tree := fakeTree(t)
	id, key := identityKey(t, tree)
	assert.Equal(t, KindDir, id.Kind)
	_, same := identityKey(t, tree)
	assert.Equal(t, key, same)
	later := time.Now().Add(time.Hour)
	require.NoError(t, os.Chtimes(filepath.Join(tree, "kernel", "fork.c"), later, later))
	_, touched := identityKey(t, tree)
	assert.NotEqual(t, key, touched, "a newer file changes the key")
	copyTree := fakeTree(t)
	_, elsewhere := identityKey(t, copyTree)
	assert.NotEqual(t, key, elsewhere, "a non-git tree is identified with its place")
}

func TestIdentity_String(t *testing.T) {
	rev := "0123456789abcdef0123456789abcdef01234567"
	tests := []struct {
		id   Identity
		want string
	}{
		{Identity{Kind: KindGit, Revision: rev}, "git 0123456789ab"},
		{Identity{Kind: KindGit, Revision: rev, DiffSHA256: "89ab01cd5555"}, "git 0123456789ab + uncommitted changes 89ab01cd"},
		{Identity{Kind: KindGitURL, Origin: "https://x/linux.git@v1", Revision: rev}, "git 0123456789ab (https://x/linux.git@v1)"},
		{Identity{Kind: KindTarball, Origin: "/usr/src/linux.tar.xz", TarballSHA256: "ffee0011223344556677", Patches: []FragmentFile{{}, {}}}, "tarball linux.tar.xz sha256 ffee00112233 + 2 patches"},
		{Identity{Kind: KindDir, Origin: "/src/linux", FilesSHA256: "aabbccddeeff0011"}, "tree /src/linux (files by name, size and mtime aabbccddeeff)"},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, tt.id.String())
	}
}

func TestGitURL_ShallowCloneOfALocalRepository(t *testing.T) {
	b := testBuilder(t)
	tree := gitTree(t)
	runGit(t, tree, "tag", "v1")
	tr, err := b.gitURL(context.Background(), "file://"+tree+"@v1", nil)
	require.NoError(t, err)
	assert.Equal(t, KindGitURL, tr.ID.Kind)
	assert.Equal(t, strings.TrimSpace(runGit(t, tree, "rev-parse", "HEAD")), tr.ID.Revision)
	assert.FileExists(t, filepath.Join(tr.Dir, "kernel", "fork.c"))

	_, err = b.gitURL(context.Background(), "file://"+tree+"@no-such-ref", nil)
	require.Error(t, err)
	assert.False(t, errors.Is(err, ErrSpec))
	assert.Contains(t, err.Error(), "no-such-ref")
}

package kbuild

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/tsemlab/tsemlab/harness/filelock"
	"github.com/tsemlab/tsemlab/internal/digest"
)

// Source kinds.
const (
	KindGit     = "git"     // a local git tree
	KindDir     = "dir"     // a local tree that is not a git repository
	KindGitURL  = "git-url" // a git URL at a ref, shallow-cloned into the cache
	KindTarball = "tarball" // a tarball unpacked into the cache, patches applied
)

// Identity says which source a kernel was built from. Two builds with the
// same identity (and configuration inputs and compiler) are the same
// build; for git trees the identity does not depend on where the tree is.
type Identity struct {
	Kind string `json:"kind"`
	// Origin is the source as given (a path, URL@REF or tarball path).
	Origin string `json:"origin"`
	// Tree is the directory that was built.
	Tree string `json:"tree"`
	// Revision is the git commit checked out.
	Revision string `json:"revision,omitempty"`
	// DiffSHA256 hashes `git diff HEAD` and the untracked, not ignored
	// files (names and contents); "" for a clean tree.
	DiffSHA256 string `json:"diff_sha256,omitempty"`
	// TarballSHA256 is the tarball's hash.
	TarballSHA256 string `json:"tarball_sha256,omitempty"`
	// Patches are the series applied, in order.
	Patches []FragmentFile `json:"patches,omitempty"`
	// FilesSHA256 hashes a non-git tree's file names, sizes and
	// modification times (not contents: a tree is too big to read on
	// every build).
	FilesSHA256 string `json:"files_sha256,omitempty"`
}

// String is the identity in one line ("git 1a2b3c4d5e6f + uncommitted
// changes 89ab01cd").
func (i Identity) String() string {
	var s string
	switch i.Kind {
	case KindGit, KindGitURL:
		s = fmt.Sprintf("git %.12s", i.Revision)
		if i.DiffSHA256 != "" {
			s += fmt.Sprintf(" + uncommitted changes %.8s", i.DiffSHA256)
		}
		if i.Kind == KindGitURL {
			s += " (" + i.Origin + ")"
		}
	case KindTarball:
		s = fmt.Sprintf("tarball %s sha256 %.12s", filepath.Base(i.Origin), i.TarballSHA256)
	default:
		s = fmt.Sprintf("tree %s (files by name, size and mtime %.12s)", i.Origin, i.FilesSHA256)
	}
	if n := len(i.Patches); n > 0 {
		s += fmt.Sprintf(" + %d patches", n)
	}
	return s
}

// keyMaterial is what of the identity goes into the cache key: the
// content, not the place, except for a non-git tree, whose file hash is
// only as good as its modification times.
func (i Identity) keyMaterial() string {
	k := i
	k.Origin, k.Tree = "", ""
	if i.Kind == KindDir {
		k.Tree = i.Tree
	}
	if i.Kind == KindGitURL {
		k.Kind = KindGit
	}
	b, _ := json.Marshal(k)
	return string(b)
}

// tree is a source ready to build.
type tree struct {
	Dir string
	ID  Identity
}

var tarSuffixes = []string{".tar", ".tar.xz", ".txz", ".tar.gz", ".tgz", ".tar.bz2", ".tar.zst"}

// gitURLRef splits "URL@REF"; ok is false when src is not a git URL.
func gitURLRef(src string) (url, ref string, ok bool, err error) {
	if !strings.Contains(src, "://") && !strings.HasPrefix(src, "git@") {
		return "", "", false, nil
	}
	i := strings.LastIndexByte(src, '@')
	url, ref = src[:max(i, 0)], src[i+1:]
	if i < 0 || ref == "" || strings.ContainsAny(ref, ":") || !(strings.Contains(url, "://") || strings.Contains(url, ":")) {
		return "", "", true, fmt.Errorf("%w: --source %s: a git URL needs a ref: URL@REF (a branch, tag or commit, e.g. %s@v6.12)", ErrSpec, src, src)
	}
	return url, ref, true, nil
}

// classify says what kind of source src is.
func classify(src string) (kind string, err error) {
	if src == "" {
		return "", fmt.Errorf("%w: no source: give --source DIR, GIT_URL@REF or a tarball", ErrSpec)
	}
	if _, _, ok, err := gitURLRef(src); ok {
		return KindGitURL, err
	}
	st, err := os.Stat(src)
	if err != nil {
		return "", fmt.Errorf("%w: --source %s: %w (a kernel tree, GIT_URL@REF or a tarball)", ErrSpec, src, err)
	}
	if st.IsDir() {
		if _, err := os.Stat(filepath.Join(src, "scripts", "kconfig", "merge_config.sh")); err != nil {
			return "", fmt.Errorf("%w: --source %s is not a kernel tree (no scripts/kconfig/merge_config.sh)", ErrSpec, src)
		}
		return KindDir, nil
	}
	for _, s := range tarSuffixes {
		if strings.HasSuffix(src, s) {
			return KindTarball, nil
		}
	}
	return "", fmt.Errorf("%w: --source %s is neither a directory nor a tarball (%s)", ErrSpec, src, strings.Join(tarSuffixes, ", "))
}

// source makes spec's source ready to build: a local tree as it is, a
// git URL cloned, a tarball unpacked with its patches applied.
func (b *Builder) source(ctx context.Context, spec Spec, p *progress) (*tree, error) {
	kind, err := classify(spec.Source)
	if err != nil {
		return nil, err
	}
	var patches []string
	if spec.Patches != "" {
		if kind == KindDir {
			return nil, fmt.Errorf("%w: --patches applies to a tarball or git URL source, which tsemlab unpacks into its cache; apply them to your tree yourself (git am)", ErrSpec)
		}
		if patches, err = Series(spec.Patches); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrSpec, err)
		}
	}
	switch kind {
	case KindGitURL:
		p.phase("fetching")
		return b.gitURL(ctx, spec.Source, patches)
	case KindTarball:
		p.phase("unpacking")
		return b.tarball(ctx, spec.Source, patches)
	}
	dir, err := filepath.Abs(spec.Source)
	if err != nil {
		return nil, err
	}
	id, err := localIdentity(ctx, dir)
	if err != nil {
		return nil, err
	}
	return &tree{Dir: dir, ID: id}, nil
}

// localIdentity identifies a tree the user owns, reading it only.
func localIdentity(ctx context.Context, dir string) (Identity, error) {
	if top, err := git(ctx, dir, "rev-parse", "--show-toplevel"); err == nil && sameDir(strings.TrimSpace(top), dir) {
		id := Identity{Kind: KindGit, Origin: dir, Tree: dir}
		err := gitState(ctx, dir, &id)
		return id, err
	}
	sum, err := filesHash(dir)
	if err != nil {
		return Identity{}, fmt.Errorf("identify %s: %w", dir, err)
	}
	return Identity{Kind: KindDir, Origin: dir, Tree: dir, FilesSHA256: sum}, nil
}

func sameDir(a, b string) bool {
	ra, err1 := filepath.EvalSymlinks(a)
	rb, err2 := filepath.EvalSymlinks(b)
	return err1 == nil && err2 == nil && ra == rb
}

// gitState fills in the revision and the hash of uncommitted changes.
// --no-optional-locks: reading the state must not write the index of a
// tree that may be someone else's.
func gitState(ctx context.Context, dir string, id *Identity) error {
	rev, err := git(ctx, dir, "rev-parse", "--verify", "HEAD^{commit}")
	if err != nil {
		return fmt.Errorf("git revision of %s: %w", dir, err)
	}
	id.Revision = strings.TrimSpace(rev)
	diff, err := git(ctx, dir, "--no-optional-locks", "diff", "--binary", "HEAD")
	if err != nil {
		return fmt.Errorf("git diff of %s: %w", dir, err)
	}
	untracked, err := git(ctx, dir, "--no-optional-locks", "ls-files", "-z", "--others", "--exclude-standard")
	if err != nil {
		return fmt.Errorf("untracked files of %s: %w", dir, err)
	}
	if diff == "" && untracked == "" {
		return nil
	}
	h := sha256.New()
	io.WriteString(h, diff)
	for _, name := range strings.Split(strings.TrimRight(untracked, "\x00"), "\x00") {
		if name == "" {
			continue
		}
		fmt.Fprintf(h, "\x00untracked %s\x00", name)
		if f, err := os.Open(filepath.Join(dir, name)); err == nil {
			_, _ = io.Copy(h, f)
			f.Close()
		}
	}
	id.DiffSHA256 = hex.EncodeToString(h.Sum(nil))
	return nil
}

// filesHash hashes the names, sizes and modification times of a tree's
// files, skipping version-control directories.
func filesHash(dir string) (string, error) {
	h := sha256.New()
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == ".svn" || d.Name() == ".hg") {
			return filepath.SkipDir
		}
		if d.IsDir() {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		fmt.Fprintf(h, "%s\x00%d\x00%d\x00", rel, info.Size(), info.ModTime().UnixNano())
		return nil
	})
	return hex.EncodeToString(h.Sum(nil)), err
}

// tarball unpacks a tarball into the cache (once per tarball and patch
// series) and applies the patches.
func (b *Builder) tarball(ctx context.Context, path string, patches []string) (*tree, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	sum, err := digest.File(abs)
	if err != nil {
		return nil, fmt.Errorf("%w: tarball %s: %w", ErrSpec, path, err)
	}
	id := Identity{Kind: KindTarball, Origin: abs, TarballSHA256: sum}
	if id.Patches, err = hashFiles(patches); err != nil {
		return nil, err
	}
	name := "src-" + sum[:16]
	if len(patches) > 0 {
		name += "-" + shortHash(id.keyMaterial())[:8]
	}
	id.Tree = filepath.Join(b.kernelsDir(), name)
	unlock, err := filelock.Lock(ctx, id.Tree+".lock")
	if err != nil {
		return nil, err
	}
	defer unlock()
	if _, err := os.Stat(filepath.Join(id.Tree, ".tsemlab-unpacked")); err == nil {
		return &tree{Dir: id.Tree, ID: id}, nil
	}
	if err := b.unpack(ctx, abs, id.Tree, patches); err != nil {
		return nil, err
	}
	return &tree{Dir: id.Tree, ID: id}, nil
}

// unpack extracts the tarball into dir (its single top directory, if it
// has one, becomes dir) and applies the patches.
func (b *Builder) unpack(ctx context.Context, tarball, dir string, patches []string) error {
	partial := dir + ".partial"
	if err := os.RemoveAll(partial); err != nil {
		return err
	}
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	if err := os.MkdirAll(partial, 0o755); err != nil {
		return err
	}
	defer os.RemoveAll(partial)
	b.Log.Info("unpacking kernel source", "tarball", tarball, "into", dir)
	if out, err := runQuiet(ctx, "", "tar", "-xf", tarball, "-C", partial); err != nil {
		return fmt.Errorf("unpack %s: %w: %s", tarball, err, lastLines(out, 5))
	}
	root := partial
	if ents, err := os.ReadDir(partial); err == nil && len(ents) == 1 && ents[0].IsDir() {
		root = filepath.Join(partial, ents[0].Name())
	}
	if _, err := os.Stat(filepath.Join(root, "scripts", "kconfig", "merge_config.sh")); err != nil {
		return fmt.Errorf("%w: %s does not hold a kernel tree (no scripts/kconfig/merge_config.sh)", ErrSpec, tarball)
	}
	if err := applySeries(ctx, root, patches); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(root, ".tsemlab-unpacked"), []byte(tarball+"\n"), 0o644); err != nil {
		return err
	}
	return os.Rename(root, dir)
}

var fullSHA = regexp.MustCompile(`^[0-9a-f]{40}$`)

// gitURL shallow-clones url at ref into the cache (one clone per URL,
// fetched again for each build unless ref is a commit already there) and
// applies the patches.
func (b *Builder) gitURL(ctx context.Context, src string, patches []string) (*tree, error) {
	url, ref, _, err := gitURLRef(src)
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(b.kernelsDir(), "git-"+shortHash(url)[:16])
	unlock, err := filelock.Lock(ctx, dir+".lock")
	if err != nil {
		return nil, err
	}
	defer unlock()
	if _, err := os.Stat(filepath.Join(dir, ".git")); err != nil {
		if _, err := git(ctx, "", "init", "-q", dir); err != nil {
			return nil, fmt.Errorf("clone %s: %w", url, err)
		}
	}
	target := "FETCH_HEAD"
	if _, err := git(ctx, dir, "cat-file", "-e", ref+"^{commit}"); err == nil && fullSHA.MatchString(ref) {
		target = ref
	} else {
		b.Log.Info("fetching kernel source", "url", url, "ref", ref)
		if _, err := git(ctx, dir, "fetch", "-q", "--depth", "1", url, ref); err != nil {
			return nil, fmt.Errorf("fetch %s at %s: %w", url, ref, err)
		}
	}
	for _, args := range [][]string{{"checkout", "-q", "--detach", "-f", target}, {"clean", "-q", "-fdx"}} {
		if _, err := git(ctx, dir, args...); err != nil {
			return nil, fmt.Errorf("check out %s at %s: %w", url, ref, err)
		}
	}
	if err := applySeries(ctx, dir, patches); err != nil {
		return nil, err
	}
	id := Identity{Kind: KindGitURL, Origin: src, Tree: dir}
	if id.Patches, err = hashFiles(patches); err != nil {
		return nil, err
	}
	if err := gitState(ctx, dir, &id); err != nil {
		return nil, err
	}
	return &tree{Dir: dir, ID: id}, nil
}

// git runs git in dir ("" is the current directory) and returns stdout.
func git(ctx context.Context, dir string, args ...string) (string, error) {
	if dir != "" {
		args = append([]string{"-C", dir}, args...)
	}
	cmd := exec.CommandContext(ctx, "git", args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("git %s: %w: %s", strings.Join(args, " "), err, lastLines(errb.String(), 3))
	}
	return out.String(), nil
}

// runQuiet runs a command and returns its combined output.
func runQuiet(ctx context.Context, dir, name string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// hashFiles names and hashes files, in order.
func hashFiles(paths []string) ([]FragmentFile, error) {
	var out []FragmentFile
	for _, p := range paths {
		sum, err := digest.File(p)
		if err != nil {
			return nil, err
		}
		out = append(out, FragmentFile{Name: filepath.Base(p), Path: p, SHA256: sum})
	}
	return out, nil
}

// shortHash is the hex SHA-256 of the parts, joined by NULs.
func shortHash(parts ...string) string {
	h := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	return hex.EncodeToString(h[:])
}

// lastLines returns the last n non-empty lines of s, joined by "; " when
// n is small (for one-line errors) or newlines otherwise.
func lastLines(s string, n int) string {
	lines := slices.DeleteFunc(strings.Split(s, "\n"), func(l string) bool { return strings.TrimSpace(l) == "" })
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	sep := "\n"
	if n <= 5 {
		sep = "; "
	}
	return strings.Join(lines, sep)
}

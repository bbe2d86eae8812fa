package rootfs

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/tsemlab/tsemlab/harness/filelock"
	"github.com/tsemlab/tsemlab/internal/digest"
	"github.com/tsemlab/tsemlab/internal/procgroup"
)

// Image is a built root filesystem; its JSON form is the metadata file
// beside the image, which results can carry.
type Image struct {
	Name string `json:"name"`
	// Path is the read-only image file (erofs), to attach as a raw drive.
	Path   string `json:"path"`
	Format string `json:"format"`
	Key    string `json:"key"`
	SHA256 string `json:"sha256"`
	Size   int64  `json:"size"`
	// Release is the Debian suite the image was built from, and whether
	// it fell back from the one asked for.
	Release Release `json:"release"`
	// DebianVersion is the image's /etc/debian_version.
	DebianVersion   string    `json:"debian_version"`
	Arch            string    `json:"arch"`
	SourceDateEpoch int64     `json:"source_date_epoch"`
	Entrypoint      []string  `json:"entrypoint,omitempty"`
	Packages        []Package `json:"packages"`
	// Definition is the decoded definition the key was computed from.
	Definition *Definition `json:"definition"`
	// Log is the full build log.
	Log          string            `json:"log"`
	Built        time.Time         `json:"built"`
	BuildSeconds float64           `json:"build_seconds"`
	Tools        map[string]string `json:"tools"`
	// Cached is true when Build found the image in the cache.
	Cached bool `json:"-"`
}

// Package is one installed Debian package.
type Package struct {
	Name    string `json:"name"`
	Version string `json:"version"`
}

// Builder builds and caches images under CacheDir/images.
type Builder struct {
	// CacheDir is tsemlab's cache root.
	CacheDir string
	// Mirror is the Debian mirror; "" means Mirror().
	Mirror string
	// Suite, when set, replaces every definition's suite, with no
	// fallback; "" means SuiteOverride(), and when that is empty too the
	// definition's suite with fallback.
	Suite string
	// Refresh asks the mirror for the suite's InRelease even when the
	// answer remembered from less than ReleaseTTL ago could be used.
	Refresh bool
	// Fetcher reads the mirror; nil means HTTPFetcher{}.
	Fetcher Fetcher
	// Progress, when not nil, gets one line per build phase (a terminal;
	// leave it nil when CI=true or not a TTY).
	Progress io.Writer
	Log      *slog.Logger

	// run executes a build command; tests replace it.
	run runFunc
}

// ReleaseTTL is how long a suite's InRelease is trusted before the mirror
// is asked again, so that a cache hit needs no network. A build (a cache
// miss) always asks the mirror first.
const ReleaseTTL = 24 * time.Hour

// keepImages is how many images of one definition the cache keeps (the
// newest); each archive update or definition change makes a new one.
const keepImages = 2

// ErrNeedsRoot is returned when a build cannot run because mmdebstrap's
// root mode needs root.
var ErrNeedsRoot = errors.New("building images needs root (mmdebstrap --mode=root keeps the packages' file ownership); run as root")

// ErrMissingTool is returned when mmdebstrap or mkfs.erofs is not installed.
var ErrMissingTool = errors.New("missing tool")

// Dir is where images are cached.
func (b Builder) Dir() string { return filepath.Join(b.CacheDir, "images") }

// Build returns the image of def, building it unless an image with the
// same key is cached. Two builds of one definition wait for each other.
func (b Builder) Build(ctx context.Context, def *Definition) (*Image, error) {
	if b.Log == nil {
		b.Log = slog.New(slog.DiscardHandler)
	}
	p := &progress{w: b.Progress, name: def.Name, start: time.Now()}
	lock := filepath.Join(b.Dir(), def.Name+".lock")
	waiting := time.AfterFunc(time.Second, func() { p.phase("waiting for another tsemlab building this image (%s)", lock) })
	unlock, err := filelock.Lock(ctx, lock)
	waiting.Stop()
	if err != nil {
		return nil, err
	}
	defer unlock()

	mirror, suite, fallback := b.source(def)
	rel, fresh, err := b.release(ctx, mirror, suite, fallback, b.Refresh)
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", def.Name, err)
	}
	if img := b.cached(def, rel); img != nil {
		b.Log.Debug("image cached", "image", def.Name, "path", img.Path, "suite", rel.Suite)
		return img, nil
	}
	if !fresh {
		// A miss: make sure the key is the archive's current one.
		if rel, _, err = b.release(ctx, mirror, suite, fallback, true); err != nil {
			return nil, fmt.Errorf("image %s: %w", def.Name, err)
		}
		if img := b.cached(def, rel); img != nil {
			return img, nil
		}
	}
	p.phase("resolved suite %s at %s: %s (InRelease of %s)", suite, mirror, rel.Suite, rel.Date.Format(time.DateOnly))
	if rel.Fallback != "" {
		if p.w != nil {
			p.phase("notice: %s", rel.Fallback)
		} else {
			b.Log.Warn("image "+def.Name+": "+rel.Fallback, "image", def.Name)
		}
	}
	return b.build(ctx, def, rel, p)
}

// source says which mirror and suite def is built from, and whether the
// suite may fall back.
func (b Builder) source(def *Definition) (mirror, suite string, fallback bool) {
	mirror = b.Mirror
	if mirror == "" {
		mirror = Mirror()
	}
	mirror = strings.TrimRight(mirror, "/")
	suite = b.Suite
	if suite == "" {
		suite = SuiteOverride()
	}
	if suite != "" {
		return mirror, suite, false
	}
	return mirror, def.Suite, true
}

// release resolves the suite, from the memo of an earlier answer when it
// is younger than ReleaseTTL (unless refresh); fresh says it came from
// the mirror just now. When the mirror cannot be reached, a memo of any
// age is used, with a warning.
func (b Builder) release(ctx context.Context, mirror, suite string, fallback, refresh bool) (rel *Release, fresh bool, err error) {
	sum := sha256.Sum256([]byte(mirror + "\x00" + suite + "\x00" + strconv.FormatBool(fallback)))
	memo := filepath.Join(b.Dir(), "releases", hex.EncodeToString(sum[:8])+".json")
	var old *Release
	if data, err := os.ReadFile(memo); err == nil {
		var r Release
		if json.Unmarshal(data, &r) == nil && r.Suite != "" {
			old = &r
			if st, err := os.Stat(memo); err == nil && !refresh && time.Since(st.ModTime()) < ReleaseTTL {
				return old, false, nil
			}
		}
	}
	f := b.Fetcher
	if f == nil {
		f = HTTPFetcher{}
	}
	rel, err = ResolveRelease(ctx, f, mirror, suite, fallback)
	if err != nil {
		if old != nil && !errors.Is(err, ErrNotServed) && ctx.Err() == nil {
			b.Log.Warn("cannot reach the Debian mirror; using the suite it served before", "suite", old.Suite, "err", err)
			return old, false, nil
		}
		return nil, false, err
	}
	if data, err := json.MarshalIndent(rel, "", "  "); err == nil {
		_ = os.MkdirAll(filepath.Dir(memo), 0o755)
		_ = writeFileAtomic(memo, data)
	}
	return rel, true, nil
}

// paths are the files of the image with key k.
func (b Builder) paths(name, key string) (img, meta, log string) {
	base := filepath.Join(b.Dir(), name+"-"+key[:16])
	return base + "." + Format, base + ".json", base + ".log"
}

// cached returns the cached image of def built from rel, or nil.
func (b Builder) cached(def *Definition, rel *Release) *Image {
	key := Key(def, rel)
	imgPath, meta, _ := b.paths(def.Name, key)
	data, err := os.ReadFile(meta)
	if err != nil {
		return nil
	}
	var img Image
	if json.Unmarshal(data, &img) != nil || img.Key != key || img.Path != imgPath {
		return nil
	}
	if st, err := os.Stat(imgPath); err != nil || st.Size() != img.Size {
		return nil
	}
	img.Cached = true
	return &img
}

// build bootstraps, packs and installs the image; the lock is held.
func (b Builder) build(ctx context.Context, def *Definition, rel *Release, p *progress) (_ *Image, err error) {
	run := b.run
	if run == nil {
		if err := checkHost(); err != nil {
			return nil, fmt.Errorf("image %s: %w", def.Name, err)
		}
		run = runCommand
	}
	key := Key(def, rel)
	imgPath, metaPath, logPath := b.paths(def.Name, key)
	started := time.Now()
	if err := os.MkdirAll(b.Dir(), 0o755); err != nil {
		return nil, err
	}
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	defer func() {
		if err != nil {
			fmt.Fprintf(logf, "\nFAILED: %v\n", err)
			err = fmt.Errorf("image %s: %w (full log: %s%s)", def.Name, err, logPath, tailOf(logPath, 5))
		}
	}()
	fmt.Fprintf(logf, "tsemlab image build %s\nkey %s\nmirror %s\nsuite %s (requested %s, InRelease sha256 %s, date %s)\n",
		def.Name, key, rel.Mirror, rel.Suite, rel.Requested, rel.InReleaseSHA256, rel.Date.Format(time.RFC3339))
	if rel.Fallback != "" {
		fmt.Fprintf(logf, "notice: %s\n", rel.Fallback)
	}

	tmp, err := os.MkdirTemp(b.Dir(), ".build-"+def.Name+"-")
	if err != nil {
		return nil, err
	}
	defer func() {
		if rerr := removeBuildDir(tmp); rerr != nil {
			b.Log.Warn("cannot remove build directory", "dir", tmp, "err", rerr)
		}
	}()
	img, packed, err := b.makeImage(ctx, run, def, rel, key, tmp, logPath, logf, p)
	if err != nil {
		return nil, err
	}
	img.Path, img.Log = imgPath, logPath
	img.BuildSeconds = time.Since(started).Round(100 * time.Millisecond).Seconds()
	data, err := json.MarshalIndent(img, "", "  ")
	if err != nil {
		return nil, err
	}
	// The image first, then its metadata: a cache entry counts only when
	// both are there.
	if err := os.Chmod(packed, 0o444); err != nil {
		return nil, err
	}
	if err := os.Rename(packed, imgPath); err != nil {
		return nil, err
	}
	if err := writeFileAtomic(metaPath, data); err != nil {
		return nil, err
	}
	fmt.Fprintf(logf, "built %s (%d bytes, sha256 %s) in %.1fs\n", imgPath, img.Size, img.SHA256, img.BuildSeconds)
	p.phase("built %s (%s, %s %s)", imgPath, humanSize(img.Size), rel.Suite, img.DebianVersion)
	b.prune(def.Name, imgPath)
	return img, nil
}

// makeImage bootstraps def's tree in tmp and packs it; it returns the
// image's metadata (without its cache paths) and the packed file.
func (b Builder) makeImage(ctx context.Context, run runFunc, def *Definition, rel *Release, key, tmp, logPath string, logf io.Writer, p *progress) (*Image, string, error) {
	stage, root, packed := filepath.Join(tmp, "stage"), filepath.Join(tmp, "root"), filepath.Join(tmp, "image."+Format)
	if err := os.Mkdir(stage, 0o700); err != nil {
		return nil, "", err
	}
	for i, f := range def.Files {
		if err := os.WriteFile(StagedFile(stage, i), []byte(f.Content), 0o600); err != nil {
			return nil, "", err
		}
	}
	epoch := rel.Date.Unix()
	env := append(os.Environ(), "SOURCE_DATE_EPOCH="+strconv.FormatInt(epoch, 10))
	p.phase("mmdebstrap %s %s%s (a few minutes; log %s)", rel.Suite, def.Variant, plusPackages(def.Packages), logPath)
	if err := run(ctx, MmdebstrapArgv(def, rel, stage, root), env, logf); err != nil {
		return nil, "", fmt.Errorf("mmdebstrap: %w", err)
	}
	pkgs, err := installedPackages(filepath.Join(root, "var/lib/dpkg/status"))
	if err != nil {
		return nil, "", err
	}
	debVersion, _ := os.ReadFile(filepath.Join(root, "etc/debian_version"))
	p.phase("packing %s", Format)
	if err := run(ctx, MkfsArgv(key, epoch, root, packed), env, logf); err != nil {
		return nil, "", fmt.Errorf("mkfs.erofs: %w", err)
	}
	if b.run == nil {
		if err := run(ctx, []string{"fsck.erofs", packed}, env, logf); err != nil {
			return nil, "", fmt.Errorf("fsck.erofs of the new image: %w", err)
		}
	}
	sum, size, err := packedDigest(packed)
	if err != nil {
		return nil, "", err
	}
	img := &Image{
		Name: def.Name, Format: Format, Key: key, SHA256: sum, Size: size,
		Release: *rel, DebianVersion: strings.TrimSpace(string(debVersion)), Arch: Arch(),
		SourceDateEpoch: epoch, Entrypoint: def.Entrypoint, Packages: pkgs, Definition: def,
		Built: time.Now().UTC().Truncate(time.Second),
	}
	if b.run == nil {
		img.Tools = toolVersions(ctx)
	}
	return img, packed, nil
}

// runFunc runs one build command with its output going to log.
type runFunc func(ctx context.Context, argv, env []string, log io.Writer) error

// checkHost reports what the real build needs and lacks.
func checkHost() error {
	var missing []string
	for _, t := range []struct{ bin, pkg string }{{"mmdebstrap", "mmdebstrap"}, {"mkfs.erofs", "erofs-utils"}, {"fsck.erofs", "erofs-utils"}} {
		if _, err := exec.LookPath(t.bin); err != nil && !slices.Contains(missing, t.pkg) {
			missing = append(missing, t.pkg)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w: install it with apt-get install %s", ErrMissingTool, strings.Join(missing, " "))
	}
	if os.Geteuid() != 0 {
		return ErrNeedsRoot
	}
	return nil
}

// stopGrace is how long an interrupted command may take to clean up
// before its process group is killed.
const stopGrace = time.Minute

// runCommand runs argv in a process group of its own, with its output
// going to log. On cancellation it sends SIGTERM to the whole group, as a
// terminal's Ctrl-C would: mmdebstrap ignores signals while apt and dpkg
// run and relies on them being stopped too, then unmounts what it mounted
// in the new root and exits. Whatever is left of the group after
// stopGrace is killed, so nothing keeps writing into the build directory.
func runCommand(ctx context.Context, argv, env []string, log io.Writer) error {
	fmt.Fprintf(log, "\n$ %s\n", strings.Join(argv, " "))
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = log, log
	return procgroup.Run(ctx, cmd, stopGrace)
}

// installedPackages reads the packages dpkg's status file lists as
// installed, sorted by name.
func installedPackages(status string) ([]Package, error) {
	data, err := os.ReadFile(status)
	if err != nil {
		return nil, fmt.Errorf("read the new root's package list: %w", err)
	}
	var out []Package
	for _, para := range strings.Split(string(data), "\n\n") {
		var p Package
		installed := false
		for _, line := range strings.Split(para, "\n") {
			k, v, ok := strings.Cut(line, ": ")
			if !ok {
				continue
			}
			switch k {
			case "Package":
				p.Name = v
			case "Version":
				p.Version = v
			case "Status":
				installed = strings.HasSuffix(v, " installed")
			}
		}
		if installed && p.Name != "" {
			out = append(out, p)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// toolVersions names the tools a build used, for the metadata.
func toolVersions(ctx context.Context) map[string]string {
	out := map[string]string{}
	for name, argv := range map[string][]string{"mmdebstrap": {"mmdebstrap", "--version"}, "erofs-utils": {"fsck.erofs", "-V"}} {
		b, err := exec.CommandContext(ctx, argv[0], argv[1:]...).Output()
		if err == nil {
			out[name] = strings.TrimSpace(string(b))
		}
	}
	return out
}

// prune removes all but the newest keepImages images of name, never the
// one at current.
func (b Builder) prune(name, current string) {
	imgs, _ := filepath.Glob(filepath.Join(b.Dir(), name+"-*."+Format))
	type aged struct {
		base string
		mod  time.Time
	}
	var all []aged
	for _, p := range imgs {
		base := strings.TrimSuffix(p, "."+Format)
		// name-<16 hex>: not another definition whose name starts with name-.
		if len(filepath.Base(base)) != len(name)+17 {
			continue
		}
		if st, err := os.Stat(p); err == nil {
			all = append(all, aged{base, st.ModTime()})
		}
	}
	sort.SliceStable(all, func(i, j int) bool {
		if (all[i].base+"."+Format == current) != (all[j].base+"."+Format == current) {
			return all[i].base+"."+Format == current
		}
		return all[i].mod.After(all[j].mod)
	})
	for i := keepImages; i < len(all); i++ {
		b.Log.Debug("pruning old image", "path", all[i].base)
		for _, ext := range []string{"." + Format, ".json", ".log"} {
			os.Remove(all[i].base + ext)
		}
	}
}

// removeBuildDir removes a build directory, first detaching anything still
// mounted under it (an interrupted mmdebstrap can leave /proc, /sys or
// /dev/pts mounted in the new root): removing files through a mount would
// reach outside the build.
func removeBuildDir(dir string) error {
	mounts, err := mountsUnder(dir)
	if err != nil {
		return err
	}
	for _, m := range mounts {
		if err := syscall.Unmount(m, syscall.MNT_DETACH); err != nil {
			return fmt.Errorf("%s is still mounted (%w); unmount it, then remove %s", m, err, dir)
		}
	}
	return os.RemoveAll(dir)
}

// mountsUnder lists the mount points under dir, deepest first.
func mountsUnder(dir string) ([]string, error) {
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	return mountPointsUnder(string(data), dir), nil
}

// mountPointsUnder parses mountinfo text for mount points under dir,
// deepest first.
func mountPointsUnder(mountinfo, dir string) []string {
	dir = filepath.Clean(dir)
	var out []string
	for _, line := range strings.Split(mountinfo, "\n") {
		f := strings.Fields(line)
		if len(f) < 5 {
			continue
		}
		mp := unescapeMount(f[4])
		if strings.HasPrefix(mp, dir+"/") || mp == dir {
			out = append(out, mp)
		}
	}
	sort.Slice(out, func(i, j int) bool { return len(out[i]) > len(out[j]) })
	return out
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// writeFileAtomic writes data to a temporary file beside path and renames
// it into place.
func writeFileAtomic(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".tmp-"+filepath.Base(path)+"-")
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(f.Name())
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(f.Name())
		return err
	}
	if err := os.Chmod(f.Name(), 0o644); err != nil {
		os.Remove(f.Name())
		return err
	}
	if err := os.Rename(f.Name(), path); err != nil {
		os.Remove(f.Name())
		return err
	}
	return nil
}

// maxTailLine is where tailOf cuts a line (dpkg's command lines run to
// kilobytes).
const maxTailLine = 200

// tailOf is the last n lines of a file, formatted for an error message.
func tailOf(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	var lines []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if l == "" || strings.HasPrefix(l, "FAILED:") {
			continue
		}
		if len(l) > maxTailLine {
			l = strings.ToValidUTF8(l[:maxTailLine], "") + " ..."
		}
		lines = append(lines, l)
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	if len(lines) == 0 {
		return ""
	}
	return "; it ends:\n  " + strings.Join(lines, "\n  ")
}

func plusPackages(pkgs []string) string {
	if len(pkgs) == 0 {
		return ""
	}
	return " + " + strings.Join(pkgs, " ")
}

func humanSize(n int64) string {
	return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
}

// progress writes phase lines with the time since the build started.
type progress struct {
	w     io.Writer
	name  string
	start time.Time
}

func (p *progress) phase(format string, args ...any) {
	if p.w == nil {
		return
	}
	el := time.Since(p.start)
	fmt.Fprintf(p.w, "[%6s] %s: %s\n", el.Round(100*time.Millisecond), p.name, fmt.Sprintf(format, args...))
}

// packedDigest is the SHA-256 and size of the packed image.
func packedDigest(path string) (string, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	return digest.Reader(f)
}

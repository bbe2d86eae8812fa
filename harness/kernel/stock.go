package kernel

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/tsemlab/tsemlab/harness/filelock"
)

// StockPackage is the Debian metapackage that depends on the current cloud
// kernel: small, virtio-ready, with seccomp and capabilities, and no TSEM.
const StockPackage = "linux-image-cloud-amd64"

// Stock fetches and caches the default stock kernel.
type Stock struct {
	// CacheDir is tsemlab's cache root; kernels go under CacheDir/kernels.
	CacheDir string
	// Package is the metapackage to resolve; empty means StockPackage.
	Package string
	Log     *slog.Logger
}

// Get returns the stock kernel, downloading and unpacking it on first use.
// With no apt on the host (or no network) a previously cached kernel is used.
func (s Stock) Get(ctx context.Context) (*Kernel, error) {
	meta := s.Package
	if meta == "" {
		meta = StockPackage
	}
	root := filepath.Join(s.CacheDir, "kernels")
	pkg, version, err := resolveCached(ctx, root, meta)
	if err != nil {
		if k, cerr := newestCached(root); cerr == nil {
			s.Log.Warn("cannot ask apt for the stock kernel; using the cached one", "err", err, "kernel", k.Path)
			return k, nil
		}
		return nil, err
	}
	dir := filepath.Join(root, pkg+"_"+version)
	unlock, err := filelock.Lock(ctx, filepath.Join(root, ".lock"))
	if err != nil {
		return nil, err
	}
	defer unlock()
	if k, err := cached(dir); err == nil {
		return k, nil
	}
	s.Log.Info("fetching stock kernel with apt-get download (first use)", "package", pkg, "version", version)
	started := time.Now()
	if err := download(ctx, root, dir, pkg); err != nil {
		return nil, err
	}
	s.Log.Info("fetched stock kernel", "dir", dir, "took", time.Since(started).Round(100*time.Millisecond))
	return cached(dir)
}

// resolveTTL is how long an answer from apt is trusted: asking takes over
// a second, and a run should not pay it every time.
const resolveTTL = 24 * time.Hour

// resolveCached is resolve, remembered in root for resolveTTL.
func resolveCached(ctx context.Context, root, meta string) (pkg, version string, err error) {
	memo := filepath.Join(root, meta+".resolved")
	if st, err := os.Stat(memo); err == nil && time.Since(st.ModTime()) < resolveTTL {
		if b, err := os.ReadFile(memo); err == nil {
			if f := strings.Fields(string(b)); len(f) == 2 {
				if _, err := cached(filepath.Join(root, f[0]+"_"+f[1])); err == nil {
					return f[0], f[1], nil
				}
			}
		}
	}
	pkg, version, err = resolve(ctx, meta)
	if err != nil {
		return "", "", err
	}
	if os.MkdirAll(root, 0o755) == nil {
		_ = os.WriteFile(memo, []byte(pkg+" "+version+"\n"), 0o644)
	}
	return pkg, version, nil
}

// resolve asks apt which real package the metapackage depends on, and its
// candidate version.
func resolve(ctx context.Context, meta string) (pkg, version string, err error) {
	if _, err := exec.LookPath("apt-cache"); err != nil {
		return "", "", fmt.Errorf("the default kernel is Debian's %s, fetched with apt, and this host has no apt-cache: pass a bzImage with --kernel", meta)
	}
	out, err := exec.CommandContext(ctx, "apt-cache", "depends", "--no-recommends", "--no-suggests", meta).Output()
	if err != nil || !bytes.Contains(out, []byte("Depends:")) {
		return "", "", fmt.Errorf("apt does not know %s: run `apt-get update` (the package index may be empty) or pass a bzImage with --kernel", meta)
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 2 && f[0] == "Depends:" && strings.HasPrefix(f[1], "linux-image-") {
			pkg = f[1]
			break
		}
	}
	if pkg == "" {
		return "", "", fmt.Errorf("apt-cache depends %s names no linux-image package:\n%s", meta, out)
	}
	out, err = exec.CommandContext(ctx, "apt-cache", "show", "--no-all-versions", pkg).Output()
	if err != nil {
		return "", "", fmt.Errorf("apt-cache show %s: %w", pkg, err)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if v, ok := strings.CutPrefix(line, "Version: "); ok {
			version = strings.TrimSpace(v)
			break
		}
	}
	if version == "" {
		return "", "", fmt.Errorf("apt-cache show %s gives no Version", pkg)
	}
	return pkg, version, nil
}

// download fetches pkg with `apt-get download` and unpacks it into dir with
// `dpkg-deb -x`, atomically: dir appears whole or not at all.
func download(ctx context.Context, root, dir, pkg string) error {
	if err := os.MkdirAll(root, 0o755); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(root, ".fetch-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	cmd := exec.CommandContext(ctx, "apt-get", "download", pkg)
	cmd.Dir = tmp
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("apt-get download %s: %w\n%s", pkg, err, out)
	}
	debs, _ := filepath.Glob(filepath.Join(tmp, "*.deb"))
	if len(debs) != 1 {
		return fmt.Errorf("apt-get download %s left %d .deb files, want 1", pkg, len(debs))
	}
	x := filepath.Join(tmp, "x")
	if out, err := exec.CommandContext(ctx, "dpkg-deb", "-x", debs[0], x).CombinedOutput(); err != nil {
		return fmt.Errorf("dpkg-deb -x %s: %w\n%s", filepath.Base(debs[0]), err, out)
	}
	if err := os.WriteFile(filepath.Join(x, ".origin"), []byte("debian package "+filepath.Base(debs[0])+"\n"), 0o644); err != nil {
		return err
	}
	if err := os.Rename(x, dir); err != nil && !errors.Is(err, os.ErrExist) {
		return fmt.Errorf("install kernel into cache: %w", err)
	}
	return nil
}

// cached returns the kernel unpacked in dir.
func cached(dir string) (*Kernel, error) {
	imgs, _ := filepath.Glob(filepath.Join(dir, "boot", "vmlinuz-*"))
	if len(imgs) != 1 {
		return nil, fmt.Errorf("%s holds %d kernel images, want 1", dir, len(imgs))
	}
	k, err := Open(imgs[0])
	if err != nil {
		return nil, err
	}
	origin, _ := os.ReadFile(filepath.Join(dir, ".origin"))
	k.Origin = strings.TrimSpace(string(origin))
	if m := filepath.Join(dir, "lib", "modules", k.Release); isDir(m) {
		k.ModulesDir = m
	}
	return k, nil
}

func newestCached(root string) (*Kernel, error) {
	dirs, _ := filepath.Glob(filepath.Join(root, "linux-image-*"))
	sort.Sort(sort.Reverse(sort.StringSlice(dirs)))
	for _, d := range dirs {
		if k, err := cached(d); err == nil {
			return k, nil
		}
	}
	return nil, errors.New("no cached stock kernel")
}

func isDir(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}

// Package kbuild builds bzImages from a kernel tree and kernel/config
// fragments, cached.
//
// A build takes a source (a local tree, a git URL at a ref, shallow-cloned
// into the cache, or a tarball plus a patch series, unpacked into the
// cache), a base configuration (tinyconfig, defconfig or a .config file)
// and fragments merged onto it with the tree's own
// scripts/kconfig/merge_config.sh. After olddefconfig every option a
// fragment asks for is checked in the final .config; an option that did not
// survive stops the build before anything compiles, with the likely cause
// (*ConfigError, errors.Is ErrConfig).
//
// The result is cached by a key made of the source's identity (git revision
// and a hash of the uncommitted diff, or the tarball's and patches'
// hashes), the configuration inputs and the compiler's version, so a second
// build of the same thing returns at once. The out-of-tree build directory
// (make O=) is kept per tree, base and fragment names and reused, with ccache when
// it is installed, so a one-file change rebuilds in about a minute; this is
// what makes `git bisect run tsemlab bisect-step` affordable.
//
// Layout under <cache>/kernels:
//
//	kbuild-<key>/          bzImage, config, kbuild.json (what was built from what), build.log
//	build-<tree+names>/    make O= directory per tree, base and fragment names, reused
//	src-<tarball+patches>/ unpacked tarball with its patches applied
//	git-<url>/             shallow clone of a git URL
//	ccache/                ccache's directory
//	logs/<key>.log         the log of the build in progress or of the last failed one
package kbuild

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"time"
)

// Spec is what to build, as the user wrote it.
type Spec struct {
	// Source is a kernel tree directory, a git URL with a ref
	// ("https://host/linux.git@v6.12") or a tarball (.tar, .tar.xz, .tar.gz,
	// .tgz, .tar.bz2, .tar.zst).
	Source string
	// Patches is a directory of patches (*.patch, *.diff) applied in name
	// order; tarball and git URL sources only.
	Patches string
	// Base is tinyconfig (the default when ""), defconfig or the path of a
	// .config file.
	Base string
	// Fragments are kernel config fragment files, merged in order.
	Fragments []string
}

// DefaultBase is the base configuration when Spec.Base is empty: the
// smallest kernel, fastest to build and to boot.
const DefaultBase = "tinyconfig"

// Builder builds and caches kernels.
type Builder struct {
	// CacheDir is tsemlab's cache directory; kernels go under its kernels/.
	CacheDir string
	// Jobs is make's -j; 0 means the number of CPUs.
	Jobs int
	// Progress receives a one-line status (phase, objects compiled,
	// elapsed time) rewritten in place; nil is quiet. Meant for a terminal.
	Progress io.Writer
	// NoCCache builds without ccache even when it is installed.
	NoCCache bool
	Log      *slog.Logger

	// compilerVersion replaces `gcc --version` in tests.
	compilerVersion func(context.Context) (string, error)
}

// Kernel is a built kernel and what it was built from (kbuild.json).
type Kernel struct {
	// Path is the bzImage.
	Path string `json:"-"`
	// Dir is the cache directory holding it.
	Dir string `json:"-"`
	// Key is the cache key (hex SHA-256).
	Key    string   `json:"key"`
	Source Identity `json:"source"`
	// Base and Fragments are the configuration inputs.
	Base      string         `json:"base"`
	Fragments []FragmentFile `json:"fragments"`
	// ConfigSHA256 is the hash of the final .config.
	ConfigSHA256 string `json:"config_sha256"`
	// Compiler is the first line of the compiler's --version.
	Compiler string `json:"compiler"`
	CCache   bool   `json:"ccache"`
	// SetAside are the fragments' options declared only by another
	// architecture (kvm_guest.config's CONFIG_S390_GUEST), which no x86
	// build can set: noted, not an error.
	SetAside []string `json:"set_aside,omitempty"`
	// BuildDir is the make O= directory the kernel was built in.
	BuildDir string    `json:"build_dir"`
	Built    time.Time `json:"built"`
	// Seconds is how long the build took; Objects how many objects it
	// compiled (few when the build directory was reused).
	Seconds float64 `json:"seconds"`
	Objects int     `json:"objects"`
	// Cached is true when Build found the kernel in the cache.
	Cached bool `json:"-"`
	// Log is the full build log.
	Log string `json:"-"`
}

// FragmentFile is one fragment as it went into a build.
type FragmentFile struct {
	Name   string `json:"name"`
	Path   string `json:"path"`
	SHA256 string `json:"sha256"`
}

// Errors callers branch on (with errors.Is).
var (
	// ErrSpec is bad input: an unknown source, a fragment that does not
	// parse, patches for a local tree.
	ErrSpec = errors.New("bad kernel build spec")
	// ErrConfig is a configuration whose requested options did not survive
	// olddefconfig; nothing was compiled.
	ErrConfig = errors.New("kernel configuration")
	// ErrBuild is a failed make; the log is kept.
	ErrBuild = errors.New("kernel build failed")
	// ErrPatch is a patch of the series that does not apply.
	ErrPatch = errors.New("patch does not apply")
	// ErrTools is a build tool missing from this host.
	ErrTools = errors.New("kernel build tools missing")
)

func (b *Builder) kernelsDir() string { return filepath.Join(b.CacheDir, "kernels") }

// ConfigInputs names the base and fragments ("tinyconfig + virt.config").
func (k *Kernel) ConfigInputs() string {
	parts := []string{filepath.Base(k.Base)}
	for _, f := range k.Fragments {
		parts = append(parts, f.Name)
	}
	return strings.Join(parts, " + ")
}

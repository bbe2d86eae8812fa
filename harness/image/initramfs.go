// Package image builds the guest's u-root initramfs (cached by a hash of its
// inputs) and the small per-scenario archive that carries the plan.
//
// The base image holds u-root's core commands (one busybox binary), the
// guest's own init (tsemlab-init: mounts, then starts the orchestrator), the
// tsemlab-guest orchestrator, a few host programs with their
// shared libraries (bash, GNU chown; runc when the host has it and
// apparmor_parser on a tools drive beside it, see DrivePrograms), an
// /etc with the users scenarios rely on, and the stock kernel's modules the
// guest needs.
package image

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/u-root/gobusybox/src/pkg/golang"
	"github.com/u-root/mkuimage/cpio"
	"github.com/u-root/mkuimage/uimage"
	"github.com/u-root/uio/llog"

	"github.com/tsemlab/tsemlab/harness/filelock"
	"github.com/tsemlab/tsemlab/harness/kernel"
	"github.com/tsemlab/tsemlab/internal/digest"
	"github.com/tsemlab/tsemlab/protocol"
)

// Module is this Go module's path; the builder compiles the orchestrator
// from a checkout of it.
const Module = "github.com/tsemlab/tsemlab"

// GuestCommand is the orchestrator's package; InitCommand's program starts
// it.
const GuestCommand = Module + "/cmd/tsemlab-guest"

// MainThreadCommand goes into the u-root busybox so that every command
// there runs its main on the process's main thread (see package
// internal/mainthread: TSEM models a Go program's events differently by
// thread).
const MainThreadCommand = Module + "/cmd/mainthread"

// InitCommand is the guest's init (/init, pid 1): package
// orchestrator/guestinit says why it is not u-root's.
const InitCommand = Module + "/cmd/tsemlab-init"

// ModulesList is where the guest finds the modules to load, in order.
const ModulesList = protocol.ModulesList

// Commands are the u-root core commands in every image (see tools.go).
var Commands = []string{
	"cat", "chmod", "cmp", "cp", "date", "dd", "dmesg", "echo", "false", "find",
	"free", "grep", "head", "hostname", "id", "kill", "ln", "ls", "lsmod",
	"mkdir", "mount", "mv", "printenv", "ps", "pwd", "readlink", "rm", "seq",
	"sleep", "sort", "strings", "sync", "tail", "tee", "touch", "tr", "true",
	"umount", "uname", "uniq", "uptime", "wc", "which",
}

// HostPrograms are copied from the host with their shared libraries, for
// what u-root lacks or does differently: bash (the documented experiments
// type into bash), GNU chown (u-root has none), GNU ls, chmod and mkdir
// (the seccomp labs learn and enforce profiles of real C programs, whose
// system calls do not vary from run to run like a Go runtime's; u-root's
// chmod cannot set the setuid bit), and Debian's apparmor_parser (the
// AppArmor labs load profiles with it). In /bin they come before u-root's
// commands on the guest's PATH.
var HostPrograms = []string{"bash", "chown", "ls", "chmod", "mkdir", "apparmor_parser"}

// OptionalHostPrograms are packed like HostPrograms when the host has them:
// Debian's runc runs container-mode scenarios. Without it the image is
// built without, and container scenarios are refused before anything boots
// (lab.RootFS says to install it).
var OptionalHostPrograms = []string{"runc"}

// GuestModules are the stock-kernel modules the orchestrator loads when they
// are modules and not built in: pvpanic lets QEMU report GUEST_PANICKED;
// virtio_pci and virtio_blk give the guest the workload image's disk, erofs
// reads it and overlay puts a writable layer on it.
var GuestModules = []string{"pvpanic_pci", "virtio_pci", "virtio_blk", "erofs", "overlay"}

// Spec is what goes into a base image.
type Spec struct {
	// SourceDir is a checkout of this module (holding go.mod).
	SourceDir string
	// Modules are the kernel modules to pack, in load order.
	Modules []kernel.Module
	// KernelRelease names lib/modules/<release> inside the image.
	KernelRelease string
}

// Image is a built initramfs.
type Image struct {
	Path   string `json:"path"`
	SHA256 string `json:"sha256"`
	// Tools is the tools drive (DrivePrograms on erofs) built with it, or
	// "" when those programs are in the initramfs.
	Tools string `json:"tools,omitempty"`
	// Key is the hash of the inputs it was built from.
	Key string `json:"key"`

	// release drops the shared lock Base holds on Path while the image
	// is in use; nil for an Image that Base did not return.
	release func()
}

// Release tells the cache the image is no longer in use, so that a later
// build may prune it. Base holds a shared lock on the image file from the
// moment it returns it (pruning skips locked images), so that a run keeps
// its image however many other runs build new ones meanwhile; the lock
// also ends when the process exits. Release may be called more than once.
func (img *Image) Release() {
	if img != nil && img.release != nil {
		img.release()
		img.release = nil
	}
}

// Builder builds and caches base images.
type Builder struct {
	// CacheDir is tsemlab's cache root; images go under CacheDir/initramfs.
	CacheDir string
	Log      *slog.Logger
}

// Base returns the base image for spec, building it unless an image with
// the same inputs is cached.
func (b Builder) Base(ctx context.Context, spec Spec) (*Image, error) {
	hosts, err := hostPrograms()
	if err != nil {
		return nil, err
	}
	drive := toolsDrive()
	key, err := inputKey(spec, hosts, drive)
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(b.CacheDir, "initramfs")
	out := filepath.Join(dir, key[:16]+".cpio")
	meta := out + ".json"
	unlock, err := filelock.Lock(ctx, filepath.Join(dir, ".lock"))
	if err != nil {
		return nil, err
	}
	defer unlock()
	if data, err := os.ReadFile(meta); err == nil {
		var img Image
		if json.Unmarshal(data, &img) == nil && img.Key == key && exists(out) && (img.Tools == "" || exists(toolsPath(out))) {
			img.Path = out // where it is now, should the cache have moved
			if img.Tools != "" {
				img.Tools = toolsPath(out)
			}
			// The newest-used images survive pruning: a hit counts as use.
			now := time.Now()
			if err := os.Chtimes(out, now, now); err != nil {
				b.Log.Warn("cannot mark the cached initramfs as used; a later build may prune it after this run", "path", out, "err", err)
			}
			if err := img.hold(ctx); err != nil {
				return nil, err
			}
			return &img, nil
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	b.Log.Info("building u-root initramfs (first use or inputs changed; about two minutes)", "key", key[:16])
	started := time.Now()
	tmp, err := os.MkdirTemp(dir, ".build-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	partial, tools := filepath.Join(tmp, "initramfs.cpio"), ""
	if drive {
		tools = filepath.Join(tmp, "tools.erofs")
	}
	if err := build(ctx, spec, hosts, tmp, partial, tools, key, b.Log); err != nil {
		return nil, err
	}
	sum, err := digest.File(partial)
	if err != nil {
		return nil, err
	}
	img := Image{Path: out, SHA256: sum, Key: key}
	if tools != "" && exists(tools) {
		img.Tools = toolsPath(out)
		if err := os.Rename(tools, img.Tools); err != nil {
			return nil, err
		}
	}
	if err := os.Rename(partial, out); err != nil {
		return nil, err
	}
	data, _ := json.MarshalIndent(img, "", "  ")
	if err := os.WriteFile(meta, data, 0o644); err != nil {
		return nil, err
	}
	if err := img.hold(ctx); err != nil {
		return nil, err
	}
	prune(dir, keepImages, b.Log)
	b.Log.Info("built u-root initramfs", "path", out, "took", time.Since(started).Round(time.Second))
	return &img, nil
}

// keepImages is how many base images the cache keeps (the newest); each
// change to the guest's sources makes a new one.
const keepImages = 4

// hold takes the shared lock that keeps prune away from img until Release.
// Base calls it under the cache directory's lock, which prune also runs
// under, so no prune can remove the file between the check and the lock.
func (img *Image) hold(ctx context.Context) error {
	release, err := filelock.Shared(ctx, img.Path)
	if err != nil {
		return fmt.Errorf("mark initramfs in use: %w", err)
	}
	img.release = release
	return nil
}

// prune removes all but the newest keep images from dir (newest by
// modification time, which a cache hit updates). An image that a running
// tsemlab holds (see Image.Release) is kept whatever its age: prune takes
// an exclusive lock on each image it removes without waiting and skips the
// ones it cannot lock.
func prune(dir string, keep int, log *slog.Logger) {
	imgs, _ := filepath.Glob(filepath.Join(dir, "*.cpio"))
	type aged struct {
		path string
		mod  int64
	}
	var all []aged
	for _, p := range imgs {
		if st, err := os.Stat(p); err == nil {
			all = append(all, aged{p, st.ModTime().UnixNano()})
		}
	}
	sort.Slice(all, func(i, j int) bool { return all[i].mod > all[j].mod })
	for i := keep; i < len(all); i++ {
		p := all[i].path
		unlock, err := filelock.TryLock(p)
		if errors.Is(err, filelock.ErrLocked) {
			log.Debug("keeping an old initramfs another tsemlab is using", "path", p)
			continue
		}
		if err != nil {
			log.Debug("not pruning initramfs", "path", p, "err", err)
			continue
		}
		log.Debug("pruning old initramfs", "path", p)
		os.Remove(p)
		os.Remove(p + ".json")
		os.Remove(toolsPath(p))
		unlock()
	}
}

// busyboxCommands are the packages of the guest's u-root busybox.
func busyboxCommands() []string {
	var pkgs []string
	for _, c := range Commands {
		pkgs = append(pkgs, "github.com/u-root/u-root/cmds/core/"+c)
	}
	return append(pkgs, MainThreadCommand)
}

// build builds the initramfs at out and, when tools is not "", the tools
// drive there (see DrivePrograms).
func build(ctx context.Context, spec Spec, hosts map[string]string, tmp, out, tools, key string, log *slog.Logger) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	files, onDrive := driveFiles(hosts, tools != "")
	base, err := baseArchive(spec, toolLinks(onDrive)...)
	if err != nil {
		return err
	}
	libs, err := toolLibraries(onDrive)
	if err != nil {
		return err
	}
	files = append(files, libs...)
	if len(onDrive) > 0 {
		if err := buildTools(ctx, onDrive, key, tmp, tools); err != nil {
			return err
		}
	}
	ucmds := busyboxCommands()
	l := llog.New(slog.LevelWarn, func(format string, v ...any) {
		log.Debug(fmt.Sprintf(format, v...))
	})
	err = uimage.Create(l,
		uimage.WithEnv(golang.DisableCGO(), golang.WithWorkingDir(spec.SourceDir)),
		uimage.WithBusyboxCommands(ucmds...),
		uimage.WithBinaryCommands(GuestCommand, InitCommand),
		uimage.WithInit("tsemlab-init"),
		uimage.WithShell("/bin/bash"),
		uimage.WithFiles(files...),
		uimage.WithBaseArchive(base),
		uimage.WithTempDir(tmp),
		uimage.WithCPIOOutput(out),
	)
	if err != nil {
		return fmt.Errorf("build initramfs with mkuimage (from %s): %w", spec.SourceDir, err)
	}
	return nil
}

// passwd and group give scenarios the users the documents use: root, nobody
// and rocinante (uid 1000) of the process-mode grep experiment.
const (
	passwd = "root:x:0:0:root:/root:/bin/bash\n" +
		"nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n" +
		"rocinante:x:1000:1000:Rocinante,,,:/home/rocinante:/bin/bash\n"
	group = "root:x:0:\nnogroup:x:65534:\nrocinante:x:1000:\n"
)

func baseArchive(spec Spec, extra ...cpio.Record) (*cpio.Archive, error) {
	recs := []cpio.Record{
		cpio.Directory("etc", 0o755),
		cpio.StaticFile("etc/passwd", passwd, 0o644),
		cpio.StaticFile("etc/group", group, 0o644),
		cpio.StaticFile("etc/hostname", "tsemlab\n", 0o644),
		cpio.Directory("root", 0o700),
		cpio.Directory("home", 0o755),
		cpio.Directory("home/rocinante", 0o755),
		cpio.Directory("tsemlab", 0o755),
	}
	var list []string
	if len(spec.Modules) > 0 {
		dir := path.Join("lib/modules", spec.KernelRelease, "tsemlab")
		recs = append(recs, cpio.Directory("lib", 0o755), cpio.Directory("lib/modules", 0o755),
			cpio.Directory(path.Join("lib/modules", spec.KernelRelease), 0o755), cpio.Directory(dir, 0o755))
		for _, m := range spec.Modules {
			data, err := os.ReadFile(m.Path)
			if err != nil {
				return nil, fmt.Errorf("pack module %s: %w", m.Name, err)
			}
			p := path.Join(dir, m.Name+".ko")
			recs = append(recs, cpio.StaticFile(p, string(data), 0o644))
			list = append(list, "/"+p)
		}
	}
	recs = append(recs, cpio.StaticFile(strings.TrimPrefix(ModulesList, "/"), strings.Join(list, "\n")+"\n", 0o644))
	if len(extra) > 0 {
		recs = append(recs, cpio.Directory("bin", 0o755))
		recs = append(recs, extra...)
	}
	// mkuimage adds its defaults (/dev nodes, /tmp, ...) only when no base
	// archive is given, so start from them.
	all, err := cpio.ReadAllRecords(uimage.DefaultRamfs().Reader())
	if err != nil {
		return nil, err
	}
	a, err := cpio.ArchiveFromRecords(all)
	if err != nil {
		return nil, err
	}
	for _, r := range recs {
		if _, ok := a.Get(r.Name); ok {
			continue
		}
		if err := a.WriteRecord(r); err != nil {
			return nil, err
		}
	}
	return a, nil
}

// hostPrograms resolves HostPrograms, and those of OptionalHostPrograms
// the host has, on the host's PATH.
func hostPrograms() (map[string]string, error) {
	out := map[string]string{}
	for _, name := range HostPrograms {
		p, err := exec.LookPath(name)
		for _, dir := range []string{"/usr/sbin", "/sbin"} {
			if err != nil {
				p, err = exec.LookPath(filepath.Join(dir, name))
			}
		}
		if err != nil {
			return nil, fmt.Errorf("the guest image needs the host's %s: install it (apt-get install bash coreutils apparmor)", name)
		}
		if p, err = filepath.EvalSymlinks(p); err != nil {
			return nil, err
		}
		out[name] = p
	}
	for _, name := range OptionalHostPrograms {
		if p, err := exec.LookPath(name); err == nil {
			if p, err = filepath.EvalSymlinks(p); err == nil {
				out[name] = p
			}
		}
	}
	return out, nil
}

// GuestSourceDirs hold every package of this module the guest binary
// and the busybox link (internal/archtest checks it against go list): their Go files are
// part of the image key, so that a change to any of them rebuilds the
// image.
var GuestSourceDirs = []string{"cmd/tsemlab-guest", "cmd/tsemlab-init", "cmd/mainthread", "orchestrator", "protocol", "model", "event", "seccomp", "internal/suggest", "internal/fileutil", "internal/mainthread"}

// inputKey hashes everything the image is built from: the guest's Go
// sources, go.mod and go.sum, the command lists, the toolchain, the host
// programs, the modules, and whether DrivePrograms go on a tools drive.
func inputKey(spec Spec, hosts map[string]string, drive bool) (string, error) {
	h := sha256.New()
	fmt.Fprintf(h, "tsemlab-initramfs v1\n%s\n%s\n", runtime.Version(), goVersion())
	fmt.Fprintf(h, "busybox %v\nhost %v\nmodules-for %s\ntools-drive %v\n", busyboxCommands(), sortedKeys(hosts), spec.KernelRelease, drive)
	fmt.Fprintf(h, "etc %q %q\n", passwd, group)
	var files []string
	for _, f := range []string{"go.mod", "go.sum"} {
		files = append(files, filepath.Join(spec.SourceDir, f))
	}
	for _, d := range GuestSourceDirs {
		root := filepath.Join(spec.SourceDir, d)
		err := filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
			if err != nil {
				if errors.Is(err, fs.ErrNotExist) {
					return nil
				}
				return err
			}
			if !e.IsDir() && strings.HasSuffix(p, ".go") && !strings.HasSuffix(p, "_test.go") {
				files = append(files, p)
			}
			return nil
		})
		if err != nil {
			return "", err
		}
	}
	names := make([]string, 0, len(hosts))
	for _, p := range hosts {
		names = append(names, p)
	}
	sort.Strings(names)
	files = append(files, names...)
	for _, m := range spec.Modules {
		files = append(files, m.Path)
	}
	for _, f := range files {
		sum, err := digest.File(f)
		if err != nil {
			return "", fmt.Errorf("hash image input: %w", err)
		}
		rel, _ := filepath.Rel(spec.SourceDir, f)
		fmt.Fprintf(h, "%s %s\n", rel, sum)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func goVersion() string {
	out, err := exec.Command("go", "env", "GOVERSION").Output()
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(out))
}

// WithPlan writes dst: the base image followed by a second archive holding
// the plan (the kernel unpacks concatenated archives in order), so a plan
// never costs a rebuild.
func WithPlan(base *Image, plan protocol.Plan, dst string) error {
	data, err := json.MarshalIndent(plan, "", "  ")
	if err != nil {
		return fmt.Errorf("encode plan: %w", err)
	}
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	defer out.Close()
	in, err := os.Open(base.Path)
	if err != nil {
		return fmt.Errorf("base initramfs: %w", err)
	}
	defer in.Close()
	n, err := io.Copy(out, in)
	if err != nil {
		return err
	}
	// The kernel skips NUL padding between archives but expects each to
	// start 4-byte aligned.
	if pad := (4 - n%4) % 4; pad > 0 {
		if _, err := out.Write(make([]byte, pad)); err != nil {
			return err
		}
	}
	w := cpio.Newc.Writer(out)
	recs := []cpio.Record{
		cpio.Directory("tsemlab", 0o755),
		cpio.StaticFile(strings.TrimPrefix(protocol.PlanPath, "/"), string(data), 0o644),
	}
	if err := cpio.WriteRecords(w, recs); err != nil {
		return fmt.Errorf("write plan archive: %w", err)
	}
	if err := cpio.WriteTrailer(w); err != nil {
		return fmt.Errorf("write plan archive: %w", err)
	}
	return out.Close()
}

// FindSource returns the checkout of this module that contains dir, walking
// up to the go.mod that declares Module.
func FindSource(dir string) (string, error) {
	d, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	for {
		data, err := os.ReadFile(filepath.Join(d, "go.mod"))
		if err == nil && strings.Contains(string(data), "module "+Module+"\n") {
			return d, nil
		}
		parent := filepath.Dir(d)
		if parent == d {
			return "", fmt.Errorf("no checkout of %s above %s: run tsemlab from the tsemlab source tree (the guest orchestrator is compiled from it), or set TSEMLAB_SRC", Module, dir)
		}
		d = parent
	}
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

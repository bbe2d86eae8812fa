package rootfs

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"runtime"
	"strconv"
	"strings"

	"github.com/tsemlab/tsemlab/internal/digest"
)

// recipeVersion changes whenever the build's commands change in a way that
// changes images; it is part of every key.
const recipeVersion = 1

// Format is the filesystem images are packed as, and their file extension.
const Format = "erofs"

// Arch is the Debian architecture images are built for: the host's.
func Arch() string {
	switch runtime.GOARCH {
	case "386":
		return "i386"
	case "arm":
		return "armhf"
	}
	return runtime.GOARCH // amd64, arm64, riscv64, ppc64le, s390x
}

// Key is the cache key of the image def builds from rel: a hash of the
// decoded definition (so layout, comments and description do not count),
// the suite's InRelease (so any change to the archive does), the
// architecture and the recipe. It is hex; file names use its first 16
// characters.
func Key(def *Definition, rel *Release) string {
	in := struct {
		Recipe     int         `json:"recipe"`
		Format     string      `json:"format"`
		Arch       string      `json:"arch"`
		Definition *Definition `json:"definition"`
		Mirror     string      `json:"mirror"`
		Suite      string      `json:"suite"`
		InRelease  string      `json:"inrelease_sha256"`
	}{recipeVersion, Format, Arch(), def, rel.Mirror, rel.Suite, rel.InReleaseSHA256}
	b, err := json.Marshal(in)
	if err != nil {
		panic(err) // plain strings and ints cannot fail to marshal
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// StagedFile is where the build stages def.Files[i] on the host before a
// hook copies it into the new root.
func StagedFile(stage string, i int) string {
	return fmt.Sprintf("%s/file-%d", stage, i)
}

// MmdebstrapArgv is the command that bootstraps def from rel into root (a
// directory that must not exist yet), with the definition's files staged
// under stage. It is run as root with SOURCE_DATE_EPOCH set to rel.Date.
// Hooks run in order: hostname and resolv.conf (so the image does not
// depend on the build host), users, files, then the customize commands.
func MmdebstrapArgv(def *Definition, rel *Release, stage, root string) []string {
	argv := []string{
		"mmdebstrap",
		"--verbose",
		"--mode=root",
		"--format=directory",
		"--variant=" + def.Variant,
		"--architectures=" + Arch(),
		`--aptopt=Acquire::Languages "none"`,
	}
	if len(def.Packages) > 0 {
		argv = append(argv, "--include="+strings.Join(def.Packages, ","))
	}
	hook := func(cmd string) { argv = append(argv, "--customize-hook="+cmd) }
	hook(inRoot(fmt.Sprintf("echo %s > /etc/hostname && : > /etc/resolv.conf", def.Name)))
	for _, u := range def.Users {
		hook(fmt.Sprintf(`chroot "$1" useradd --uid %d --user-group --create-home --shell %s %s`, u.UID, u.Shell, u.Name))
	}
	for i, f := range def.Files {
		dir := f.Path[:strings.LastIndexByte(f.Path, '/')]
		script := fmt.Sprintf("cat > %s && chmod %04o %s", f.Path, f.Mode, f.Path)
		if dir != "" {
			script = "mkdir -p " + dir + " && " + script
		}
		// cat runs inside the root, so a symlink on the path resolves
		// there, never on the host.
		hook(inRoot(script) + " < " + shellQuote(StagedFile(stage, i)))
	}
	for _, c := range def.Customize {
		hook(inRoot(c))
	}
	return append(argv, rel.Suite, root, rel.Mirror)
}

// inRoot is a hook that runs script with /bin/sh inside the new root.
func inRoot(script string) string {
	return `chroot "$1" /bin/sh -c ` + shellQuote(script)
}

// shellQuote quotes s for sh: 'it'\”s'.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// MkfsArgv is the command that packs root into out: erofs with LZ4HC
// (which Debian 6.1 kernels and later mount), every timestamp set to epoch,
// a UUID derived from key, no extended attributes. Ownership and modes are
// kept as the packages set them (the build runs as root, so they are the
// same every time). mkfs.erofs writes directories sorted by name.
func MkfsArgv(key string, epoch int64, root, out string) []string {
	return []string{
		"mkfs.erofs",
		"--quiet",
		"-zlz4hc",
		"-x-1",
		"-T" + strconv.FormatInt(epoch, 10),
		"-U" + digest.UUID(key),
		out,
		root,
	}
}

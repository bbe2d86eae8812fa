// Package rootfs builds the read-only workload root filesystems defined in
// images/.
//
// A definition (images/NAME.yaml) names a Debian suite, a variant, the
// packages to add, users, files and commands to run in the new root. Build
// resolves the suite against a Debian mirror (falling back to the mirror's
// stable release when the suite is gone), bootstraps it with mmdebstrap,
// packs the tree into one erofs image with reproducible options, and caches
// the image by a hash of the decoded definition and the suite's InRelease
// file, with a JSON metadata file and the full build log beside it. The
// guest attaches the image as a read-only virtio disk and mounts it under a
// writable overlay.
package rootfs

import "regexp"

// Defaults for fields a definition leaves out.
const (
	// DefaultSuite is the suite of the documented experiments' containers.
	DefaultSuite   = "buster"
	DefaultVariant = "minbase"
	DefaultShell   = "/bin/bash"
	DefaultMode    = 0o644
)

// Variants are the mmdebstrap variants a definition may name: the Debian
// priority sets, smallest first.
var Variants = []string{"minbase", "required", "important", "standard"}

// Reserved are names a definition cannot take: `tsemlab image build
// initramfs` means the u-root initramfs.
var Reserved = []string{"initramfs"}

// Definition is one image as its file describes it, validated, with
// defaults filled in.
type Definition struct {
	// File is where it was read from; not part of the image.
	File string `json:"-"`
	// Name is the file's base name without .yaml; scenarios name images by it.
	Name string `json:"name"`
	// Description is for people; it does not change the image.
	Description string `json:"-"`
	// Suite is the Debian suite wanted (codename); the build falls back
	// to the mirror's stable release when the mirror no longer serves it.
	Suite string `json:"suite"`
	// Variant is the mmdebstrap variant (the base package set).
	Variant string `json:"variant"`
	// Packages are installed on top of the variant, with their
	// dependencies (not their recommendations).
	Packages []string `json:"packages,omitempty"`
	// Users are created after the packages, each with a group of its own
	// name and id and a home directory from /etc/skel.
	Users []User `json:"users,omitempty"`
	// Files are written after the users, owned by root.
	Files []File `json:"files,omitempty"`
	// Customize are shell commands run with /bin/sh -c inside the new
	// root, in order, after the files.
	Customize []string `json:"customize,omitempty"`
	// Entrypoint is the command a container started from the image runs
	// by default; empty means the scenario's shell. The build only
	// records it.
	Entrypoint []string `json:"entrypoint,omitempty"`
}

// User is an account created in the image.
type User struct {
	Name  string `json:"name"`
	UID   int    `json:"uid"`
	Shell string `json:"shell"`
}

// File is a regular file written into the image.
type File struct {
	// Path is absolute and clean.
	Path string `json:"path"`
	// Mode holds the permission bits as chmod takes them (0644, 04755).
	Mode    uint32 `json:"mode"`
	Content string `json:"content"`
}

var (
	nameRE    = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]*$`)
	suiteRE   = regexp.MustCompile(`^[a-z][a-z0-9-]*$`)
	packageRE = regexp.MustCompile(`^[a-z0-9][a-z0-9+.-]+$`)
	userRE    = regexp.MustCompile(`^[a-z_][a-z0-9_-]{0,31}$`)
	// pathRE keeps file paths free of shell metacharacters, so the hooks
	// that write them stay simple to read.
	pathRE = regexp.MustCompile(`^(/[A-Za-z0-9._+@-]+)+$`)
)

// User ids a definition may give: Debian's range for ordinary accounts.
const (
	minUID = 1000
	maxUID = 59999
)

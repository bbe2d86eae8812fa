// Package kernel finds, fetches and describes the kernels tsemlab boots: the
// embedded default (Debian's cloud kernel, downloaded with apt and unpacked
// without installing) or a bzImage the user names, plus the modules the
// guest needs from a distribution kernel.
package kernel

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/tsemlab/tsemlab/internal/digest"
)

// Kernel is a bootable kernel image and what the harness knows about it.
type Kernel struct {
	// Path is the bzImage.
	Path string `json:"path"`
	// SHA256 is the hex digest of the image file.
	SHA256 string `json:"sha256"`
	// Release is the version string from the image header ("6.1.0-56-cloud-amd64").
	Release string `json:"release"`
	// ModulesDir is lib/modules/<release> of a distribution kernel, or ""
	// when the kernel has everything built in.
	ModulesDir string `json:"modules_dir,omitempty"`
	// Origin says where it came from ("debian package linux-image-...", "--kernel").
	Origin string `json:"origin"`
}

// ErrNotBzImage is returned for a file that is not an x86 boot image.
var ErrNotBzImage = errors.New("not an x86 bzImage (no HdrS boot header)")

// Open describes the kernel image at path, as given with --kernel.
func Open(path string) (*Kernel, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("kernel %s: %w (pass a bzImage with --kernel, or omit --kernel for the default stock kernel)", path, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("kernel %s: %w", path, err)
	}
	if st.IsDir() {
		return nil, fmt.Errorf("kernel %s is a directory; pass the bzImage file (arch/x86/boot/bzImage in a build tree)", path)
	}
	rel, err := release(f)
	if err != nil {
		return nil, fmt.Errorf("kernel %s: %w", path, err)
	}
	sum, err := fileSHA256(f)
	if err != nil {
		return nil, fmt.Errorf("kernel %s: %w", path, err)
	}
	return &Kernel{Path: path, SHA256: sum, Release: rel, Origin: "--kernel"}, nil
}

// release reads the kernel version string the x86 boot protocol points to
// (header field kernel_version at 0x20e, an offset from 0x200).
func release(r io.ReaderAt) (string, error) {
	hdr := make([]byte, 0x210)
	if _, err := r.ReadAt(hdr, 0); err != nil {
		return "", fmt.Errorf("read boot header: %w", err)
	}
	if string(hdr[0x202:0x206]) != "HdrS" {
		return "", ErrNotBzImage
	}
	off := int64(binary.LittleEndian.Uint16(hdr[0x20e:])) + 0x200
	buf := make([]byte, 256)
	n, err := r.ReadAt(buf, off)
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read version string: %w", err)
	}
	buf = buf[:n]
	if i := bytes.IndexByte(buf, 0); i >= 0 {
		buf = buf[:i]
	}
	// "6.1.0-56-cloud-amd64 (debian-kernel@lists.debian.org) #1 SMP ..."
	if i := bytes.IndexByte(buf, ' '); i >= 0 {
		buf = buf[:i]
	}
	if len(buf) == 0 {
		return "", errors.New("empty version string in boot header")
	}
	return string(buf), nil
}

func fileSHA256(f *os.File) (string, error) {
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return "", err
	}
	sum, _, err := digest.Reader(f)
	return sum, err
}

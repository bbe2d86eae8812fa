package kernel

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// bzImage returns the start of an x86 boot image: the "HdrS" magic at 0x202
// and kernel_version at 0x20e pointing (from 0x200) at version, NUL-terminated.
func bzImage(version string) []byte {
	b := make([]byte, 0x400)
	copy(b[0x202:], "HdrS")
	const at = 0x300
	binary.LittleEndian.PutUint16(b[0x20e:], at-0x200)
	copy(b[at:], version+"\x00")
	return b
}

func TestRelease_ReadsTheBootHeader(t *testing.T) {
	noNUL := bzImage("")[:0x300]
	noNUL = append(noNUL, "6.12.0-tail"...)
	tests := []struct {
		name    string
		image   []byte
		want    string
		is      error
		wantErr string
	}{
		{name: "tsem build", image: bzImage("6.12.0-tsem (user@host) #1 SMP"), want: "6.12.0-tsem"},
		{name: "debian", image: bzImage("6.1.0-56-cloud-amd64 (debian-kernel@lists.debian.org) #1 SMP PREEMPT_DYNAMIC Debian 6.1.192-2"), want: "6.1.0-56-cloud-amd64"},
		{name: "version without a space", image: bzImage("6.12.0"), want: "6.12.0"},
		{name: "version at the end of the file without NUL", image: noNUL, want: "6.12.0-tail"},
		{name: "no magic", image: make([]byte, 0x400), is: ErrNotBzImage},
		{name: "shorter than the header", image: []byte("MZ"), wantErr: "read boot header"},
		{name: "empty version", image: bzImage(""), wantErr: "empty version string in boot header"},
		{name: "offset past the end", image: func() []byte {
			b := bzImage("x")
			binary.LittleEndian.PutUint16(b[0x20e:], 0xff00)
			return b
		}(), wantErr: "empty version string in boot header"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := release(bytes.NewReader(tt.image))
			switch {
			case tt.is != nil:
				assert.ErrorIs(t, err, tt.is)
			case tt.wantErr != "":
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.wantErr)
			default:
				require.NoError(t, err)
				assert.Equal(t, tt.want, got)
			}
		})
	}
}

func TestOpen_DescribesABzImage(t *testing.T) {
	img := bzImage("6.12.0-tsem (user@host) #1 SMP")
	p := filepath.Join(t.TempDir(), "bzImage")
	require.NoError(t, os.WriteFile(p, img, 0o644))
	k, err := Open(p)
	require.NoError(t, err)
	sum := sha256.Sum256(img)
	assert.Equal(t, &Kernel{Path: p, SHA256: hex.EncodeToString(sum[:]), Release: "6.12.0-tsem", Origin: "--kernel"}, k)
}

func TestOpen_Errors(t *testing.T) {
	dir := t.TempDir()
	notImage := filepath.Join(dir, "vmlinux")
	require.NoError(t, os.WriteFile(notImage, bytes.Repeat([]byte{0x7f}, 0x1000), 0o644))
	tests := []struct {
		name   string
		path   string
		is     error
		substr string
	}{
		{"not a bzImage", notImage, ErrNotBzImage, "kernel " + notImage + ": not an x86 bzImage"},
		{"a directory", dir, nil, "kernel " + dir + " is a directory; pass the bzImage file"},
		{"missing", filepath.Join(dir, "nope"), fs.ErrNotExist, "pass a bzImage with --kernel"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, err := Open(tt.path)
			require.Error(t, err)
			assert.Nil(t, k)
			assert.Contains(t, err.Error(), tt.substr)
			if tt.is != nil {
				assert.True(t, errors.Is(err, tt.is), "errors.Is(%v, %v)", err, tt.is)
			}
		})
	}
}

// cachedStockKernel returns the directory of a stock kernel cached by
// `tsemlab run`, skipping the test when there is none.
func cachedStockKernel(t *testing.T) string {
	t.Helper()
	root := os.Getenv("TSEMLAB_CACHE")
	if root == "" {
		d, err := os.UserCacheDir()
		if err != nil {
			t.Skipf("no user cache directory (%v) and TSEMLAB_CACHE unset: no cached stock kernel to test against", err)
		}
		root = filepath.Join(d, "tsemlab")
	}
	dirs, _ := filepath.Glob(filepath.Join(root, "kernels", "linux-image-*"))
	for _, d := range dirs {
		imgs, _ := filepath.Glob(filepath.Join(d, "boot", "vmlinuz-*"))
		mods, _ := filepath.Glob(filepath.Join(d, "lib", "modules", "*"))
		if len(imgs) == 1 && len(mods) == 1 {
			return d
		}
	}
	t.Skipf("no stock kernel cached under %s/kernels (run `tsemlab run` once, or set TSEMLAB_CACHE)", root)
	return ""
}

func TestOpen_CachedStockKernel(t *testing.T) {
	dir := cachedStockKernel(t)
	imgs, _ := filepath.Glob(filepath.Join(dir, "boot", "vmlinuz-*"))
	k, err := Open(imgs[0])
	require.NoError(t, err)
	assert.Equal(t, filepath.Base(imgs[0]), "vmlinuz-"+k.Release, "the header's release names the file")
	assert.Regexp(t, regexp.MustCompile(`^[0-9a-f]{64}$`), k.SHA256)

	c, err := cached(dir)
	require.NoError(t, err)
	assert.Equal(t, filepath.Join(dir, "lib", "modules", k.Release), c.ModulesDir)
}

func FuzzRelease(f *testing.F) {
	f.Add(bzImage("6.12.0-tsem (user@host) #1 SMP"))
	f.Add(bzImage(""))
	f.Add([]byte("HdrS"))
	f.Fuzz(func(t *testing.T, data []byte) {
		rel, err := release(bytes.NewReader(data))
		if err == nil && (rel == "" || bytes.ContainsAny([]byte(rel), " \x00")) {
			t.Fatalf("release %q from %q", rel, data)
		}
	})
}

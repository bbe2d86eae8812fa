package doctor

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tsemlab/tsemlab/harness/kbuild"
)

func TestRun_MissingToolIsNamedWithItsFix(t *testing.T) {
	var out bytes.Buffer
	lookPath := func(name string) (string, error) {
		if name == "qemu-system-x86_64" {
			return "", errors.New("not found")
		}
		return "/usr/bin/" + name, nil
	}
	err := Run(context.Background(), &out, Options{CacheDir: t.TempDir(), LookPath: lookPath})
	require.ErrorIs(t, err, ErrMissing)
	assert.Contains(t, out.String(), "MISSING  qemu-system-x86_64   fix: apt-get install qemu-system-x86")
	assert.Contains(t, out.String(), "ok       bash                 /usr/bin/bash")
}

func TestRun_TSEMKernelVariable(t *testing.T) {
	found := func(name string) (string, error) { return "/usr/bin/" + name, nil }
	tests := []struct {
		name, value, want string
	}{
		{"unset", "", "note     TSEMLAB_TSEM_KERNEL  unset: TSEM scenarios will be skipped"},
		{"not a kernel", filepath.Join(t.TempDir(), "nosuch"), "BAD      TSEMLAB_TSEM_KERNEL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			require.NoError(t, Run(context.Background(), &out, Options{CacheDir: t.TempDir(), LookPath: found, TSEMKernel: tt.value}))
			assert.Contains(t, out.String(), tt.want)
		})
	}
}

func TestRun_ListsCachedKernelsAndImages(t *testing.T) {
	cache := t.TempDir()
	k := filepath.Join(cache, "kernels", "6.1", "boot", "vmlinuz-6.1.0-cloud-amd64")
	i := filepath.Join(cache, "initramfs", "abc.cpio")
	for _, p := range []string{k, i} {
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, nil, 0o644))
	}
	var out bytes.Buffer
	found := func(name string) (string, error) { return "/usr/bin/" + name, nil }
	require.NoError(t, Run(context.Background(), &out, Options{CacheDir: cache, LookPath: found}))
	assert.Contains(t, out.String(), "kernel "+k)
	assert.Contains(t, out.String(), "image  "+i)
}

func TestRun_ListsBuiltKernelsWithSourceAndConfig(t *testing.T) {
	cache := t.TempDir()
	dir := filepath.Join(cache, "kernels", "kbuild-0123456789abcdef01234567")
	require.NoError(t, os.MkdirAll(dir, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "bzImage"), nil, 0o644))
	k := kbuild.Kernel{
		Key:          "0123456789abcdef01234567" + strings.Repeat("0", 40),
		Source:       kbuild.Identity{Kind: kbuild.KindGit, Revision: "fedcba9876543210fedcba9876543210fedcba98", DiffSHA256: "89ab01cd" + strings.Repeat("0", 56)},
		Base:         "tinyconfig",
		Fragments:    []kbuild.FragmentFile{{Name: "virt.config"}, {Name: "tsem.config"}},
		ConfigSHA256: "aabbccddeeff00112233",
		Compiler:     "gcc (Debian 12.2.0-14) 12.2.0",
	}
	data, err := json.Marshal(k)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "kbuild.json"), data, 0o644))
	var out bytes.Buffer
	found := func(name string) (string, error) { return "/usr/bin/" + name, nil }
	require.NoError(t, Run(context.Background(), &out, Options{CacheDir: cache, LookPath: found}))
	assert.Contains(t, out.String(), "built  "+filepath.Join(dir, "bzImage")+": git fedcba987654 + uncommitted changes 89ab01cd; config tinyconfig + virt.config + tsem.config, sha256 aabbccddeeff; gcc (Debian 12.2.0-14) 12.2.0\n")
}

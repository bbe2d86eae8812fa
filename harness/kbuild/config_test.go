package kbuild

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tsemlab/tsemlab/internal/testutil"
)

// TestVerify_NamesEachLostOptionAndItsCause checks a final .config excerpt
// (testdata/verify/final.config) against a fragment asking for more than
// survived, on the fake tree's Kconfig, with and without a security/tsem.
func TestVerify_NamesEachLostOptionAndItsCause(t *testing.T) {
	tests := []struct {
		name   string
		tsem   bool
		golden string
	}{
		{"not a TSEM tree", false, "testdata/verify/not-tsem-tree.golden"},
		{"a TSEM tree", true, "testdata/verify/tsem-tree.golden"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tree := fakeTree(t)
			if tt.tsem {
				data, err := os.ReadFile("testdata/verify/tsem-Kconfig")
				require.NoError(t, err)
				writeFile(t, filepath.Join(tree, "security", "tsem", "Kconfig"), string(data))
			}
			in, err := readConfigInputs(Spec{Fragments: []string{"testdata/verify/tsem.config"}})
			require.NoError(t, err)
			_, v, err := verify(&kconfigs{tree: tree}, "testdata/verify/final.config", in)
			require.NoError(t, err)
			assert.Empty(t, v.foreign)
			e := &ConfigError{Problems: v.problems, Config: "BUILD/.config", Log: "LOG"}
			testutil.Golden(t, tt.golden, []byte(e.Error()+"\n"))
		})
	}
}

func TestVerify_AllSurvivedIsNoProblem(t *testing.T) {
	tree := fakeTree(t)
	frag := writeFile(t, filepath.Join(t.TempDir(), "ok.config"), "CONFIG_SECURITY=y\n# CONFIG_NET is not set\nCONFIG_LSM=\"landlock,lockdown,yama\"\n")
	in, err := readConfigInputs(Spec{Fragments: []string{frag}})
	require.NoError(t, err)
	cfg, v, err := verify(&kconfigs{tree: tree}, "testdata/verify/final.config", in)
	require.NoError(t, err)
	assert.Empty(t, v.problems)
	assert.Equal(t, "y", cfg.Options["CONFIG_SECURITY"])
}

// TestVerify_OtherArchitectureOptionsAreSetAside: the kernel's own
// kvm_guest.config asks for CONFIG_S390_GUEST, declared only in
// arch/s390/Kconfig; an x86 build cannot set it, so it is set aside with
// the file that declares it, not reported as lost. An option declared for
// x86 as well, or outside arch/, is still a problem.
func TestVerify_OtherArchitectureOptionsAreSetAside(t *testing.T) {
	tree := fakeTree(t)
	writeFile(t, filepath.Join(tree, "arch", "s390", "Kconfig"), "config S390_GUEST\n\tbool \"s390 guest support\"\n\nconfig SHARED_GUEST\n\tbool\n")
	writeFile(t, filepath.Join(tree, "arch", "x86", "Kconfig"), "config SHARED_GUEST\n\tbool \"guest support\"\n\tdepends on NET\n")
	frag := writeFile(t, filepath.Join(t.TempDir(), "kvm_guest.config"), "CONFIG_SECURITY=y\nCONFIG_S390_GUEST=y\nCONFIG_SHARED_GUEST=y\n")
	in, err := readConfigInputs(Spec{Fragments: []string{frag}})
	require.NoError(t, err)
	_, v, err := verify(&kconfigs{tree: tree}, "testdata/verify/final.config", in)
	require.NoError(t, err)
	require.Len(t, v.foreign, 1)
	assert.Equal(t, "CONFIG_S390_GUEST is not set (kvm_guest.config asks for y): declared only for another architecture (arch/s390/Kconfig:1)", v.foreign[0].String())
	require.Len(t, v.problems, 1)
	assert.Equal(t, "CONFIG_SHARED_GUEST", v.problems[0].Option)
}

func TestConfigInputs_HashIsContentNotPlace(t *testing.T) {
	dir := t.TempDir()
	a := writeFile(t, filepath.Join(dir, "a", "virt.config"), "CONFIG_NET=y\n")
	moved := writeFile(t, filepath.Join(dir, "b", "virt.config"), "CONFIG_NET=y\n")
	changed := writeFile(t, filepath.Join(dir, "c", "virt.config"), "CONFIG_NET=y\nCONFIG_INET=y\n")
	other := writeFile(t, filepath.Join(dir, "a", "tsem.config"), "CONFIG_SECURITY=y\n")
	base1 := writeFile(t, filepath.Join(dir, "base1"), "CONFIG_64BIT=y\n")
	base2 := writeFile(t, filepath.Join(dir, "base2"), "CONFIG_64BIT=y\nCONFIG_NET=y\n")
	hash := func(s Spec) string {
		in, err := readConfigInputs(s)
		require.NoError(t, err)
		return in.hash()
	}
	ref := hash(Spec{Fragments: []string{a, other}})
	assert.Equal(t, ref, hash(Spec{Fragments: []string{moved, other}}), "same content elsewhere")
	assert.Equal(t, ref, hash(Spec{Base: "tinyconfig", Fragments: []string{a, other}}), "tinyconfig is the default")
	assert.NotEqual(t, ref, hash(Spec{Fragments: []string{changed, other}}), "a fragment changed")
	assert.NotEqual(t, ref, hash(Spec{Fragments: []string{other, a}}), "merge order matters")
	assert.NotEqual(t, ref, hash(Spec{Fragments: []string{a}}), "a fragment fewer")
	assert.NotEqual(t, ref, hash(Spec{Base: "defconfig", Fragments: []string{a, other}}), "another base")
	assert.NotEqual(t, hash(Spec{Base: base1}), hash(Spec{Base: base2}), "base files differ")
}

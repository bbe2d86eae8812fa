package kernel

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestFragments_ShippedOnesParse(t *testing.T) {
	files, err := filepath.Glob("../../kernel/config/*.config")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, f := range files {
		data, err := os.ReadFile(f)
		require.NoError(t, err)
		_, err = ParseFragment(filepath.Base(f), strings.NewReader(string(data)))
		assert.NoError(t, err)
	}
	data, err := os.ReadFile("../../kernel/config/tsem.config")
	require.NoError(t, err)
	tsem, err := ParseFragment("tsem.config", strings.NewReader(string(data)))
	require.NoError(t, err)
	assert.Equal(t, "y", tsem.Options["CONFIG_SECURITY_TSEM"])
	assert.Contains(t, tsem.Options["CONFIG_LSM"], "tsem")
	data, err = os.ReadFile("../../kernel/config/virt.config")
	require.NoError(t, err)
	virt, err := ParseFragment("virt.config", strings.NewReader(string(data)))
	require.NoError(t, err)
	for _, opt := range []string{"CONFIG_SERIAL_8250_CONSOLE", "CONFIG_BLK_DEV_INITRD", "CONFIG_DEVTMPFS", "CONFIG_ACPI", "CONFIG_PVPANIC_PCI", "CONFIG_SECCOMP_FILTER"} {
		assert.Equal(t, "y", virt.Options[opt], opt)
	}
}

func TestParseFragment_ErrorsNameTheLine(t *testing.T) {
	tests := []struct{ in, want string }{
		{"CONFIG_A=y\nCONFIG_A=n\n", "x.config:2: CONFIG_A set twice (y, then n)"},
		{"# ok\nSECURITY=y\n", `x.config:2: "SECURITY=y" is not CONFIG_NAME=value or a comment`},
	}
	for _, tt := range tests {
		_, err := ParseFragment("x.config", strings.NewReader(tt.in))
		require.Error(t, err)
		assert.Equal(t, tt.want, err.Error())
	}
}

func TestFragmentMissing_ReportsDroppedOptions(t *testing.T) {
	frag, err := ParseFragment("f", strings.NewReader("CONFIG_A=y\n# CONFIG_B is not set\nCONFIG_C=\"tsem\"\nCONFIG_D=y\n"))
	require.NoError(t, err)
	cfg, err := ParseFragment(".config", strings.NewReader("CONFIG_A=y\nCONFIG_C=\"lockdown\"\n# CONFIG_D is not set\n"))
	require.NoError(t, err)
	assert.Equal(t, []string{`CONFIG_C="tsem" (got "lockdown")`, "CONFIG_D=y (got n)"}, frag.Missing(cfg))
}

// TestFragments_SurviveInARealBuild checks a kernel built with our fragments
// kept every option, when such a build's .config is at hand.
func TestFragments_SurviveInARealBuild(t *testing.T) {
	cfgPath := os.Getenv("TSEMLAB_KERNEL_CONFIG")
	if cfgPath == "" {
		t.Skip("set TSEMLAB_KERNEL_CONFIG to the .config of a kernel built from tinyconfig + kernel/config/virt.config + tsem.config")
	}
	data, err := os.ReadFile(cfgPath)
	require.NoError(t, err)
	cfg, err := ParseFragment(".config", strings.NewReader(string(data)))
	require.NoError(t, err)
	for _, name := range []string{"virt.config", "tsem.config"} {
		d, err := os.ReadFile(filepath.Join("../../kernel/config", name))
		require.NoError(t, err)
		frag, err := ParseFragment(name, strings.NewReader(string(d)))
		require.NoError(t, err)
		assert.Empty(t, frag.Missing(cfg), "%s options dropped by olddefconfig", name)
	}
}

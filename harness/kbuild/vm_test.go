package kbuild

import (
	"context"
	"io"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tsemlab/tsemlab/harness/lab"
	"github.com/tsemlab/tsemlab/internal/testutil"
)

// TestBuild_TSEMFragmentOnAStockTreeFailsBeforeCompiling configures
// Debian's linux-source-6.12 (no TSEM) with virt.config and tsem.config:
// the build must stop before configuring (no Kconfig file declares
// CONFIG_SECURITY_TSEM), and say the tree is not a TSEM tree. The tarball is unpacked once into tsemlab's
// cache (about a minute) and kept.
func TestBuild_TSEMFragmentOnAStockTreeFailsBeforeCompiling(t *testing.T) {
	tarball := testutil.RequireKernelBuild(t)
	cache, err := lab.CacheDir(nil)
	require.NoError(t, err)
	b := &Builder{CacheDir: cache, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	start := time.Now()
	_, buildErr := b.Build(ctx, Spec{Source: tarball, Fragments: []string{"../../kernel/config/virt.config", "../../kernel/config/tsem.config"}})
	took := time.Since(start)
	require.ErrorIs(t, buildErr, ErrConfig)
	var ce *ConfigError
	require.ErrorAs(t, buildErr, &ce)
	var tsem *Problem
	for i, p := range ce.Problems {
		if p.Option == "CONFIG_SECURITY_TSEM" {
			tsem = &ce.Problems[i]
		}
	}
	require.NotNil(t, tsem, "CONFIG_SECURITY_TSEM is named: %v", buildErr)
	assert.Equal(t, "CONFIG_SECURITY_TSEM is not set (tsem.config asks for y): this tree has no security/tsem; it is not a TSEM tree", tsem.String())
	log, err := os.ReadFile(ce.Log)
	require.NoError(t, err)
	assert.NotContains(t, string(log), " bzImage\n", "make bzImage never ran")
	assert.Empty(t, ce.Config, "stopped before configuring: no Kconfig file declares CONFIG_SECURITY_TSEM")
	t.Logf("failed in %s, before compiling:\n%v", took.Round(time.Second), buildErr)
}

package runner

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tsemlab/tsemlab/harness/lab"
)

// cacheDir is tsemlab's cache directory, as a run finds it.
func cacheDir(tb testing.TB) string {
	tb.Helper()
	d, err := lab.CacheDir(discard())
	require.NoError(tb, err)
	return d
}

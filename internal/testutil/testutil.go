// Package testutil holds what the tests of every package share: golden
// files (rewritten with `go test ./PKG -update` and reviewed in the diff)
// and skips that say exactly what is missing.
package testutil

import (
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Update is the -update flag of every test binary that uses Golden.
var Update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// Golden compares got with the file at path (relative to the package's
// directory, usually under testdata/); with -update it writes got there
// first.
func Golden(t testing.TB, path string, got []byte) {
	t.Helper()
	if *Update {
		require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
		require.NoError(t, os.WriteFile(path, got, 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "golden file %s is missing; run go test -update to create it", path)
	assert.Equal(t, string(want), string(got), "%s differs; run go test -update and review the diff", path)
}

package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tsemlab/tsemlab/internal/testutil"
)

// testdata/events.jsonl is a real `go test -json ./...` of a throwaway
// module with three packages: good (a pass, a skip with its reason, a
// table with a skipped case), bad (a failed test with a log line, a failed
// subtest, a pass) and broken (a compile error).
func TestSummary_PlainOutputThenSkipsFailsAndTotals(t *testing.T) {
	in, err := os.ReadFile(filepath.Join("testdata", "events.jsonl"))
	require.NoError(t, err)
	var out bytes.Buffer
	s := newSummary(&out)
	require.NoError(t, s.read(bytes.NewReader(in)))
	s.finish()

	testutil.Golden(t, filepath.Join("testdata", "summary.golden"), out.Bytes())

	text := out.String()
	assert.Contains(t, text, "SKIP example.com/fake/good TestSkipsWithReason: good_test.go:7: needs qemu-system-x86_64 on PATH\n")
	assert.Contains(t, text, "SKIP example.com/fake/good TestTable/b: good_test.go:11: boots QEMU; run without -short\n")
	assert.Contains(t, text, "broken/broken_test.go:5:28: undefined: undefined\n", "build errors are shown")
	assert.Contains(t, text, "    bad_test.go:7: want deny, got allow\n", "a failure's output is shown")
	assert.NotContains(t, text, "=== RUN")
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	// Passed: good's TestPasses, TestTable, TestTable/a; bad's TestPasses
	// and TestSubFails/ok. Failed: TestFails, TestSubFails, its broken
	// case, and the broken package.
	assert.Equal(t, "tests: 5 passed, 4 failed, 2 skipped", lines[len(lines)-1],
		"the closing line is the plain 'N passed, N failed, N skipped' CI systems read")
}

func TestSummary_NonJSONLinesPassThrough(t *testing.T) {
	var out bytes.Buffer
	s := newSummary(&out)
	require.NoError(t, s.read(strings.NewReader("go: downloading example.com/x v1.0.0\n{not json\n")))
	assert.Equal(t, "go: downloading example.com/x v1.0.0\n{not json\n", out.String())
}

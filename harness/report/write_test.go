package report

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestWriteAll_WritesEveryReportAsked(t *testing.T) {
	dir := t.TempDir()
	extra := t.TempDir()
	summary := filepath.Join(extra, "summary.md")
	require.NoError(t, os.WriteFile(summary, []byte("earlier step\n"), 0o644))
	var stdout bytes.Buffer
	err := WriteAll(fixture(), Options{
		Stdout: &stdout, Format: "ktap", Dir: dir,
		JUnit: filepath.Join(extra, "j.xml"), JSON: filepath.Join(extra, "r.json"),
		GitHubSummary: summary, GitHubAnnotations: true,
	})
	require.NoError(t, err)

	ktap := string(render(t, fixture(), KTAP))
	assert.True(t, strings.HasPrefix(stdout.String(), ktap), "stdout starts with the run in the asked format")
	assert.Equal(t, string(render(t, fixture(), GitHubAnnotations)), strings.TrimPrefix(stdout.String(), ktap), "then the annotations")
	for path, want := range map[string][]byte{
		filepath.Join(dir, "junit.xml"):    render(t, fixture(), JUnit),
		filepath.Join(dir, "results.ktap"): []byte(ktap),
		filepath.Join(extra, "j.xml"):      render(t, fixture(), JUnit),
		filepath.Join(extra, "r.json"):     render(t, fixture(), JSON),
		summary:                            append([]byte("earlier step\n"), render(t, fixture(), GitHubSummary)...),
	} {
		got, err := os.ReadFile(path)
		require.NoError(t, err)
		assert.Equal(t, string(want), string(got), path)
	}
}

func TestWriteAll_Formats(t *testing.T) {
	for _, tc := range []struct {
		format string
		want   []byte
	}{
		{"human", append([]byte("\n"), render(t, fixture(), humanWith(HumanOptions{}))...)},
		{"ktap", render(t, fixture(), KTAP)},
		{"json", render(t, fixture(), JSON)},
	} {
		t.Run(tc.format, func(t *testing.T) {
			var stdout bytes.Buffer
			require.NoError(t, WriteAll(fixture(), Options{Stdout: &stdout, Format: tc.format}))
			assert.Equal(t, string(tc.want), stdout.String())
		})
	}
	err := WriteAll(fixture(), Options{Stdout: &bytes.Buffer{}, Format: "xml"})
	assert.ErrorContains(t, err, `unknown format "xml": use human, ktap or json`)
}

func TestWriteAll_NoGitHubOutputUnlessAsked(t *testing.T) {
	var stdout bytes.Buffer
	require.NoError(t, WriteAll(fixture(), Options{Stdout: &stdout, Format: "json"}))
	assert.NotContains(t, stdout.String(), "::error")
}

// TestWriteAll_ReportsEveryFailureAndWritesTheRest: a report that cannot be
// written is named in the error, and the others are still written.
func TestWriteAll_ReportsEveryFailureAndWritesTheRest(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(t.TempDir(), "no-such-dir")
	err := WriteAll(fixture(), Options{
		Stdout: failingWriter{}, Format: "human", Dir: dir,
		JUnit:         filepath.Join(missing, "j.xml"),
		JSON:          filepath.Join(dir, "r.json"),
		GitHubSummary: filepath.Join(missing, "summary.md"),
	})
	require.Error(t, err)
	assert.ErrorContains(t, err, "stdout: ")
	assert.ErrorContains(t, err, "disk full")
	assert.ErrorContains(t, err, filepath.Join(missing, "j.xml"))
	assert.ErrorContains(t, err, filepath.Join(missing, "summary.md"))
	for _, f := range []string{"junit.xml", "results.ktap", "r.json"} {
		assert.FileExists(t, filepath.Join(dir, f))
	}
}

func TestWriteAll_AFileThatCannotBeWrittenIsReported(t *testing.T) {
	// /dev/full accepts the open and fails the write (ENOSPC).
	if _, err := os.Stat("/dev/full"); err != nil {
		t.Skip("needs /dev/full")
	}
	err := WriteAll(fixture(), Options{JSON: "/dev/full"})
	assert.ErrorContains(t, err, "write /dev/full")
}

package scenario

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const minimal = "name: x\nphases: [{name: p, steps: [{run: ls}]}]\n"

func TestLoad_FIFOIsRefusedWithoutBlocking(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "x.yaml")
	require.NoError(t, syscall.Mkfifo(fifo, 0o644))
	// No writer ever opens the FIFO: opening it for reading without
	// O_NONBLOCK, or reading it, would block this test for ever.
	_, err := Load(t.Context(), fifo)
	require.Error(t, err)
	assert.Equal(t, fifo+": is a named pipe (FIFO); a scenario file must be a regular file", err.Error())
}

func TestLoad_DeviceIsRefused(t *testing.T) {
	_, err := Load(t.Context(), "/dev/zero")
	require.Error(t, err)
	assert.Equal(t, "/dev/zero: is a character device; a scenario file must be a regular file", err.Error())
}

func TestLoad_FileOverOneMiBIsRefusedUnread(t *testing.T) {
	f := filepath.Join(t.TempDir(), "big.yaml")
	require.NoError(t, os.WriteFile(f, []byte(minimal), 0o644))
	// A sparse 50 MB file: its size alone refuses it.
	require.NoError(t, os.Truncate(f, 50<<20))
	_, err := Load(t.Context(), f)
	require.Error(t, err)
	assert.Equal(t, f+": has 52428800 bytes, more than the scenario limit of 1 MiB (1048576 bytes); split it into several scenario files", err.Error())
}

func TestParse_DataOverOneMiBIsRefused(t *testing.T) {
	data := []byte(minimal + "# " + strings.Repeat("x", MaxFileSize) + "\n")
	_, err := Parse("big.yaml", data)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "more than the scenario limit of 1 MiB")
}

func TestReadLimited_StopsAtTheLimitWhateverTheSizeSays(t *testing.T) {
	// /proc files report a size of 0 and still have content.
	f, err := os.Open("/proc/self/environ")
	require.NoError(t, err)
	defer f.Close()
	_, verr := readLimited("/proc/self/environ", f, 10, "model")
	require.NotNil(t, verr)
	assert.Contains(t, verr.Msg, "is larger than the model limit of 10 bytes; is it really a model file?")
}

// nestedAliasBomb is the shape that drove validate past 4 GB: three lists,
// each written once, each item an alias of the level below.
func nestedAliasBomb(n int) string {
	items := func(s string) string { return strings.TrimSuffix(strings.Repeat(s+",", n), ",") }
	return "name: bomb\n" +
		"x: &t [" + items("a") + "]\n" +
		"y: &s {run: ls, expect: {stdout_contains: *t}}\n" +
		"z: &st [" + items("*s") + "]\n" +
		"w: &p {name: p, steps: *st}\n" +
		"phases: [" + items("*p") + "]\n"
}

func TestParse_NestedAliasBombIsRefusedBeforeItExpands(t *testing.T) {
	data := nestedAliasBomb(1500) // 12 KB; 3.4e9 nodes expanded
	_, err := Parse("bomb.yaml", []byte(data))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "bomb.yaml:4:")
	assert.Contains(t, err.Error(), "aliases (*name and <<: merge keys) would expand this file by more than 100000 nodes")
}

func TestParse_AliasesWithinTheBudgetExpand(t *testing.T) {
	s, err := Parse("ok.yaml", []byte(strings.ReplaceAll(nestedAliasBomb(20), "\nx:", "\ndescription:")))
	// Unknown fields y, z, w are reported; the expansion itself is fine.
	require.Error(t, err)
	assert.Nil(t, s)
	assert.NotContains(t, err.Error(), "would expand")
	assert.Contains(t, err.Error(), `unknown field "y"`)
}

func TestParse_DeepNestingIsRefused(t *testing.T) {
	data := "name: x\nphases: " + strings.Repeat("[", 5000) + strings.Repeat("]", 5000) + "\n"
	_, err := Parse("deep.yaml", []byte(data))
	require.Error(t, err)
	assert.Contains(t, err.Error(), fmt.Sprintf("nests deeper than %d levels", maxDepth))
}

func TestLoadAll_StopsWhenCancelled(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "a.yaml"), []byte(minimal), 0o644))
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	all, err := LoadAll(ctx, []string{dir})
	require.ErrorIs(t, err, context.Canceled)
	assert.Nil(t, all)
	_, err = Load(ctx, filepath.Join(dir, "a.yaml"))
	require.ErrorIs(t, err, context.Canceled)
}

func TestParse_NULAndInvalidUTF8AreReportedWithPosition(t *testing.T) {
	_, err := Parse("nul.yaml", []byte("name: x\nphases:\n  - na\x00me: p\n"))
	require.Error(t, err)
	assert.Equal(t, "nul.yaml:3:7: the file contains a NUL byte; scenario files are text, remove it", err.Error())
	_, err = Parse("latin1.yaml", []byte("name: x\ndescription: caf\xe9\n"))
	require.Error(t, err)
	assert.Equal(t, "latin1.yaml:2:17: the file is not UTF-8 text (byte 0xe9); save it as UTF-8", err.Error())
}

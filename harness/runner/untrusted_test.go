package runner

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestUntrustedEvents_RealKernelLog(t *testing.T) {
	f, err := os.Open("testdata/untrusted-events.log")
	require.NoError(t, err)
	defer f.Close()
	got := UntrustedEvents(f)
	require.NotEmpty(t, got)
	total := 0
	for _, byProc := range got {
		for k, n := range byProc {
			assert.Regexp(t, `^\S+ [a-z_0-9]+$`, k)
			total += n
		}
	}
	data, _ := os.ReadFile("testdata/untrusted-events.log")
	assert.Equal(t, strings.Count(string(data), "Untrusted event"), total)
}

func TestUntrustedEvents_CountsPerNamespaceAndProcess(t *testing.T) {
	log := "[ 3.4] Untrusted event inode_getattr: model_ns=2, comm=bash, pid=50\n" +
		"noise\n[ 3.5] Untrusted event task_alloc: model_ns=2, comm=bash, pid=50\n" +
		"[ 3.6] Untrusted event task_alloc: model_ns=2, comm=bash, pid=50\n" +
		"[ 3.7] Untrusted event file_open: model_ns=3, comm=cat, pid=61\n"
	got := UntrustedEvents(strings.NewReader(log))
	assert.Equal(t, map[string]map[string]int{
		"2": {"bash inode_getattr": 1, "bash task_alloc": 2},
		"3": {"cat file_open": 1},
	}, got)
}

// TestIdentityNote_NamesAThreadsParentId: the records of the explain
// package's identity case (real httpd records: runc's open learned from
// its main thread, refused from another) make a failed scenario's reason
// say the failure may not repeat; records without that quirk add nothing.
func TestIdentityNote_NamesAThreadsParentId(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"learn.trajectory", "enforce.forensics", "seal.forensics"} {
		data, err := os.ReadFile(filepath.Join("..", "explain", "testdata", "identity", f))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dir, f), data, 0o644))
	}
	note := identityNote(dir)
	assert.Equal(t, "1 forensic event differs from a learned one only by a thread's parent id, a TSEM nondeterminism of multi-threaded programs that can change from run to run (tsemlab explain "+dir+")", note)

	require.NoError(t, os.Remove(filepath.Join(dir, "enforce.forensics")))
	assert.Empty(t, identityNote(dir), "the zero identity alone is not this note's")
	assert.Empty(t, identityNote(t.TempDir()), "no records")
}

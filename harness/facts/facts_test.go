package facts

import (
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tsemlab/tsemlab/protocol"
)

var stock = protocol.Hello{ProtocolVersion: protocol.Version, KernelRelease: "6.1.0-41-cloud-amd64", LSMs: []string{"lockdown", "capability", "landlock", "yama", "apparmor"}, Features: []string{"seccomp", "user_namespaces", "pid_namespaces"}}

func TestCache_SkipsWhatTheKernelIsKnownToLack(t *testing.T) {
	c := Cache{Dir: t.TempDir()}
	assert.Empty(t, c.Skip("k1", nil, protocol.Requires{LSM: []string{"tsem"}}), "nothing known: boot and see")
	learned := time.Date(2026, 12, 1, 20, 0, 0, 0, time.UTC)
	require.NoError(t, c.Put("k1", nil, stock, learned))

	why := c.Skip("k1", nil, protocol.Requires{LSM: []string{"tsem"}})
	assert.Contains(t, why, "kernel 6.1.0-41-cloud-amd64 lacks the tsem security module")
	assert.Contains(t, why, "known without booting: learned at the kernel's boot on 2026-12-01T20:00:00Z")
	assert.Empty(t, c.Skip("k1", nil, protocol.Requires{LSM: []string{"apparmor"}, Features: []string{"seccomp"}}), "met")
	assert.Empty(t, c.Skip("k2", nil, protocol.Requires{LSM: []string{"tsem"}}), "another kernel")
	assert.Empty(t, c.Skip("k1", []string{"lsm=tsem"}, protocol.Requires{LSM: []string{"tsem"}}), "another command line can change the LSMs")
}

// TestCache_NeutralArgsShareTheFacts: buster-ls-top boots with
// norandmaps, which changes nothing the guest reports, so the facts of a
// boot without it skip it (and the other way round); lsm= does not.
func TestCache_NeutralArgsShareTheFacts(t *testing.T) {
	c := Cache{Dir: t.TempDir()}
	require.NoError(t, c.Put("k1", nil, stock, time.Now()))
	tsem := protocol.Requires{LSM: []string{"tsem"}}
	assert.NotEmpty(t, c.Skip("k1", []string{"norandmaps"}, tsem))
	assert.NotEmpty(t, c.Skip("k1", []string{"loglevel=7", "nokaslr"}, tsem))
	assert.Empty(t, c.Skip("k1", []string{"norandmaps", "lsm=tsem"}, tsem), "lsm= keys facts of its own")
	assert.Empty(t, c.Skip("k1", []string{"loglevel"}, tsem), "only loglevel=N is neutral")

	d := Cache{Dir: t.TempDir()}
	require.NoError(t, d.Put("k1", []string{"norandmaps"}, stock, time.Now()))
	assert.NotEmpty(t, d.Skip("k1", nil, tsem))
	assert.Equal(t, d.Path("k1", []string{"norandmaps", "lsm=x"}), d.Path("k1", []string{"lsm=x"}))
}

func TestCache_UnknownAnswerIsNeverASkip(t *testing.T) {
	c := Cache{Dir: t.TempDir()}
	h := stock
	h.LSMError = "no securityfs"
	require.NoError(t, c.Put("k1", nil, h, time.Now()))
	assert.Empty(t, c.Skip("k1", nil, protocol.Requires{LSM: []string{"tsem"}}))
}

func TestCache_IgnoresDamagedAndOldEntries(t *testing.T) {
	c := Cache{Dir: t.TempDir()}
	require.NoError(t, os.WriteFile(c.Path("k1", nil), []byte("{not json"), 0o644))
	_, ok := c.Get("k1", nil)
	assert.False(t, ok)
	old := stock
	old.ProtocolVersion = 1
	require.NoError(t, c.Put("k1", nil, old, time.Now()))
	_, ok = c.Get("k1", nil)
	assert.False(t, ok, "facts from another protocol version are learned again")
}

func TestCache_EmptyDirRemembersNothing(t *testing.T) {
	var c Cache
	require.NoError(t, c.Put("k1", nil, stock, time.Now()))
	assert.Empty(t, c.Skip("k1", nil, protocol.Requires{LSM: []string{"tsem"}}))
}

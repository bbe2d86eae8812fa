package runner

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tsemlab/tsemlab/harness/result"
	"github.com/tsemlab/tsemlab/protocol"
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

// TestClock_PhaseTimingFromTheGuestsUptime: setup runs from the phase's
// start to its first step, teardown from its last step's end to its end,
// on the guest's clock; a phase without steps is all setup.
func TestClock_PhaseTimingFromTheGuestsUptime(t *testing.T) {
	r := &scenarioRun{phases: map[string]*result.Phase{"learn": {Name: "learn"}, "empty": {Name: "empty"}}}
	at := func(s float64) protocol.Duration { return protocol.Duration(s * float64(time.Second)) }
	for _, m := range []protocol.Message{
		{Kind: protocol.KindPhaseStart, Uptime: at(10), Phase: &protocol.PhaseInfo{Name: "learn"}},
		{Kind: protocol.KindStepStart, Uptime: at(10.5), Step: &protocol.StepStart{Phase: "learn", Index: 1}},
		{Kind: protocol.KindStepEnd, Uptime: at(11), Result: &protocol.StepEnd{Phase: "learn", Index: 1}},
		{Kind: protocol.KindStepStart, Uptime: at(11.25), Step: &protocol.StepStart{Phase: "learn", Index: 2}},
		{Kind: protocol.KindStepEnd, Uptime: at(12), Result: &protocol.StepEnd{Phase: "learn", Index: 2}},
		{Kind: protocol.KindArtifact, Uptime: at(12.5)},
		{Kind: protocol.KindPhaseEnd, Uptime: at(13), Phase: &protocol.PhaseInfo{Name: "learn"}},
		{Kind: protocol.KindPhaseStart, Uptime: at(13), Phase: &protocol.PhaseInfo{Name: "empty"}},
		{Kind: protocol.KindPhaseEnd, Uptime: at(13.5), Phase: &protocol.PhaseInfo{Name: "empty"}},
		{Kind: protocol.KindStepStart, Uptime: at(14)},
		{Kind: protocol.KindPhaseEnd, Uptime: at(14), Phase: &protocol.PhaseInfo{Name: "never-started"}},
	} {
		r.clock(m)
	}
	sec := func(s float64) result.Duration { return result.Duration(s * float64(time.Second)) }
	assert.Equal(t, &result.PhaseTiming{Setup: sec(0.5), Steps: sec(1.25), Teardown: sec(1), Total: sec(3)}, r.phases["learn"].Timing)
	assert.Equal(t, &result.PhaseTiming{Setup: sec(0.5), Total: sec(0.5)}, r.phases["empty"].Timing)
}

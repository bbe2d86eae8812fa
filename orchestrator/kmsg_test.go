package orchestrator

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestKmsgText_CutsThePrefixAndContinuationLines(t *testing.T) {
	assert.Equal(t, "Untrusted event file_fcntl: model_ns=2, comm=cat, pid=50",
		kmsgText("4,1234,4964710,-;Untrusted event file_fcntl: model_ns=2, comm=cat, pid=50\n SUBSYSTEM=x\n"))
	assert.Equal(t, "no prefix", kmsgText("no prefix"))
}

func TestRefusals_KeepsTheStepsNamespaceAndDropsTheLeader(t *testing.T) {
	lines := []string{
		"Untrusted event file_fcntl: model_ns=2, comm=cat, pid=50",
		"Untrusted event file_open: model_ns=3, comm=cat, pid=51",           // another namespace
		"Untrusted event file_open: model_ns=2, comm=tsemlab-guest, pid=40", // the leader
		"random: crng init done",
		`audit: type=1400 audit(1.2:3): apparmor="DENIED" operation="open" profile="appone" name="/tmp/x" pid=60 comm="touch"`,
		"audit: type=1326 audit(1.2:4): auid=0 uid=0 pid=61 comm=\"chmod\" sig=31 syscall=90",
	}
	kept, dropped := refusals(lines, "2", 40)
	assert.Equal(t, []string{lines[0], lines[4], lines[5]}, kept)
	assert.Zero(t, dropped)

	kept, _ = refusals(lines, "", 0)
	assert.Equal(t, []string{lines[4], lines[5]}, kept, "outside a TSEM namespace no TSEM line is the step's")
}

func TestRefusals_BoundsTheLinesAndCountsTheRest(t *testing.T) {
	var lines []string
	for i := range maxKernelLines + 10 {
		lines = append(lines, fmt.Sprintf("Untrusted event task_alloc: model_ns=2, comm=bash, pid=%d", 100+i))
	}
	kept, dropped := refusals(lines, "2", 0)
	assert.Len(t, kept, maxKernelLines)
	assert.Equal(t, 10, dropped)
}

func TestKmsg_MissingDeviceReadsNothing(t *testing.T) {
	k := openKmsg(filepath.Join(t.TempDir(), "nosuch"))
	assert.Nil(t, k.drain())
	var none *kmsg
	assert.Nil(t, none.drain(), "a leader without a kernel log reader")
}

func TestKmsg_RealDeviceStartsAtTheEnd(t *testing.T) {
	if _, err := os.Stat("/dev/kmsg"); err != nil {
		t.Skipf("needs /dev/kmsg (the guest always has it): %v", err)
	}
	k := openKmsg("/dev/kmsg")
	require.NotNil(t, k)
	if k.fd < 0 {
		t.Skip("needs /dev/kmsg readable by this user (CAP_SYSLOG)")
	}
	// Whatever was logged before opening is not returned; reading an empty
	// log does not block.
	for _, l := range k.drain() {
		assert.NotEmpty(t, l)
	}
}

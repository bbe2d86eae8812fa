package procgroup

import (
	"context"
	"os/exec"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRun_PassesTheCommandsError(t *testing.T) {
	require.NoError(t, Run(context.Background(), exec.CommandContext(context.Background(), "true"), time.Second))
	err := Run(context.Background(), exec.CommandContext(context.Background(), "false"), time.Second)
	var exit *exec.ExitError
	assert.ErrorAs(t, err, &exit)
}

func TestRun_AnInterruptStopsTheWholeGroup(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	// The child ignores SIGTERM, so only the group kill after grace ends it.
	cmd := exec.CommandContext(ctx, "sh", "-c", "trap '' TERM; sleep 30 & wait")
	start := time.Now()
	err := Run(ctx, cmd, 300*time.Millisecond)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Contains(t, err.Error(), "interrupted: ")
	assert.Less(t, time.Since(start), 10*time.Second, "the group was killed after the grace")
}

package orchestrator

import (
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// TestTakeUptime: init's timestamps reach the hello and leave the
// environment, so steps see the environment they saw before.
func TestTakeUptime(t *testing.T) {
	t.Setenv("TSEMLAB_TEST_UPTIME", "1500000000")
	assert.Equal(t, 1500*time.Millisecond, takeUptime("TSEMLAB_TEST_UPTIME"))
	_, set := os.LookupEnv("TSEMLAB_TEST_UPTIME")
	assert.False(t, set)
	assert.Zero(t, takeUptime("TSEMLAB_TEST_UPTIME"))
	t.Setenv("TSEMLAB_TEST_UPTIME", "soon")
	assert.Zero(t, takeUptime("TSEMLAB_TEST_UPTIME"))
}

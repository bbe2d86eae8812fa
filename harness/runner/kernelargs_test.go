package runner

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/tsemlab/tsemlab/harness/scenario"
)

func TestKernelArgs_AppendThenTheScenarios(t *testing.T) {
	c := Config{Append: []string{"loglevel=7"}}
	s := &scenario.Scenario{KernelArgs: []string{"lsm=capability"}}
	assert.Equal(t, []string{"loglevel=7", "lsm=capability"}, kernelArgs(c, s))
	assert.Equal(t, []string{"loglevel=7"}, c.Append, "the run's own list is not changed")
	other := &scenario.Scenario{KernelArgs: []string{"quiet"}}
	assert.Equal(t, []string{"loglevel=7", "quiet"}, kernelArgs(c, other), "scenarios do not see each other's arguments")
	assert.Empty(t, kernelArgs(Config{}, &scenario.Scenario{}))
}

func TestKernelCmdline_IsAppendsValue(t *testing.T) {
	assert.Equal(t, "console=ttyS0 quiet", kernelCmdline([]string{"qemu", "-kernel", "k", "-append", "console=ttyS0 quiet", "-m", "1024"}))
	assert.Equal(t, "", kernelCmdline([]string{"qemu", "-kernel", "k"}))
	assert.Equal(t, "", kernelCmdline([]string{"qemu", "-append"}))
}

package scenario

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestLoad_KernelArgs(t *testing.T) {
	s, err := Parse("kernel-args.yaml", []byte("name: kernel-args\nkernel_args: [loglevel=7, \"lsm=capability,tsem\"]\nphases: [{name: p, steps: [{run: 'true'}]}]\n"))
	require.NoError(t, err)
	assert.Equal(t, []string{"loglevel=7", "lsm=capability,tsem"}, s.KernelArgs)

	s, err = Parse("one.yaml", []byte("name: one\nkernel_args: loglevel=7\nphases: [{name: p, steps: [{run: 'true'}]}]\n"))
	require.NoError(t, err)
	assert.Equal(t, []string{"loglevel=7"}, s.KernelArgs, "a single string is a list of one")

	s, err = Parse("none.yaml", []byte("name: none\nphases: [{name: p, steps: [{run: 'true'}]}]\n"))
	require.NoError(t, err)
	assert.Nil(t, s.KernelArgs)
}

package orchestrator

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

func TestSealedExecutable_RunsSealedAsRuncWantsIt(t *testing.T) {
	src := filepath.Join(t.TempDir(), "prog")
	require.NoError(t, os.WriteFile(src, []byte("#!/bin/sh\necho \"ran as $0\"\n"), 0o755))
	f, err := sealedExecutable(src)
	require.NoError(t, err)
	defer f.Close()

	seals, err := unix.FcntlInt(f.Fd(), unix.F_GET_SEALS, 0)
	require.NoError(t, err)
	assert.Equal(t, runcSeals, seals, "runc skips its own copy only for exactly these seals")
	_, err = unix.Pwrite(int(f.Fd()), []byte("x"), 0)
	assert.ErrorIs(t, err, unix.EPERM, "nothing may write the sealed copy")

	out, err := exec.Command(sealedPath(f)).CombinedOutput()
	require.NoError(t, err, string(out))
	assert.Contains(t, string(out), "ran as /proc/")
}

func TestSealedExecutable_MissingProgramNamesIt(t *testing.T) {
	_, err := sealedExecutable("/nonexistent/runc")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "/nonexistent/runc")
}

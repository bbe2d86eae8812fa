package filelock

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func file(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "image.cpio")
	require.NoError(t, os.WriteFile(p, []byte("x"), 0o644))
	return p
}

func TestLock_CreatesTheFileAndExcludesASecondHolder(t *testing.T) {
	p := filepath.Join(t.TempDir(), "sub", ".lock")
	unlock, err := Lock(context.Background(), p)
	require.NoError(t, err)
	assert.FileExists(t, p)

	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err = Lock(ctx, p)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.ErrorContains(t, err, "another tsemlab holds it")

	unlock()
	unlock2, err := Lock(context.Background(), p)
	require.NoError(t, err)
	unlock2()
}

func TestShared_ManyHoldersKeepTryLockOut(t *testing.T) {
	p := file(t)
	r1, err := Shared(context.Background(), p)
	require.NoError(t, err)
	r2, err := Shared(context.Background(), p)
	require.NoError(t, err, "shared holders do not exclude each other")

	_, err = TryLock(p)
	require.ErrorIs(t, err, ErrLocked)
	r1()
	_, err = TryLock(p)
	require.ErrorIs(t, err, ErrLocked, "one shared holder is enough")
	r2()

	unlock, err := TryLock(p)
	require.NoError(t, err)
	defer unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err = Shared(ctx, p)
	assert.ErrorIs(t, err, context.DeadlineExceeded, "a shared lock waits for the exclusive holder")
}

func TestShared_AndTryLockNeverCreateTheFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "gone.cpio")
	_, err := Shared(context.Background(), p)
	assert.ErrorIs(t, err, os.ErrNotExist)
	_, err = TryLock(p)
	assert.ErrorIs(t, err, os.ErrNotExist)
	assert.NoFileExists(t, p)
}

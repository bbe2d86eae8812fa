package digest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f")
	require.NoError(t, os.WriteFile(p, []byte("abc"), 0o644))
	sum, err := File(p)
	require.NoError(t, err)
	assert.Equal(t, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", sum)

	_, err = File(filepath.Join(t.TempDir(), "missing"))
	assert.ErrorIs(t, err, os.ErrNotExist)
}

func TestReader(t *testing.T) {
	sum, n, err := Reader(strings.NewReader(""))
	require.NoError(t, err)
	assert.Equal(t, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", sum)
	assert.Equal(t, int64(0), n)
}

func TestUUID(t *testing.T) {
	assert.Equal(t, "01234567-89ab-cdef-0123-456789abcdef", UUID("0123456789abcdef0123456789abcdef99"))
	assert.Equal(t, "abc00000-0000-0000-0000-000000000000", UUID("abc"))
}

package tsem

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeSecurityfs lays out a securityfs root in a temporary directory with
// the given lsm list and model0 files copied from testdata/<model0>.
func fakeSecurityfs(t *testing.T, lsm, model0 string) string {
	t.Helper()
	root := t.TempDir()
	write := func(rel, content string) {
		p := filepath.Join(root, rel)
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte(content), 0o644))
	}
	write("lsm", lsm)
	if model0 == "" {
		return root
	}
	write("tsem/control", "")
	write("tsem/id", "2\n")
	write("tsem/aggregate", zeros+"\n")
	require.NoError(t, os.MkdirAll(filepath.Join(root, "tsem/external_tma"), 0o755))
	for _, name := range Model0Files {
		data, err := os.ReadFile(filepath.Join("testdata", model0, name))
		require.NoError(t, err)
		write(filepath.Join("tsem/internal_tma/model0", name), string(data))
	}
	return root
}

const zeros = "0000000000000000000000000000000000000000000000000000000000000000"

func TestDetect_TSEMKernel(t *testing.T) {
	root := fakeSecurityfs(t, "capability,tsem", "learned-set-learn")

	info, err := Detect(root)

	require.NoError(t, err)
	assert.Equal(t, Info{Root: root, LSMs: []string{"capability", "tsem"}, Model0: true, ExternalTMA: true}, info)
}

func TestDetect_NotTSEMKernel(t *testing.T) {
	tests := []struct {
		name, lsm, model0, msg string
	}{
		{"tsem not in lsm list", "capability,landlock,yama,apparmor\n", "", `active LSMs are "capability,landlock,yama,apparmor"`},
		{"tsem listed but directory missing", "capability,tsem", "", "tsem is an active LSM but"},
		{"tsem as a prefix of another name", "capability,tsemx", "learned-set-learn", "active LSMs"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := fakeSecurityfs(t, tt.lsm, tt.model0)
			_, err := Detect(root)
			require.Error(t, err)
			assert.ErrorIs(t, err, ErrNotTSEMKernel)
			assert.Contains(t, err.Error(), tt.msg)
		})
	}
}

func TestDetect_SecurityfsNotMountedIsNotTheSentinel(t *testing.T) {
	_, err := Detect(t.TempDir())
	require.Error(t, err)
	assert.False(t, errors.Is(err, ErrNotTSEMKernel))
	assert.ErrorIs(t, err, os.ErrNotExist)
	assert.Contains(t, err.Error(), "is securityfs mounted on")
}

func TestFS_IDAndAggregate(t *testing.T) {
	fs := FS{Root: fakeSecurityfs(t, "capability,tsem", "learned-set-learn")}

	id, err := fs.ID()
	require.NoError(t, err)
	assert.Equal(t, uint64(2), id)

	agg, err := fs.Aggregate()
	require.NoError(t, err)
	assert.Equal(t, zeros, agg)
}

func TestFS_IDRefusedAfterSealNamesTheFile(t *testing.T) {
	root := fakeSecurityfs(t, "capability,tsem", "learned-set-learn")
	require.NoError(t, os.Remove(filepath.Join(root, "tsem/id")))

	_, err := FS{Root: root}.ID()

	require.Error(t, err)
	assert.Contains(t, err.Error(), "read namespace id: open "+filepath.Join(root, "tsem/id"))
}

func TestFS_DefaultRoot(t *testing.T) {
	assert.Equal(t, "/sys/kernel/security/tsem/control", FS{}.path("control"))
}

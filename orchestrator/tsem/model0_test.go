package tsem

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tsemlab/tsemlab/event"
	"github.com/tsemlab/tsemlab/model"
)

func openModel0(t *testing.T, sample string) (*Model0, string) {
	t.Helper()
	root := fakeSecurityfs(t, "capability,tsem", sample)
	m, err := FS{Root: root}.OpenModel0()
	require.NoError(t, err)
	t.Cleanup(func() { m.Close() })
	return m, filepath.Join(root, "tsem/internal_tma/model0")
}

func TestModel0_SnapshotOfRealEnforcePhase(t *testing.T) {
	m, _ := openModel0(t, "learned-set-enforce")

	s, err := m.Snapshot()

	require.NoError(t, err)
	assert.Len(t, s.Raw, 8)
	assert.Len(t, s.Measurement, 64)
	assert.Len(t, s.State, 64)
	assert.Len(t, s.Trajectory, 7)
	assert.Len(t, s.TrajectoryCoefficients, 53)
	assert.Len(t, s.TrajectoryCounts, 53)
	assert.Len(t, s.Forensics, 1)
	assert.Equal(t, []uint64{1}, s.ForensicsCounts)
	assert.Len(t, s.ForensicsCoefficients, 1)

	e, err := event.Parse([]byte(s.Forensics[0]))
	require.NoError(t, err)
	assert.Equal(t, "cat  file_open  /etc/debian_version (flags 0100000, uid 0)", e.Summary())
}

func TestModel0_LearnPhaseHasEmptyForensics(t *testing.T) {
	m, _ := openModel0(t, "learned-set-learn")

	n, err := m.ForensicsCount()
	require.NoError(t, err)
	assert.Zero(t, n)

	f, err := m.Forensics()
	require.NoError(t, err)
	assert.Empty(t, f)

	s, err := m.Snapshot()
	require.NoError(t, err)
	assert.Empty(t, s.ForensicsCoefficients)
	assert.Empty(t, s.ForensicsCounts)
	assert.Len(t, s.TrajectoryCoefficients, 48)
	assert.Equal(t, "67f60013df0e2ba43303174a7b9f74a7ca3d46d0ba46e762b49dfc5c8130e1b9", s.State)

	// The learn phase's coefficients are the model of the next phase.
	mod := model.FromCoefficients(zeros, s.TrajectoryCoefficients, nil)
	assert.Len(t, mod.ControlCommands(), 49)
}

// Per-step evidence: the same descriptors give the current content.
func TestModel0_RereadSeesCurrentContent(t *testing.T) {
	m, dir := openModel0(t, "learned-set-learn")
	counts := filepath.Join(dir, "forensics_counts")

	var got []int
	for _, content := range []string{"", "", "1\n", "1\n3\n"} {
		require.NoError(t, os.WriteFile(counts, []byte(content), 0o644)) // truncates in place, same inode
		n, err := m.ForensicsCount()
		require.NoError(t, err)
		got = append(got, n)
	}
	assert.Equal(t, []int{0, 0, 1, 4}, got)
}

// After seal an open(2) is an event: reads must use the descriptors opened
// before. Removing the files proves nothing is opened again.
func TestModel0_NeverReopens(t *testing.T) {
	m, dir := openModel0(t, "learned-set-enforce")
	require.NoError(t, os.RemoveAll(dir))

	s, err := m.Snapshot()

	require.NoError(t, err)
	assert.Len(t, s.TrajectoryCoefficients, 53)
	n, err := m.ForensicsCount()
	require.NoError(t, err)
	assert.Equal(t, 1, n)
}

func TestOpenModel0_MissingFileNamesIt(t *testing.T) {
	root := fakeSecurityfs(t, "capability,tsem", "learned-set-learn")
	require.NoError(t, os.Remove(filepath.Join(root, "tsem/internal_tma/model0/forensics_counts")))

	_, err := FS{Root: root}.OpenModel0()

	require.Error(t, err)
	assert.Contains(t, err.Error(), "open model0: open ")
	assert.Contains(t, err.Error(), "forensics_counts")
}

func TestModel0_ReadUnknownName(t *testing.T) {
	m, _ := openModel0(t, "learned-set-learn")
	_, err := m.Read("control")
	assert.EqualError(t, err, "read model0 control: not an open model0 file")
}

func TestModel0_ReadAfterCloseFails(t *testing.T) {
	m, _ := openModel0(t, "learned-set-learn")
	require.NoError(t, m.Close())
	_, err := m.Snapshot()
	assert.Error(t, err)
}

func TestParseCounts(t *testing.T) {
	seal, err := os.ReadFile("testdata/seal-only.forensics_counts")
	require.NoError(t, err)
	learn, err := os.ReadFile("testdata/learned-set-learn/trajectory_counts")
	require.NoError(t, err)

	tests := []struct {
		name string
		data string
		want []uint64
		err  string
	}{
		{"empty file", "", nil, ""},
		{"real seal-only forensics counts", string(seal), []uint64{1, 1}, ""},
		{"real trajectory counts", string(learn), nil, ""},
		{"garbage", "1\nx\n", nil, `line 2: "x" is not a count`},
		{"negative", "-1\n", nil, "not a count"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseCounts([]byte(tt.data))
			if tt.err != "" {
				assert.ErrorContains(t, err, tt.err)
				return
			}
			require.NoError(t, err)
			if tt.want != nil {
				assert.Equal(t, tt.want, got)
			}
		})
	}
	all, err := ParseCounts(learn)
	require.NoError(t, err)
	assert.Len(t, all, 48)
	assert.Equal(t, uint64(1), all[0])
}

func TestParseCoefficients(t *testing.T) {
	real, err := os.ReadFile("testdata/learned-set-enforce/trajectory_coefficients")
	require.NoError(t, err)
	got, err := ParseCoefficients(real)
	require.NoError(t, err)
	assert.Len(t, got, 53)

	tests := []struct{ name, data, err string }{
		{"empty file", "", ""},
		{"not hex", coeffA + "\nzz\n", `line 2: "zz" is not hex`},
		{"mixed lengths", coeffA + "\n00\n", "line 2: 2 hex digits, line 1 has 64"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseCoefficients([]byte(tt.data))
			if tt.err == "" {
				assert.NoError(t, err)
			} else {
				assert.ErrorContains(t, err, tt.err)
			}
		})
	}
}

func TestParseHex(t *testing.T) {
	v, err := ParseHex([]byte(zeros + "\n"))
	require.NoError(t, err)
	assert.Equal(t, zeros, v)
	v, err = ParseHex(nil)
	require.NoError(t, err)
	assert.Empty(t, v)
	_, err = ParseHex([]byte("00\n11\n"))
	assert.ErrorContains(t, err, "want one hex line, got 2 lines")
}

func TestDialect(t *testing.T) {
	real, err := os.ReadFile("testdata/learned-set-enforce/forensics")
	require.NoError(t, err)
	tests := []struct{ record, want string }{
		{string(real), "json"},
		{"event{process=bash, filename=none, type=task_kill, task_id=00} COE{uid=0} task_kill{}", "text"},
		{"pid{12} event{process=bash}", "text"},
		{"Untrusted event inode_getattr: model_ns=2, comm=cat, pid=72", ""},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, Dialect([]byte(tt.record)), tt.record)
	}
}

package explain

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tsemlab/tsemlab/event"
)

// coefficient recomputes the security state coefficient of a capable or
// file_open record as model0 does (security/tsem/map.c at 0f925b5b,
// SHA-256, little-endian host); ok is false for other hooks.
func coefficient(t *testing.T, e *event.Event) (string, bool) {
	t.Helper()
	num := func(v string) uint64 {
		n, err := strconv.ParseUint(v, 0, 64) // strtoll(…, 0): 0NN is octal
		require.NoError(t, err)
		return n
	}
	u32 := func(b []byte, v string) []byte { return binary.LittleEndian.AppendUint32(b, uint32(num(v))) }
	str := func(b []byte, s string) []byte {
		return append(binary.LittleEndian.AppendUint32(b, uint32(len(s))), s...)
	}
	unhex := func(s string) []byte {
		b, err := hex.DecodeString(s)
		require.NoError(t, err)
		return b
	}
	sum := func(b []byte) []byte { h := sha256.Sum256(b); return h[:] }

	var cell []byte
	c := e.CELL
	switch e.Hook {
	case "capable":
		cell = u32(u32(nil, c["cap"]), c["opts"])
	case "file_open":
		cell = u32(nil, c["file.flags"])
		for _, k := range []string{"uid", "gid", "mode", "s_magic"} {
			cell = u32(cell, c["file.inode."+k])
		}
		sid := make([]byte, 32) // struct tsem_inode_cell's s_id buffer
		copy(sid, c["file.inode.s_id"])
		cell = append(cell, sid...)
		if num(c["file.inode.s_magic"]) == 0x01021994 {
			cell = append(cell, make([]byte, 16)...)
		} else {
			cell = append(cell, unhex(c["file.inode.s_uuid"])...)
		}
		if major, ok := c["file.path.dev.major"]; ok && (major != "0" || c["file.path.dev.minor"] != "0") {
			cell = u32(u32(cell, c["file.path.dev.major"]), c["file.path.dev.minor"])
		}
		cell = str(cell, c["file.path.type"])
		if owner, ok := c["file.path.owner"]; ok {
			p := c["file.path.pathname"]
			cell = str(cell, p[:strings.LastIndexByte(p, '/')+1])
			cell = binary.LittleEndian.AppendUint64(cell, num(c["file.path.instance"]))
			cell = append(cell, unhex(owner)...)
		} else {
			cell = str(cell, c["file.path.pathname"])
		}
		cell = append(cell, unhex(c["file.digest"])...)
	default:
		return "", false
	}
	var coe []byte
	for _, k := range []string{"uid", "euid", "suid", "gid", "egid", "sgid", "fsuid", "fsgid"} {
		coe = u32(coe, e.COE[k])
	}
	coe = binary.LittleEndian.AppendUint64(coe, num(e.COE["capeff"]))

	in := []byte(e.Hook)
	in = append(in, unhex(e.Header["p_task_id"])...)
	in = append(in, unhex(e.Header["task_id"])...)
	in = append(in, sum(coe)...)
	in = append(in, sum(cell)...)
	return hex.EncodeToString(sum(in)), true
}

// TestStates_LinesAlignInLearnPhases checks the claim States rests on:
// in a learn phase, line n of trajectory_coefficients is the coefficient
// of line n of trajectory. It recomputes the coefficients of every
// capable and file_open record of two real learn phases.
func TestStates_LinesAlignInLearnPhases(t *testing.T) {
	for _, name := range []string{"learned-set.learn", "process-grep.learn"} {
		t.Run(name, func(t *testing.T) {
			file := filepath.Join("testdata", "states", name+".trajectory")
			recs, ok, err := readRecords(filepath.Dir(file), filepath.Base(file))
			require.NoError(t, err)
			require.True(t, ok)
			data, err := os.ReadFile(file + "_coefficients")
			require.NoError(t, err)
			coeffs, err := ParseCoefficients(strings.NewReader(string(data)))
			require.NoError(t, err)
			require.Len(t, coeffs, len(recs))

			checked := 0
			for i, r := range recs {
				if c, ok := coefficient(t, r.Event); ok {
					assert.Equal(t, coeffs[i], c, "%s: %s", r.Ref(), r.Event.Summary())
					checked++
				}
			}
			assert.Greater(t, checked, 15)

			states, err := TrajectoryStates(file)
			require.NoError(t, err)
			for i, c := range coeffs {
				assert.Equal(t, i+1, states[c].Line)
			}
		})
	}
}

func TestTrajectoryStates_PhaseThatLoadedAModelIsNotAligned(t *testing.T) {
	_, err := TrajectoryStates(filepath.Join("testdata", "states", "learned-set.enforce.trajectory"))

	require.ErrorIs(t, err, ErrNotAligned)
	assert.Contains(t, err.Error(), "53 coefficients, 7 records")
}

func TestTrajectoryStates_MissingCoefficients(t *testing.T) {
	_, err := TrajectoryStates(filepath.Join("testdata", "run", "single-unlearned", "learn.trajectory"))

	require.Error(t, err)
	assert.Contains(t, err.Error(), "learn.trajectory_coefficients")
}

func TestParseCoefficients(t *testing.T) {
	c64 := strings.Repeat("ab", 32)
	tests := []struct {
		name, in string
		want     []string
		err      string
	}{
		{"empty", "", nil, ""},
		{"no final newline, upper case, CRLF", c64 + "\r\n" + strings.ToUpper(c64), []string{c64, c64}, ""},
		{"blank line", c64 + "\n\n" + c64 + "\n", nil, `line 2: "" is not a coefficient`},
		{"not hex", "state ; rm -rf /\n", nil, "line 1:"},
		{"odd length", c64[:63] + "\n", nil, "63 hex digits"},
		{"mixed lengths", c64 + "\n" + strings.Repeat("ab", 20) + "\n", nil, "line 2: 40 hex digits, but line 1 has 64"},
		{"line too long", strings.Repeat("a", 5000), nil, "token too long"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseCoefficients(strings.NewReader(tt.in))
			if tt.err != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestModelTrajectory(t *testing.T) {
	file, ok, err := ModelTrajectory(filepath.Join("testdata", "run", "process-grep-owner", "grep.model"))
	require.NoError(t, err)
	assert.True(t, ok)
	assert.Equal(t, filepath.Join("testdata", "run", "process-grep-owner", "learn.trajectory"), file)

	_, ok, err = ModelTrajectory(filepath.Join("testdata", "run", "process-grep-owner", "other.model"))
	require.NoError(t, err)
	assert.False(t, ok, "no phase exports it")

	_, ok, err = ModelTrajectory(filepath.Join("testdata", "states", "x.model"))
	require.NoError(t, err)
	assert.False(t, ok, "no plan.json")
}

func FuzzParseCoefficients(f *testing.F) {
	data, err := os.ReadFile(filepath.Join("testdata", "states", "learned-set.learn.trajectory_coefficients"))
	require.NoError(f, err)
	f.Add(data)
	f.Add([]byte(strings.Repeat("0", 40) + "\r\n" + strings.Repeat("F", 40)))
	f.Add([]byte("\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		coeffs, err := ParseCoefficients(strings.NewReader(string(data)))
		if err != nil {
			return
		}
		var b strings.Builder
		for _, c := range coeffs {
			require.NoError(t, checkHex(c))
			b.WriteString(c + "\n")
		}
		again, err := ParseCoefficients(strings.NewReader(b.String()))
		require.NoError(t, err)
		assert.Equal(t, coeffs, again)
		recs := make([]Record, len(coeffs))
		states, err := States(coeffs, recs)
		require.NoError(t, err)
		assert.LessOrEqual(t, len(states), len(coeffs))
	})
}

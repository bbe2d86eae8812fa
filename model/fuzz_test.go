package model

import (
	"bytes"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// FuzzParse checks that Parse never panics and that a parsed model, written
// out and parsed again, is the same model.
func FuzzParse(f *testing.F) {
	for _, name := range []string{"testdata/learned-set.model", "testdata/problems.model", "testdata/backprop.golden"} {
		data, err := os.ReadFile(name)
		require.NoError(f, err)
		f.Add(data)
	}
	f.Add([]byte("key aGVsbG8=\nbase " + hexC + "\n# c\naggregate " + zero64 + "\npseudonym " + hexA + "\nstate " + hexB + "\n#x\nseal\nend\nsignature c2ln\n"))
	f.Add([]byte("#\r\n\r\nstate \n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Parse(bytes.NewReader(data))
		_ = Lint(bytes.NewReader(data))
		if err != nil {
			return
		}
		out := m.String()
		m2, err := Parse(bytes.NewReader([]byte(out)))
		require.NoError(t, err, "rewritten model:\n%s", out)
		assert.Equal(t, m, m2)
		_ = m.ControlCommands()
		assert.True(t, Diff(m, m2).Empty())
	})
}

// FuzzReadCoefficients checks that whatever ReadCoefficients accepts,
// back-propagated into a valid model, makes a model that Check (and so
// `model lint`) accepts.
func FuzzReadCoefficients(f *testing.F) {
	data, err := os.ReadFile("testdata/seal-only.forensics_coefficients")
	require.NoError(f, err)
	f.Add(data, 64)
	f.Add([]byte("state ; rm -rf /\n"), 64)
	f.Add([]byte(hexA+"\n"+hexB[:40]+"\n"), 0)
	f.Fuzz(func(t *testing.T, data []byte, hexLen int) {
		// As `model backprop` does: the model's digest length, or any
		// length for a model without digests.
		m := &Model{Seal: true, End: true}
		if hexLen != 0 {
			m = FromCoefficients(zero64, []string{hexA}, nil)
			hexLen = m.HexLen()
		}
		coeffs, err := ReadCoefficients(bytes.NewReader(data), hexLen)
		if err != nil {
			var se *SyntaxError
			require.ErrorAs(t, err, &se)
			return
		}
		Backprop(m, coeffs)
		require.NoError(t, m.Check(), "coefficients %q", coeffs)
	})
}

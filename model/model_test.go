package model

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tsemlab/tsemlab/internal/testutil"
)

const (
	zero64 = "0000000000000000000000000000000000000000000000000000000000000000"
	hexA   = "ead197b8ae2e7cce3fd5b30f4eec133455f4cfffe355b632ddee021a3ed67626"
	hexB   = "e3bc6936147e0a8083620fa1bb4bc05577f70a5f7eed375f9204e766fdd0309b"
	hexC   = "d0e21a8e1da0f1b18b16e4aab445ed73f449fb338a714b144430bfea39c41041"
	// Computed with Python: sha256(struct.pack("<I", len(p)) + p).
	bashHistoryPseudonym = "0f34f4a364460cecdacbaf292e48d9e10998521665b9aa0ab63f9a91e68d470e"
	dashTPseudonym       = "17a0dce53b9018e2559b9180c5434668a0dfde6ca4e7010ad02821eb6418fa37"
)

// golden compares got with testdata/name, rewriting it with -update.

func readLines(t *testing.T, name string) []string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	require.NoError(t, err)
	return strings.Fields(string(data))
}

func mustParse(t *testing.T, text string) *Model {
	t.Helper()
	m, err := Parse(strings.NewReader(text))
	require.NoError(t, err)
	return m
}

func TestParse_QuixoteOutputOfRealLearnPhase(t *testing.T) {
	f, err := os.Open("testdata/learned-set.model")
	require.NoError(t, err)
	defer f.Close()

	m, err := Parse(f)
	require.NoError(t, err)

	assert.Equal(t, zero64, m.Aggregate)
	assert.Equal(t, readLines(t, "learned-set.trajectory_coefficients"), m.States)
	assert.Len(t, m.States, 48)
	assert.True(t, m.Seal)
	assert.True(t, m.End)
	assert.Empty(t, m.Pseudonyms)
	assert.Empty(t, m.Base)
}

func TestParse_AllDirectives(t *testing.T) {
	text := "# signed test model\n" +
		"key " + "aGVsbG8=" + "\n" +
		"base " + strings.ToUpper(hexC) + "\n" +
		"aggregate " + zero64 + "\n" +
		"pseudonym " + bashHistoryPseudonym + "\n" +
		"state " + hexA + "\n" +
		"# 1 forensic updates\n" +
		"state " + hexB + "\n" +
		"seal\n" +
		"end\n" +
		"signature " + "c2lnbmF0dXJl" + "\n"

	m := mustParse(t, text)

	assert.Equal(t, &Model{
		Key:        "aGVsbG8=",
		Base:       hexC, // lower-cased
		Aggregate:  zero64,
		Pseudonyms: []string{bashHistoryPseudonym},
		States:     []string{hexA, hexB},
		Comments:   []Comment{{Before: 0, Text: "# signed test model"}, {Before: 1, Text: "# 1 forensic updates"}},
		Seal:       true,
		End:        true,
		Signature:  "c2lnbmF0dXJl",
	}, m)
}

func TestParse_ToleratesCRLFAndTrailingSpace(t *testing.T) {
	m := mustParse(t, "aggregate "+zero64+"\r\nstate "+hexA+"  \r\nseal \r\nend\r\n")
	assert.Equal(t, []string{hexA}, m.States)
	assert.True(t, m.Seal)
	assert.True(t, m.End)
}

func TestParse_RejectsWithLineNumber(t *testing.T) {
	tests := []struct {
		name, text, want string
	}{
		{"unknown directive", "aggregate " + zero64 + "\nstate " + hexA + "\nstat " + hexB + "\n",
			`line 3: unknown directive "stat"; expected one of #, key, base, aggregate, state, pseudonym, seal, signature, end`},
		{"blank line", "state " + hexA + "\n\nend\n", `line 2: blank line; Quixote's loader rejects it (delete it or start it with "#")`},
		{"indented directive", "  state " + hexA + "\n", `line 1: unknown directive ""; expected one of`},
		{"state without value", "state\n", `line 1: "state" needs a hex value`},
		{"bad hex", "state " + hexA[:63] + "g\n", `line 1: state value "ead197b8ae2e7cce3fd5b30f…" is not valid hex`},
		{"short digest", "state 00\n", `line 1: state value has 2 hex digits; a digest has 40, 56, 64 (sha256), 96 or 128`},
		{"odd length", "state 000\n", `line 1: state value "000" is not valid hex`},
		{"inconsistent length", "aggregate " + zero64 + "\nstate " + strings.Repeat("ab", 48) + "\n",
			`line 2: state value has 96 hex digits but line 1 has 64; all digests of a model have one length`},
		{"two values", "state " + hexA + " " + hexB + "\n", `line 1: state value "` + hexA + " " + hexB + `" contains white space`},
		{"seal with argument", "seal now\n", `line 1: "seal" takes no argument`},
		{"second seal", "seal\nseal\n", `line 2: second "seal" (first on line 1); the kernel refuses a second seal with EPERM`},
		{"second aggregate", "aggregate " + zero64 + "\naggregate " + zero64 + "\n", `line 2: second "aggregate" (first on line 1)`},
		{"bad base64 key", "key ***\n", `line 1: key value is not valid base64`},
		{"empty key", "key \n", `line 1: "key" needs a base64 value`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(strings.NewReader(tt.text))
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
			var se *SyntaxError
			require.True(t, errors.As(err, &se))
			assert.Positive(t, se.Line)
		})
	}
}

func TestWriteTo_QuixoteOutputRoundTripsByteForByte(t *testing.T) {
	want, err := os.ReadFile("testdata/learned-set.model")
	require.NoError(t, err)

	m := mustParse(t, string(want))
	var b bytes.Buffer
	n, err := m.WriteTo(&b)
	require.NoError(t, err)

	assert.Equal(t, string(want), b.String())
	assert.Equal(t, int64(len(want)), n)
}

func TestWriteTo_RoundTripKeepsCommentsInPlace(t *testing.T) {
	tests := []struct{ name, text string }{
		{"forensic updates comment", "aggregate " + zero64 + "\nstate " + hexA + "\n# 1 forensic updates\nstate " + hexB + "\nseal\nend\n"},
		{"pseudonyms before states", "# learned with history pseudonym\naggregate " + zero64 + "\npseudonym " + bashHistoryPseudonym + "\nstate " + hexA + "\nseal\nend\n"},
		{"trailing comment", "aggregate " + zero64 + "\nstate " + hexA + "\n# done\nend\n"},
		{"no seal, no end", "pseudonym " + bashHistoryPseudonym + "\n"},
		{"signed", "key aGVsbG8=\naggregate " + zero64 + "\nstate " + hexA + "\nseal\nend\nsignature c2ln\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := mustParse(t, tt.text)
			assert.Equal(t, tt.text, m.String())
			assert.Equal(t, m, mustParse(t, m.String()))
		})
	}
}

func TestWriteTo_PutsPseudonymsBeforeStates(t *testing.T) {
	m := mustParse(t, "aggregate "+zero64+"\nstate "+hexA+"\npseudonym "+bashHistoryPseudonym+"\nseal\nend\n")
	assert.Equal(t, "aggregate "+zero64+"\npseudonym "+bashHistoryPseudonym+"\nstate "+hexA+"\nseal\nend\n", m.String())
}

func TestFromCoefficients_BuildsQuixoteOutput(t *testing.T) {
	coeffs := readLines(t, "learned-set.trajectory_coefficients")
	m := FromCoefficients(zero64+"\n", append(coeffs, ""), nil)

	want, err := os.ReadFile("testdata/learned-set.model")
	require.NoError(t, err)
	assert.Equal(t, string(want), m.String())
}

func TestFromCoefficients_KeepsPseudonymsAheadOfStates(t *testing.T) {
	m := FromCoefficients(zero64, []string{strings.ToUpper(hexA)}, []string{bashHistoryPseudonym})
	assert.Equal(t, "aggregate "+zero64+"\npseudonym "+bashHistoryPseudonym+"\nstate "+hexA+"\nseal\nend\n", m.String())
}

func TestBackprop_AddsOnlyNewForensicCoefficients(t *testing.T) {
	m := FromCoefficients(zero64, readLines(t, "learned-set.trajectory_coefficients"), nil)
	forensics := append(readLines(t, "seal-only.forensics_coefficients"), m.States[0])

	added := Backprop(m, forensics)

	assert.Equal(t, 2, added)
	assert.Len(t, m.States, 50)
	testutil.Golden(t, filepath.Join("testdata", "backprop.golden"), []byte(m.String()))
	assert.Equal(t, m, mustParse(t, m.String()))
}

func TestBackprop_NothingNewLeavesModelUnchanged(t *testing.T) {
	m := FromCoefficients(zero64, []string{hexA}, nil)
	before := m.String()
	assert.Zero(t, Backprop(m, []string{hexA, "", strings.ToUpper(hexA)}))
	assert.Equal(t, before, m.String())
}

func TestBackprop_DeduplicatesForensics(t *testing.T) {
	m := FromCoefficients(zero64, []string{hexA}, nil)
	assert.Equal(t, 1, Backprop(m, []string{hexB, hexB}))
	assert.Equal(t, "aggregate "+zero64+"\nstate "+hexA+"\n# 1 forensic updates\nstate "+hexB+"\nseal\nend\n", m.String())
}

func TestControlCommands_OrderAndAggregateNotSent(t *testing.T) {
	tests := []struct {
		name string
		text string
		want []string
	}{
		{"sealed model", "aggregate " + zero64 + "\nstate " + hexA + "\nstate " + hexB + "\nseal\nend\n",
			[]string{"state value=" + hexA, "state value=" + hexB, "seal"}},
		{"pseudonym-only learn model", "pseudonym " + bashHistoryPseudonym + "\nend\n",
			[]string{"pseudonym value=" + bashHistoryPseudonym}},
		{"base and pseudonym first", "aggregate " + zero64 + "\nstate " + hexA + "\npseudonym " + bashHistoryPseudonym + "\nbase " + hexC + "\nseal\nend\n",
			[]string{"base value=" + hexC, "pseudonym value=" + bashHistoryPseudonym, "state value=" + hexA, "seal"}},
		{"empty model", "end\n", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmds := mustParse(t, tt.text).ControlCommands()
			assert.Equal(t, tt.want, cmds)
			for _, c := range cmds {
				assert.LessOrEqual(t, len(c)+1, 127, "a control write is at most 127 bytes with its newline")
			}
		})
	}
}

func TestPseudonym_MatchesIndependentComputation(t *testing.T) {
	for _, path := range []string{"/root/.bash_history", "-T", "", "/etc/ä"} {
		buf := []byte{byte(len(path)), byte(len(path) >> 8), byte(len(path) >> 16), byte(len(path) >> 24)}
		sum := sha256.Sum256(append(buf, path...))
		assert.Equal(t, hex.EncodeToString(sum[:]), Pseudonym(path), path)
	}
	assert.Equal(t, bashHistoryPseudonym, Pseudonym("/root/.bash_history"))
	assert.Equal(t, dashTPseudonym, Pseudonym("-T"))
}

func TestReadCoefficients_RefusesWhatIsNotADigestWithItsLine(t *testing.T) {
	hex40 := strings.Repeat("ab", 20)
	tests := []struct {
		name, text string
		hexLen     int
		line       int
		msg        string
	}{
		{"shell text", hexA + "\nstate ; rm -rf /\n", 64, 2, `coefficient "state ; rm -rf /" is not a hex digest; each line holds one, as in a phase's forensics_coefficients`},
		{"inner space", hexA[:32] + " " + hexA[32:] + "\n", 64, 1, "is not a hex digest"},
		{"odd length", "\n\nabc\n", 0, 3, "is not a hex digest"},
		{"not a digest length", "abcd\n", 0, 1, "coefficient has 4 hex digits; a digest has 40, 56, 64 (sha256), 96 or 128"},
		{"other digest than the model", hex40 + "\n", 64, 1, "coefficient has 40 hex digits but the model's digests have 64; were they taken with another digest?"},
		{"mixed lengths", hex40 + "\n" + hexA + "\n", 0, 2, "coefficient has 64 hex digits but line 1 has 40; all digests of a model have one length"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ReadCoefficients(strings.NewReader(tt.text), tt.hexLen)
			var se *SyntaxError
			require.ErrorAs(t, err, &se)
			assert.Equal(t, tt.line, se.Line)
			assert.Contains(t, se.Msg, tt.msg)
		})
	}
}

func TestReadCoefficients_NormalisesValues(t *testing.T) {
	got, err := ReadCoefficients(strings.NewReader("  "+strings.ToUpper(hexA)+"  \r\n\n"+hexB+"\n"), 0)
	require.NoError(t, err)
	assert.Equal(t, []string{hexA, hexB}, got)
}

func TestHexLen_ComesFromTheFirstDigest(t *testing.T) {
	assert.Equal(t, 0, (&Model{Seal: true}).HexLen())
	assert.Equal(t, 64, FromCoefficients(zero64, nil, nil).HexLen())
	assert.Equal(t, 40, (&Model{States: []string{strings.Repeat("a", 40)}}).HexLen())
}

func TestCheck_RefusesAModelLintRefuses(t *testing.T) {
	m := FromCoefficients(zero64, []string{hexA}, nil)
	require.NoError(t, m.Check())
	// Backprop itself trusts its input (the kernel's coefficients); a
	// value from anywhere else makes a model that would not load.
	Backprop(m, []string{"state ; rm -rf /"})
	var se *SyntaxError
	require.ErrorAs(t, m.Check(), &se)
	assert.Equal(t, 4, se.Line)
	assert.Contains(t, se.Msg, "contains white space; give one hex digest")
}

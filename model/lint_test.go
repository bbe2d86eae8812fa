package model

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tsemlab/tsemlab/internal/testutil"
)

func TestLint_ReportsEveryProblemOfAFile(t *testing.T) {
	f, err := os.Open("testdata/problems.model")
	require.NoError(t, err)
	defer f.Close()

	var b strings.Builder
	for _, d := range Lint(f) {
		fmt.Fprintln(&b, d)
	}
	testutil.Golden(t, filepath.Join("testdata", "problems.lint.golden"), []byte(b.String()))
}

func TestLint_Warnings(t *testing.T) {
	tests := []struct {
		name string
		text string
		want []Diagnostic
	}{
		{"clean model", "aggregate " + zero64 + "\nstate " + hexA + "\nseal\nend\n", nil},
		{"duplicate state", "state " + hexA + "\nstate " + strings.ToUpper(hexA) + "\nend\n",
			[]Diagnostic{{2, SeverityWarning, "duplicate state (first on line 1); the kernel ignores it"}}},
		{"duplicate pseudonym", "pseudonym " + hexA + "\npseudonym " + hexA + "\nend\n",
			[]Diagnostic{{2, SeverityWarning, "duplicate pseudonym (first on line 1)"}}},
		{"seal without states", "aggregate " + zero64 + "\nseal\nend\n",
			[]Diagnostic{{2, SeverityWarning, "\"seal\" in a model without \"state\" lines: every event of the workload becomes a violation"}}},
		{"lines after end", "state " + hexA + "\nend\nstate " + hexB + "\nstate " + hexC + "\n",
			[]Diagnostic{{3, SeverityWarning, "line after \"end\" (line 2); Quixote still loads it"}}},
		{"signature after end is fine", "key aGVsbG8=\nstate " + hexA + "\nend\nsignature c2ln\n", nil},
		{"missing end", "state " + hexA + "\nseal\n",
			[]Diagnostic{{3, SeverityWarning, "missing \"end\"; `quixote -o` ends a model with it"}}},
		{"signature without key", "state " + hexA + "\nend\nsignature c2ln\n",
			[]Diagnostic{{3, SeverityWarning, "\"signature\" without a preceding \"key\"; Quixote refuses to verify it"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, Lint(strings.NewReader(tt.text)))
		})
	}
}

func TestLint_ErrorsMatchParse(t *testing.T) {
	text := "state " + hexA + "\nstat " + hexB + "\n"
	_, err := Parse(strings.NewReader(text))
	require.Error(t, err)

	diags := Lint(strings.NewReader(text))
	require.NotEmpty(t, diags)
	assert.Equal(t, SeverityError, diags[0].Severity)
	assert.Equal(t, err.Error(), fmt.Sprintf("line %d: %s", diags[0].Line, diags[0].Msg))
}

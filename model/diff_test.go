package model

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/tsemlab/tsemlab/internal/testutil"
)

func TestDiff_StatesPseudonymsAndScalars(t *testing.T) {
	a := mustParse(t, "aggregate "+zero64+"\npseudonym "+bashHistoryPseudonym+"\nstate "+hexA+"\nstate "+hexB+"\nseal\nend\n")
	b := mustParse(t, "base "+hexC+"\naggregate "+hexA+"\nstate "+hexB+"\nstate "+hexC+"\nstate "+hexC+"\nend\n")

	d := Diff(a, b)

	assert.Equal(t, []string{hexA}, d.OnlyA)
	assert.Equal(t, []string{hexC}, d.OnlyB)
	assert.Equal(t, []string{bashHistoryPseudonym}, d.PseudonymsOnlyA)
	assert.Empty(t, d.PseudonymsOnlyB)
	assert.False(t, d.Empty())
	testutil.Golden(t, filepath.Join("testdata", "diff.golden"), []byte(d.String()))
}

func TestDiff_SameContentIsEmpty(t *testing.T) {
	a := mustParse(t, "aggregate "+zero64+"\nstate "+hexA+"\nstate "+hexB+"\nseal\nend\n")
	b := mustParse(t, "# reordered\naggregate "+zero64+"\nstate "+hexB+"\nstate "+hexA+"\nstate "+hexA+"\nseal\nend\n")

	d := Diff(a, b)

	assert.True(t, d.Empty())
	assert.Equal(t, "models are the same\n", d.String())
}

func TestDiff_AnnotatedNamesTheEventsBehindStates(t *testing.T) {
	a := mustParse(t, "aggregate "+zero64+"\nstate "+hexA+"\nstate "+hexB+"\nend\n")
	b := mustParse(t, "aggregate "+zero64+"\nstate "+hexB+"\nstate "+hexC+"\nend\n")
	d := Diff(a, b)

	got := d.Annotated(map[string]string{hexA: "cat  file_open  /etc/hostname", hexB: "in both"}, map[string]string{})

	assert.Contains(t, got, "- state "+hexA+"  cat  file_open  /etc/hostname\n")
	assert.Contains(t, got, "+ state "+hexC+"\n", "a state without a note")
	assert.NotContains(t, got, "in both")
	assert.Equal(t, d.String(), d.Annotated(nil, nil))
}

package scenario

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSelect_OnlySkipAndUnknownNames(t *testing.T) {
	all := []*Scenario{{Name: "a"}, {Name: "b"}, {Name: "c"}}
	names := func(ss []*Scenario) (out []string) {
		for _, s := range ss {
			out = append(out, s.Name)
		}
		return out
	}
	got, err := Select(all, nil, nil)
	require.NoError(t, err)
	assert.Equal(t, []string{"a", "b", "c"}, names(got))
	got, err = Select(all, []string{"c", "a"}, nil)
	require.NoError(t, err)
	assert.Equal(t, []string{"a", "c"}, names(got), "file order is kept")
	got, err = Select(all, nil, []string{"b"})
	require.NoError(t, err)
	assert.Equal(t, []string{"a", "c"}, names(got))
	_, err = Select(all, []string{"x"}, nil)
	assert.EqualError(t, err, `no scenario named "x" (have: a, b, c)`)
	_, err = Select(all, nil, []string{"y"})
	assert.Error(t, err)
}

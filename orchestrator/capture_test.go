package orchestrator

import (
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestTail_KeepsTheLastBytes(t *testing.T) {
	tests := []struct {
		name      string
		max       int
		writes    []string
		want      string
		truncated bool
	}{
		{"fits", 8, []string{"abc", "def"}, "abcdef", false},
		{"exactly full", 6, []string{"abc", "def"}, "abcdef", false},
		{"one write over", 4, []string{"abcdefghij"}, "ghij", true},
		{"many writes over", 5, []string{"ab", "cd", "ef", "gh"}, "defgh", true},
		{"nothing", 4, nil, "", false},
		{"empty writes", 4, []string{"", ""}, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tl := newTail(tt.max)
			for _, w := range tt.writes {
				n, err := tl.Write([]byte(w))
				require.NoError(t, err)
				require.Equal(t, len(w), n)
			}
			assert.Equal(t, tt.want, tl.String())
			assert.Equal(t, tt.truncated, tl.Truncated())
		})
	}
}

func TestTail_WriterMayReuseItsBuffer(t *testing.T) {
	tl := newTail(4)
	p := []byte("abcd")
	_, _ = tl.Write(p)
	copy(p, "zzzz")
	assert.Equal(t, "abcd", tl.String())
}

func TestEnviron_Merge(t *testing.T) {
	tests := []struct {
		name       string
		base, over []string
		want       []string
	}{
		{"nothing to add", []string{"A=1"}, nil, []string{"A=1"}},
		{"replace and add", []string{"A=1", "B=2"}, []string{"B=3", "C=4"}, []string{"A=1", "B=3", "C=4"}},
		{"last override wins", []string{"A=1"}, []string{"A=2", "A=3"}, []string{"A=3"}},
		{"empty value", []string{"HISTFILE=/root/.bash_history"}, []string{"HISTFILE="}, []string{"HISTFILE="}},
		{"value with =", []string{"X=a=b"}, []string{"X=c=d"}, []string{"X=c=d"}},
		{"key prefix is not a match", []string{"PATH=/bin"}, []string{"PA=1"}, []string{"PATH=/bin", "PA=1"}},
		{"empty base", nil, []string{"A=1"}, []string{"A=1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := slices.Clone(tt.base)
			assert.Equal(t, tt.want, environ(tt.base, tt.over))
			assert.Equal(t, base, tt.base, "base is not modified")
		})
	}
}

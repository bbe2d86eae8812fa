package suggest

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestNearest(t *testing.T) {
	tests := []struct {
		s          string
		candidates []string
		want       string
	}{
		{"stpes", []string{"name", "steps", "phases"}, "steps"},
		{"chmdo", []string{"chmod", "chown", "mkdir"}, "chmod"},
		{"tsme", []string{"tsem", "apparmor"}, "tsem"},
		{"denied", []string{"allow", "deny", "error"}, "deny"},
		{"xyz", []string{"allow", "deny"}, ""},
		{"", []string{"a"}, ""},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, Nearest(tt.s, tt.candidates), tt.s)
	}
}

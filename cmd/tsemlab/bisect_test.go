package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
)

// bisect-step's input errors exit 128, which stops git bisect run; 2, as
// elsewhere, would mark every revision bad.
func TestBisectStep_BadInputAbortsTheBisect(t *testing.T) {
	notGit := t.TempDir()
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no scenario", []string{"bisect-step"}, "--scenario FILE is required"},
		{"unknown flag", []string{"bisect-step", "--scenaro", "x.yaml"}, "unknown flag: --scenaro"},
		{"one endpoint", []string{"bisect-step", "--scenario", "scenarios/caps-chown.yaml", "--check-endpoints", "v1"}, "--check-endpoints GOOD BAD"},
		{"endpoints without the flag", []string{"bisect-step", "--scenario", "scenarios/caps-chown.yaml", "v1", "v2"}, "--check-endpoints GOOD BAD"},
		{"not in a git tree", []string{"bisect-step", "--tree", notGit, "--scenario", "scenarios/caps-chown.yaml"}, "is not in a git kernel tree"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tsemlab(t, nil, tt.args...)
			assert.Equal(t, 128, r.code, r.stderr)
			assert.Contains(t, r.stderr, tt.want)
		})
	}
}

func TestKernelBuild_BadInputExits2(t *testing.T) {
	frag := filepath.Join(t.TempDir(), "bad.config")
	assert.NoError(t, os.WriteFile(frag, []byte("SECURITY=y\n"), 0o644))
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"kernel", "build", "--source", "/nonexistent/linux"}, "--source /nonexistent/linux"},
		{[]string{"kernel", "build", "--source", "https://example.org/linux.git"}, "a git URL needs a ref: URL@REF"},
		{[]string{"kernel", "build", "--source", "/usr", "--fragment", frag}, `bad.config:1: "SECURITY=y" is not CONFIG_NAME=value or a comment`},
	}
	for _, tt := range tests {
		r := tsemlab(t, nil, tt.args...)
		assert.Equal(t, 2, r.code, r.stderr)
		assert.Contains(t, r.stderr, tt.want)
	}
}

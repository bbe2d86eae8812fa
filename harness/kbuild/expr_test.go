package kbuild

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tsemlab/tsemlab/harness/kernel"
)

func TestEvalExpr_TristateLogic(t *testing.T) {
	cfg, err := kernel.ParseFragment(".config", strings.NewReader("CONFIG_Y=y\nCONFIG_M=m\n# CONFIG_N is not set\nCONFIG_S=\"tsem\"\nCONFIG_ARCH=\"x86\"\n"))
	require.NoError(t, err)
	tests := []struct {
		expr string
		want int
	}{
		{"Y", 2},
		{"M", 1},
		{"N", 0},
		{"ABSENT", 0},
		{"!N", 2},
		{"!M", 1},
		{"Y && M", 1},
		{"Y && N", 0},
		{"N || M", 1},
		{"N || (Y && !N)", 2},
		{"!(Y || N)", 0},
		{"S = \"tsem\"", 2},
		{"S != \"tsem\"", 0},
		{"ARCH=\"x86\"", 2},
		{"N = n", 2},
		{"Y = y && M = m", 2},
		{"64BIT || X86_32", 0},
		{"Y && (", 2},           // does not parse: counted as met
		{"$(cc-option,-fx)", 2}, // a macro: counted as met
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, evalExpr(tt.expr, cfg), tt.expr)
	}
}

func TestConjuncts_SplitAtTopLevelAnd(t *testing.T) {
	assert.Equal(t, []string{"A", "(B && C) || D", "!E"}, conjuncts("A && (B && C) || D && !E"))
	assert.Equal(t, []string{"A"}, conjuncts(" A "))
}

func TestProgress_CountsObjectsWhileCompilingAndNoticesLinking(t *testing.T) {
	var phases []string
	var out strings.Builder
	p := &progress{w: &out, onPhase: func(s string) { phases = append(phases, s) }}
	p.phase("configuring")
	p.line("  HOSTCC  scripts/kconfig/conf.o")
	p.phase("compiling")
	for _, l := range []string{"  CC      kernel/fork.o", "  AS      arch/x86/entry/entry_64.o", "make[1]: Entering directory", "  AR      lib/lib.a", "  LD      vmlinux.o"} {
		p.line(l)
	}
	assert.Equal(t, 3, p.count(), "CC, AS and AR while compiling; not the HOSTCC while configuring")
	assert.Equal(t, []string{"configuring", "compiling", "linking"}, phases)
	assert.Contains(t, out.String(), "compiling")
	p.done()
	assert.True(t, strings.HasSuffix(out.String(), "\r\033[K"), "done clears the line")
}

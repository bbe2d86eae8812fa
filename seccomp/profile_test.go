package seccomp

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	moby "github.com/moby/profiles/seccomp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tsemlab/tsemlab/internal/testutil"
)

func TestParse_GoodProfilesAreValid(t *testing.T) {
	files, err := filepath.Glob("testdata/good/*.json")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, err := os.ReadFile(f)
			require.NoError(t, err)
			p, err := Parse(data)
			require.NoError(t, err)
			_, err = p.Filter()
			require.NoError(t, err)
		})
	}
}

func TestParse_BadProfilesReportGoldenErrors(t *testing.T) {
	files, err := filepath.Glob("testdata/bad/*.json")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, err := os.ReadFile(f)
			require.NoError(t, err)
			p, err := Parse(data)
			require.Error(t, err)
			assert.Nil(t, p)
			var es Errors
			require.ErrorAs(t, err, &es)
			for _, e := range es {
				assert.Positive(t, e.Line, e.Msg)
				assert.Positive(t, e.Col, e.Msg)
			}
			testutil.Golden(t, strings.TrimSuffix(f, ".json")+".golden", []byte(err.Error()+"\n"))
		})
	}
}

func TestParse_MisspeltSyscallHasPositionAndSuggestion(t *testing.T) {
	data, err := os.ReadFile("testdata/bad/misspelt-syscall.json")
	require.NoError(t, err)
	_, err = Parse(data)
	var e *Error
	require.True(t, errors.As(err, &e))
	assert.Equal(t, 4, e.Line)
	assert.Equal(t, 25, e.Col)
	assert.Equal(t, `unknown system call "fchmdoat"; did you mean "fchmodat"?`, e.Msg)
}

// A learned profile encodes deterministically, parses back to itself, and
// Docker's own types read it strictly (no field they do not know).
func TestLearned_RoundTripsAndDockerAcceptsIt(t *testing.T) {
	counts := map[string]int{"write": 3, "read": 10, "execve": 1, "exit_group": 1, "arm_fadvise64_64": 1}
	p := Learned(counts, ActErrno)
	b := p.Marshal()
	assert.Equal(t, string(b), string(Learned(counts, ActErrno).Marshal()), "same counts, same bytes")
	testutil.Golden(t, "testdata/learned.golden.json", b)

	back, err := Parse(b)
	require.NoError(t, err)
	assert.Equal(t, p, back)
	assert.Equal(t, []string{"execve", "exit_group", "read", "write"}, back.Syscalls[0].Names, "sorted, native calls only")

	var docker moby.Seccomp
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	require.NoError(t, dec.Decode(&docker))
	assert.Equal(t, "SCMP_ACT_ERRNO", string(docker.DefaultAction))
	assert.Equal(t, []string{"SCMP_ARCH_X86_64"}, archStrings(docker.Architectures))
	require.Len(t, docker.Syscalls, 1)
	assert.Equal(t, back.Syscalls[0].Names, docker.Syscalls[0].Names)
	assert.Equal(t, "SCMP_ACT_ALLOW", string(docker.Syscalls[0].Action))
	again, err := json.Marshal(&docker)
	require.NoError(t, err)
	fromDocker, err := Parse(again)
	require.NoError(t, err, "what Docker writes back: %s", again)
	assert.Equal(t, p.Syscalls, fromDocker.Syscalls)
}

func archStrings[T ~string](in []T) []string {
	var out []string
	for _, a := range in {
		out = append(out, string(a))
	}
	return out
}

// Docker's own default profile uses includes/excludes (capability- and
// architecture-dependent rules): tsemlab refuses it with the reason
// instead of enforcing something else.
func TestParse_DockerDefaultProfileIsRefusedForItsIncludes(t *testing.T) {
	_, err := Parse(mobyDefault(t))
	require.Error(t, err)
	assert.Contains(t, err.Error(), `"includes" is not supported`)
	assert.NotContains(t, err.Error(), "unknown system call", "every name in Docker's profile is known")
}

func mobyDefault(t *testing.T) []byte {
	t.Helper()
	b, err := json.Marshal(moby.DefaultProfile())
	require.NoError(t, err)
	return b
}

package runner

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tsemlab/tsemlab/harness/facts"
	"github.com/tsemlab/tsemlab/harness/kernel"
	"github.com/tsemlab/tsemlab/harness/result"
	"github.com/tsemlab/tsemlab/harness/scenario"
	"github.com/tsemlab/tsemlab/protocol"
)

func artifactRun(t *testing.T) *scenarioRun {
	t.Helper()
	return &scenarioRun{dir: t.TempDir(), res: &result.Scenario{}, artifacts: map[string]map[protocol.ArtifactKind]string{}}
}

func TestArtifact_GuestNamesCannotEscapeOrOverwrite(t *testing.T) {
	for _, name := range []string{"console.log", "plan.json", "result.json", "../x", "/etc/passwd", ".hidden", "a/b", "", strings.Repeat("a", 200), "x\x00y"} {
		t.Run(name, func(t *testing.T) {
			r := artifactRun(t)
			err := r.artifact(&protocol.Artifact{Phase: "p", Name: name, Content: "x"})
			require.Error(t, err)
			assert.Contains(t, err.Error(), "bad name")
			assert.Empty(t, r.res.Artifacts)
		})
	}
}

func TestArtifact_NeverFollowsAPlantedSymlinkNorOverwrites(t *testing.T) {
	r := artifactRun(t)
	outside := filepath.Join(t.TempDir(), "victim")
	require.NoError(t, os.WriteFile(outside, []byte("precious"), 0o644))
	require.NoError(t, os.Symlink(outside, filepath.Join(r.dir, "learn.model")))
	err := r.artifact(&protocol.Artifact{Phase: "learn", Name: "learn.model", Content: "evil"})
	require.Error(t, err)
	data, _ := os.ReadFile(outside)
	assert.Equal(t, "precious", string(data))

	require.NoError(t, r.artifact(&protocol.Artifact{Phase: "learn", Name: "learn.state", Kind: protocol.ArtifactState, Content: "00"}))
	assert.Error(t, r.artifact(&protocol.Artifact{Phase: "learn", Name: "learn.state", Content: "11"}), "a second artifact of one name")
	data, _ = os.ReadFile(filepath.Join(r.dir, "learn.state"))
	assert.Equal(t, "00", string(data))
	assert.Equal(t, "00", r.artifacts["learn"][protocol.ArtifactState])
}

func TestArtifact_CountAndSizeAreBounded(t *testing.T) {
	r := artifactRun(t)
	for i := range maxArtifacts {
		require.NoError(t, r.artifact(&protocol.Artifact{Name: fmt.Sprintf("a%03d", i), Content: "x"}))
	}
	err := r.artifact(&protocol.Artifact{Name: "one-too-many", Content: "x"})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "more than 256 artifacts")

	r = artifactRun(t)
	big := strings.Repeat("x", maxArtifactBytes/2+1)
	require.NoError(t, r.artifact(&protocol.Artifact{Name: "big1", Content: big}))
	err = r.artifact(&protocol.Artifact{Name: "big2", Content: big})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "exceed 64 MiB")
}

func TestSkipKnown_NoBootForAScenarioTheKernelCannotRun(t *testing.T) {
	cache := facts.Cache{Dir: t.TempDir()}
	require.NoError(t, cache.Put("abc", nil, protocol.Hello{ProtocolVersion: protocol.Version, KernelRelease: "6.1", LSMs: []string{"capability"}}, time.Now()))
	out := t.TempDir()
	c := Config{Kernel: &kernel.Kernel{Path: "/k", SHA256: "abc"}, Facts: cache, OutDir: out, Log: discard()}
	s := &scenario.Scenario{Name: "needs-tsem", Requires: scenario.Requires{LSM: []string{"tsem"}}, Phases: []scenario.Phase{{Name: "p", Steps: []scenario.Step{{Run: "true"}}}}}
	res := runScenario(context.Background(), c, s)
	require.NotNil(t, res)
	assert.Equal(t, result.Skip, res.Status)
	assert.Contains(t, res.Reason, "known without booting")
	assert.Contains(t, res.Reason, "build a TSEM kernel")
	assert.FileExists(t, filepath.Join(out, "needs-tsem", "result.json"))

	s.Requires = scenario.Requires{LSM: []string{"capability"}}
	assert.Empty(t, knownSkip(c, s), "met requirements boot")
}

// TestArtifact_GzippedContentIsStoredAsText: a large record travels
// gzipped (protocol.NewArtifact) and is stored, checked and bounded as
// its decompressed text.
func TestArtifact_GzippedContentIsStoredAsText(t *testing.T) {
	r := artifactRun(t)
	text := strings.Repeat(`{"event": {"type": "file_open", "process": "runc"}}`+"\n", 400)
	a := protocol.NewArtifact("learn", "learn.trajectory", protocol.ArtifactKind("trajectory"), text)
	require.NotNil(t, a.Gzip)
	require.NoError(t, r.artifact(a))
	data, err := os.ReadFile(filepath.Join(r.dir, "learn.trajectory"))
	require.NoError(t, err)
	assert.Equal(t, text, string(data))
	assert.Equal(t, text, r.artifacts["learn"]["trajectory"])
	assert.Equal(t, len(text), r.artifactBytes, "the bound counts decompressed bytes")

	r.artifactBytes = maxArtifactBytes - 10
	err = r.artifact(protocol.NewArtifact("learn", "learn.other", protocol.ArtifactKind("x"), text))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "guest artifacts exceed 64 MiB; learn.other was dropped")
	assert.NoFileExists(t, filepath.Join(r.dir, "learn.other"))

	err = r.artifact(&protocol.Artifact{Phase: "learn", Name: "learn.bad", Gzip: []byte("junk")})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "guest sent an unreadable artifact: learn.bad: gzipped content")
}

package orchestrator

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tsemlab/tsemlab/orchestrator/tsem"
	"github.com/tsemlab/tsemlab/protocol"
)

// fakeModel0 lays out an empty internal_tma/model0 like securityfs and
// opens it; the returned directory is where its files live.
func fakeModel0(t *testing.T) (*tsem.Model0, string) {
	t.Helper()
	root := t.TempDir()
	dir := filepath.Join(root, "tsem/internal_tma/model0")
	require.NoError(t, os.MkdirAll(dir, 0o755))
	for _, name := range tsem.Model0Files {
		content := ""
		if name == "state" || name == "measurement" {
			content = strings.Repeat("0", 64) + "\n"
		}
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644))
	}
	m, err := tsem.FS{Root: root}.OpenModel0()
	require.NoError(t, err)
	t.Cleanup(func() { m.Close() })
	return m, dir
}

// recorder is a sender that keeps what it was sent.
type recorder struct{ msgs []protocol.Message }

func (r *recorder) send(m protocol.Message) error {
	r.msgs = append(r.msgs, m)
	return nil
}

func TestNamespaceFacts_EachStepGetsTheForensicsRecordedDuringIt(t *testing.T) {
	m0, dir := fakeModel0(t)
	ns := &namespace{m0: m0, id: 2, enforcing: true}
	facts, err := ns.facts()
	require.NoError(t, err)

	var quiet protocol.StepEnd
	facts(&quiet)
	assert.Equal(t, "2", quiet.NamespaceID)
	assert.True(t, quiet.Enforcing)
	assert.Empty(t, quiet.Forensics)

	rec, err := os.ReadFile("testdata/single-unlearned.enforce.forensics")
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "forensics"), rec, 0o644))
	var violating protocol.StepEnd
	facts(&violating)
	require.Len(t, violating.Forensics, 1)
	assert.Contains(t, violating.Forensics[0], "cat  file_open  /etc/resolv.conf")

	var after protocol.StepEnd
	facts(&after)
	assert.Empty(t, after.Forensics, "a record is one step's only")
}

func TestNamespaceReport_SendsModel0FilesTheExportAndThePhaseEnd(t *testing.T) {
	m0, dir := fakeModel0(t)
	coeff := strings.Repeat("ab", 32) + "\n"
	require.NoError(t, os.WriteFile(filepath.Join(dir, "trajectory_coefficients"), []byte(coeff), 0o644))
	ns := &namespace{
		phase: protocol.Phase{Name: "learn", TSEM: &protocol.TSEM{Model: protocol.ModelLearn, Export: "cat.model"}},
		m0:    m0, id: 3, aggregate: strings.Repeat("0", 64),
	}
	out := &recorder{}
	require.NoError(t, ns.report(out, nil))

	var names []string
	var exported string
	for _, m := range out.msgs[:len(out.msgs)-1] {
		require.Equal(t, protocol.KindArtifact, m.Kind)
		names = append(names, m.Artifact.Name)
		if m.Artifact.Kind == protocol.ArtifactModel {
			exported = m.Artifact.Content
		}
	}
	assert.Contains(t, names, "learn.trajectory")
	assert.Contains(t, names, "learn.forensics")
	assert.Contains(t, names, "learn.id")
	assert.Contains(t, names, "cat.model")
	assert.Contains(t, exported, "state "+strings.TrimSpace(coeff))
	end := out.msgs[len(out.msgs)-1]
	require.Equal(t, protocol.KindPhaseEnd, end.Kind)
	assert.Equal(t, "3", end.Phase.NamespaceID)
	assert.Empty(t, end.Phase.Error)
}

// TestKeepExport_ModelsArriveGzippedAndAreKeptAsText: a learn phase's
// model of more than protocol.GzipAbove bytes comes from the leader
// gzipped; a later phase loads its text (this once broke every enforce
// phase whose model was large: they loaded an empty one).
func TestKeepExport_ModelsArriveGzippedAndAreKeptAsText(t *testing.T) {
	o := &orchestrator{out: &recorder{}, exports: map[string]string{}}
	model := strings.Repeat("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n", 200)
	m := artifact("learn", "grep.model", protocol.ArtifactModel, model)
	require.NotNil(t, m.Artifact.Gzip, "a large model travels gzipped")
	o.keepExport(m)
	assert.Equal(t, model, o.exports["grep.model"])

	o.keepExport(artifact("learn", "learn.trajectory", protocol.ArtifactKind("trajectory"), model))
	assert.NotContains(t, o.exports, "learn.trajectory", "only models are kept")

	o.keepExport(protocol.Message{Kind: protocol.KindArtifact, Artifact: &protocol.Artifact{Name: "bad.model", Kind: protocol.ArtifactModel, Gzip: []byte("junk")}})
	assert.NotContains(t, o.exports, "bad.model")
}

// fakeLeader is a stand-in for this binary in leader mode: a script that
// says it is ready on descriptor 3, copies its job to job<pid>.json, then
// reports the phase's end. It is what tsemPhase talks to.
func fakeLeader(t *testing.T, dir string) string {
	t.Helper()
	end, err := protocol.Encode(protocol.Message{Kind: protocol.KindPhaseEnd, Phase: &protocol.PhaseInfo{Name: "learn"}})
	require.NoError(t, err)
	script := filepath.Join(dir, "tsemlab-guest")
	body := "#!/bin/sh\n[ \"$1\" = leader ] || exit 9\n" +
		"echo '" + leaderReady + "' >&3\n" +
		"cat > " + dir + "/job$$.json\n" +
		"echo '" + strings.TrimSpace(string(end)) + "' >&3\n"
	require.NoError(t, os.WriteFile(script, []byte(body), 0o755))
	return script
}

func TestTSEMPhase_TheLeaderGetsItsJobOnStdinAndItsMessagesGoToTheHost(t *testing.T) {
	dir := t.TempDir()
	rec := &recorder{}
	o := &orchestrator{out: rec, self: fakeLeader(t, dir), exports: map[string]string{"m.model": "model text"}}
	ph := protocol.Phase{Name: "learn", TSEM: &protocol.TSEM{Model: protocol.ModelEnforce, Load: "m.model"}}
	require.NoError(t, o.tsemPhase(t.Context(), ph))

	require.Len(t, rec.msgs, 1)
	assert.Equal(t, protocol.KindPhaseEnd, rec.msgs[0].Kind)
	assert.Empty(t, rec.msgs[0].Phase.Error)
	jobs, err := filepath.Glob(filepath.Join(dir, "job*.json"))
	require.NoError(t, err)
	require.Len(t, jobs, 1)
	data, err := os.ReadFile(jobs[0])
	require.NoError(t, err)
	var job leaderJob
	require.NoError(t, json.Unmarshal(data, &job))
	assert.Equal(t, "learn", job.Phase.Name)
	assert.Equal(t, "model text", job.Model)
}

// A guest that waits for its plan starts its leaders ahead (they are in
// its snapshot); the phases take them in turn, then start their own.
func TestTSEMPhase_TakesWaitingLeadersFirst(t *testing.T) {
	dir := t.TempDir()
	rec := &recorder{}
	o := &orchestrator{out: rec, self: fakeLeader(t, dir)}
	require.NoError(t, o.startLeaders())
	require.Len(t, o.leaders, leaderPool)
	ph := protocol.Phase{Name: "learn", TSEM: &protocol.TSEM{Model: protocol.ModelLearn}}
	for i := range leaderPool + 1 {
		require.NoError(t, o.tsemPhase(t.Context(), ph))
		assert.Len(t, o.leaders, max(leaderPool-1-i, 0))
	}
	jobs, err := filepath.Glob(filepath.Join(dir, "job*.json"))
	require.NoError(t, err)
	assert.Len(t, jobs, leaderPool+1, "one job per phase, each to its own leader")
	for _, m := range rec.msgs {
		assert.Equal(t, protocol.KindPhaseEnd, m.Kind)
		assert.Empty(t, m.Phase.Error)
	}
}

func TestTSEMPhase_ALeaderThatDoesNotStartSaysWhy(t *testing.T) {
	dir := t.TempDir()
	self := filepath.Join(dir, "tsemlab-guest")
	require.NoError(t, os.WriteFile(self, []byte("#!/bin/sh\necho 'no securityfs here' >&2\nexit 3\n"), 0o755))
	rec := &recorder{}
	o := &orchestrator{out: rec, self: self}
	require.NoError(t, o.tsemPhase(t.Context(), protocol.Phase{Name: "learn", TSEM: &protocol.TSEM{Model: protocol.ModelLearn}}))
	require.Len(t, rec.msgs, 1)
	msg := rec.msgs[0].Phase.Error
	assert.Contains(t, msg, "namespace leader did not start")
	assert.Contains(t, msg, "exit status 3")
	assert.Contains(t, msg, "no securityfs here")
}

package explain

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tsemlab/tsemlab/event"
	"github.com/tsemlab/tsemlab/internal/testutil"
	"github.com/tsemlab/tsemlab/protocol"
)

func phase(name string, model protocol.ModelMode, export, load string) protocol.Phase {
	return protocol.Phase{Name: name, TSEM: &protocol.TSEM{Model: model, Export: export, Load: load}}
}

func TestLearned(t *testing.T) {
	plan := protocol.Plan{
		Phases: []protocol.Phase{
			phase("learn", "learn", "grep.model", ""),
			{Name: "setup"},
			phase("relearn", "learn", "grep.model", ""),
			phase("enforce", "enforce", "", "grep.model"),
			phase("seed", "enforce", "", "models/seed.model"),
			phase("bare", "seal", "", ""),
			phase("typo", "enforce", "", "grpe.model"),
			phase("other", "learn", "other.model", ""),
		},
		Files: map[string]string{"models/seed.model": "state …"},
	}
	tests := []struct {
		phase, want, why string
	}{
		{"enforce", "relearn", "enforce loads grep.model, which phase relearn exported"},
		{"seed", "", "seed loads models/seed.model, a model file of the scenario: no phase of this run learned it"},
		{"bare", "relearn", "bare loads no model a phase exported; relearn is the latest earlier learn phase"},
		{"typo", "relearn", "typo loads grpe.model, which no earlier phase exported; relearn is the latest earlier learn phase"},
		{"learn", "", "no phase before learn learned a model"},
		{"nosuch", "", `plan.json has no phase "nosuch"`},
	}
	for _, tt := range tests {
		t.Run(tt.phase, func(t *testing.T) {
			got := Learned(plan, tt.phase)
			assert.Equal(t, Source{Phase: tt.want, Why: tt.why}, got)
		})
	}
}

func TestLearned_AnExportShadowsAFileOfTheSameName(t *testing.T) {
	plan := protocol.Plan{
		Phases: []protocol.Phase{phase("learn", "learn", "m", ""), phase("enforce", "enforce", "", "m")},
		Files:  map[string]string{"m": "state …"},
	}
	assert.Equal(t, "learn", Learned(plan, "enforce").Phase)
}

func TestScenario_OwnerTagOnProcessGrep(t *testing.T) {
	r, err := Scenario("testdata/run/process-grep-owner", Options{})
	require.NoError(t, err)

	require.Len(t, r.Phases, 1, "learn.forensics is empty")
	ph := r.Phases[0]
	assert.Equal(t, "enforce", ph.Name)
	assert.Equal(t, "learn", ph.Source.Phase)
	assert.Len(t, ph.Learned, 56)
	assert.Len(t, ph.Own, 3)
	require.Len(t, ph.Events, 1)
	x := ph.Events[0]
	require.True(t, x.Found)
	assert.Equal(t, "learn.trajectory line 55", x.Nearest.Ref())
	assert.Equal(t, "enforce.forensics line 1", x.Forensic.Ref())
}

func TestWrite_Golden(t *testing.T) {
	for _, name := range []string{"process-grep-owner", "single-unlearned"} {
		t.Run(name, func(t *testing.T) {
			r, err := Scenario(filepath.Join("testdata", "run", name), Options{})
			require.NoError(t, err)
			var b strings.Builder
			require.NoError(t, Write(&b, []*Report{r}))
			testutil.Golden(t, filepath.Join("testdata", name+".explain.golden"), []byte(b.String()))
		})
	}
}

func TestWrite_SaysWhatDiffers(t *testing.T) {
	text := func(name string) string {
		r, err := Scenario(filepath.Join("testdata", "run", name), Options{})
		require.NoError(t, err)
		var b strings.Builder
		require.NoError(t, Write(&b, []*Report{r}))
		return b.String()
	}

	pg := text("process-grep-owner")
	assert.Contains(t, pg, "the only difference: file_open.file.path.owner and file_open.file.path.instance, present while learning, absent in the forensic event")
	assert.Contains(t, pg, "ignored, not in the coefficient: event.context, event.number, event.ttd, event.p_ttd, event.ts")

	su := text("single-unlearned")
	assert.Contains(t, su, "no learned event has pathname /etc/resolv.conf with hook file_open")
	assert.Contains(t, su, "the only difference: file_open.file.path.pathname")
	assert.Contains(t, su, "cat  file_open  /etc/hostname")
}

// copyDir copies the regular files of src into a new temporary directory.
func copyDir(t *testing.T, src string, skip ...string) string {
	t.Helper()
	dst := t.TempDir()
	entries, err := os.ReadDir(src)
	require.NoError(t, err)
	for _, e := range entries {
		if e.IsDir() || contains(skip, e.Name()) {
			continue
		}
		data, err := os.ReadFile(filepath.Join(src, e.Name()))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dst, e.Name()), data, 0o644))
	}
	return dst
}

func contains(xs []string, s string) bool {
	for _, x := range xs {
		if x == s {
			return true
		}
	}
	return false
}

func TestScenario_WithoutPlanTheOnlyPhaseWithoutForensicsIsLearned(t *testing.T) {
	// As in /work/shared/tsem-samples: bare model0 files, no plan.json.
	dir := copyDir(t, "testdata/run/process-grep-owner", "plan.json", "learn.forensics")

	r, err := Scenario(dir, Options{})

	require.NoError(t, err)
	require.Len(t, r.Phases, 1)
	assert.Equal(t, "learn", r.Phases[0].Source.Phase)
	assert.Contains(t, r.Phases[0].Source.Why, "no plan.json")
	assert.Equal(t, "learn.trajectory line 55", r.Phases[0].Events[0].Nearest.Ref())
}

func TestScenario_WithoutPlanSeveralCandidatesNeedOptionsLearned(t *testing.T) {
	dir := copyDir(t, "testdata/run/single-unlearned", "plan.json")
	data, err := os.ReadFile(filepath.Join(dir, "learn.trajectory"))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "relearn.trajectory"), data, 0o644))

	r, err := Scenario(dir, Options{})
	require.NoError(t, err)
	assert.Empty(t, r.Phases[0].Source.Phase)
	assert.Contains(t, r.Phases[0].Source.Why, "phases learn, relearn could each be the learned one")
	assert.Len(t, r.Phases[0].Own, 3, "the phase's own events are still compared")

	r, err = Scenario(dir, Options{Learned: "relearn"})
	require.NoError(t, err)
	assert.Equal(t, "relearn", r.Phases[0].Source.Phase)
	assert.Equal(t, "relearn.trajectory line 42", r.Phases[0].Events[0].Nearest.Ref())
}

func TestScenario_NoEventOfTheHook(t *testing.T) {
	dir := copyDir(t, "testdata/run/single-unlearned")
	rec := `{"event": {"context": "2", "number": "80", "process": "cat", "type": "inode_mkdir", "ttd": "8", "p_ttd": "6", "task_id": "ed", "p_task_id": "0f", "ts": "1"}, "COE": {"uid": "0"}, "inode_mkdir": {"mode": "040755"}}` + "\n"
	require.NoError(t, os.WriteFile(filepath.Join(dir, "enforce.forensics"), []byte(rec), 0o644))

	r, err := Scenario(dir, Options{})
	require.NoError(t, err)
	var b strings.Builder
	require.NoError(t, Write(&b, []*Report{r}))

	assert.False(t, r.Phases[0].Events[0].Found)
	assert.Contains(t, b.String(), "no learned event has hook inode_mkdir (learned hooks: capable, task_prctl, file_fcntl, file_open,")
}

func TestScenario_ConfinedToTheDirectory(t *testing.T) {
	outside := t.TempDir()
	secret := filepath.Join(outside, "secret.forensics")
	require.NoError(t, os.WriteFile(secret, []byte(`{"event": {"type": "x"}, "COE": {}, "x": {}}`+"\n"), 0o644))

	t.Run("phase name with a path", func(t *testing.T) {
		dir := copyDir(t, "testdata/run/single-unlearned")
		plan, err := os.ReadFile(filepath.Join(dir, "plan.json"))
		require.NoError(t, err)
		bad := strings.Replace(string(plan), `"name": "enforce"`, `"name": "../`+filepath.Base(outside)+`/secret"`, 1)
		require.NoError(t, os.WriteFile(filepath.Join(dir, "plan.json"), []byte(bad), 0o644))

		_, err = Scenario(dir, Options{})

		require.Error(t, err)
		assert.Contains(t, err.Error(), "is not a plain file name")
	})
	t.Run("symbolic link", func(t *testing.T) {
		dir := copyDir(t, "testdata/run/single-unlearned")
		require.NoError(t, os.Remove(filepath.Join(dir, "enforce.forensics")))
		require.NoError(t, os.Symlink(secret, filepath.Join(dir, "enforce.forensics")))

		_, err := Scenario(dir, Options{})

		require.Error(t, err)
		assert.Contains(t, err.Error(), "is not a regular file")
	})
	t.Run("learned phase option", func(t *testing.T) {
		_, err := Scenario("testdata/run/single-unlearned", Options{Learned: "../x"})
		require.Error(t, err)
	})
}

func TestScenario_NoForensics(t *testing.T) {
	dir := copyDir(t, "testdata/run/single-unlearned")
	require.NoError(t, os.WriteFile(filepath.Join(dir, "enforce.forensics"), nil, 0o644))

	r, err := Scenario(dir, Options{})
	require.NoError(t, err)
	var b strings.Builder
	require.NoError(t, Write(&b, []*Report{r}))

	assert.Empty(t, r.Phases)
	assert.True(t, strings.HasSuffix(b.String(), "\nsingle-unlearned: no forensic events\n"), b.String())
}

func TestScenario_WithoutPlanOrForensicsFilesSaysSo(t *testing.T) {
	// As in tsem-samples/seal-only: model0 files without a phase prefix.
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "forensics"), []byte(`{"event": {"type": "x"}, "COE": {}, "x": {}}`+"\n"), 0o644))

	r, err := Scenario(dir, Options{})

	require.NoError(t, err)
	assert.Empty(t, r.Phases)
	assert.Contains(t, r.Notes, "no <phase>.forensics file holds a record")
}

func TestScenario_APhaseThatNeverFinishedIsNamed(t *testing.T) {
	// As after the process-grep crash: the enforce phase's guest panicked
	// before its forensics were collected.
	dir := copyDir(t, "testdata/run/single-unlearned")
	require.NoError(t, os.Remove(filepath.Join(dir, "enforce.forensics")))

	r, err := Scenario(dir, Options{})
	require.NoError(t, err)
	var b strings.Builder
	require.NoError(t, Write(&b, []*Report{r}))

	assert.Empty(t, r.Phases)
	assert.Contains(t, b.String(), "phase enforce left no forensics: it did not finish")
}

// TestWrite_NamesTSEMIdentityQuirks: real records of the httpd scenario on
// the reconstructed TSEM kernel (testdata/README.md): runc's file_open of
// its config.json learned from its main thread and refused when made from
// another thread (only p_task_id differs, and it is the task's own
// task_id), and an apache2 task forked by an untrusted parent while
// sealing, with an all-zero identity. Both are named for what they are.
func TestWrite_NamesTSEMIdentityQuirks(t *testing.T) {
	r, err := Scenario("testdata/identity", Options{})
	require.NoError(t, err)
	var b strings.Builder
	require.NoError(t, Write(&b, []*Report{r}))
	out := b.String()
	testutil.Golden(t, filepath.Join("testdata", "identity.explain.golden"), []byte(out))
	assert.Contains(t, out, "the forensic event's p_task_id is its own task_id: that event came from\n    a thread the process started")
	assert.Contains(t, out, "the forensic event's task has no TSEM identity (task_id and p_task_id all zero)")
	assert.Equal(t, 1, strings.Count(out, "a kernel\n    nondeterminism"), "only the thread event gets the thread hint")
}

func TestIdentityHint_OnlyForItsSignatures(t *testing.T) {
	ev := func(tid, ptid string) *event.Event {
		return &event.Event{Header: map[string]string{"task_id": tid, "p_task_id": ptid}}
	}
	ptid := []event.FieldDiff{{Path: "event.p_task_id", A: "p", B: "t", InA: true, InB: true}}
	assert.Contains(t, identityHint(ptid, ev("t", "p"), ev("t", "t")), "the forensic event's p_task_id is its own task_id")
	assert.Contains(t, identityHint(ptid, ev("t", "t"), ev("t", "p")), "the learned event's p_task_id is its own task_id")
	assert.Empty(t, identityHint(ptid, ev("t", "p"), ev("t", "q")), "two parents, neither a thread's")
	assert.Empty(t, identityHint(append(ptid, event.FieldDiff{Path: "file_open.file.path.pathname"}), ev("t", "p"), ev("t", "t")), "more than the parent id differs")
	assert.Contains(t, identityHint(nil, ev("t", "p"), ev("0000", "00")), "no TSEM identity")
	assert.Empty(t, identityHint(nil, ev("t", "p"), ev("", "")), "a record without ids is not a zero identity")
}

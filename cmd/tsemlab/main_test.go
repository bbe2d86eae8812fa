package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tsemlab/tsemlab/harness/scenario"
	"github.com/tsemlab/tsemlab/harness/tempdir"
	"github.com/tsemlab/tsemlab/internal/testutil"
	"github.com/tsemlab/tsemlab/internal/vmtest"
)

// These tests run the tsemlab binary as a user would, without the CI job's
// reporting variables (vmtest.Environ). The ones that boot QEMU skip under
// -short, and keep their results under $TSEMLAB_TEST_RESULTS when set.

var binary string

func TestMain(m *testing.M) {
	dir, err := tempdir.New("bin")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "tsemlab")
	if out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput(); err != nil {
		panic(string(out))
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

type outcome struct {
	code           int
	stdout, stderr string
}

func tsemlab(t *testing.T, env []string, args ...string) outcome {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Dir = "../.."
	cmd.Env = append(vmtest.Environ(), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else {
		require.NoError(t, err)
	}
	return outcome{code, out.String(), errb.String()}
}

func TestValidate_TypoExits2WithFileLineColumn(t *testing.T) {
	o := tsemlab(t, nil, "validate", "cmd/tsemlab/testdata/typo.yaml")
	assert.Equal(t, 2, o.code)
	assert.Contains(t, o.stderr, "cmd/tsemlab/testdata/typo.yaml:4:5:")
	assert.Contains(t, o.stderr, `did you mean "steps"`)
}

func TestRun_TypoExits2BeforeBooting(t *testing.T) {
	o := tsemlab(t, nil, "run", "--out", t.TempDir(), "scenarios/", "cmd/tsemlab/testdata/typo.yaml")
	assert.Equal(t, 2, o.code)
	assert.Contains(t, o.stderr, "typo.yaml:4:5:")
	assert.NotContains(t, o.stdout, "START", "nothing may boot when a scenario is invalid")
}

func TestValidate_ShippedScenariosAreValid(t *testing.T) {
	o := tsemlab(t, nil, "validate", "scenarios/")
	assert.Equal(t, 0, o.code, o.stderr)
	for _, name := range []string{"caps-chown", "process-grep", "process-grep-remedy", "buster-ls-top", "httpd"} {
		assert.Contains(t, o.stdout, " "+name+" ")
	}
}

func TestUsage_UnknownFlagExits2(t *testing.T) {
	o := tsemlab(t, nil, "run", "--no-such-flag", "scenarios/")
	assert.Equal(t, 2, o.code)
	o = tsemlab(t, nil, "run", "--only", "nosuch", "scenarios/")
	assert.Equal(t, 2, o.code)
	assert.Contains(t, o.stderr, `no scenario named "nosuch"`)
}

func TestRun_SnapshotFlagTakesAutoOrOff(t *testing.T) {
	o := tsemlab(t, nil, "run", "--snapshot", "sometimes", "scenarios/")
	assert.Equal(t, 2, o.code)
	assert.Contains(t, o.stderr, `--snapshot "sometimes": use auto or off`)
	o = tsemlab(t, []string{"TSEMLAB_SNAPSHOT=never"}, "run", "scenarios/")
	assert.Equal(t, 2, o.code, "the environment's default is checked too")
	o = tsemlab(t, nil, "run", "--help")
	assert.Contains(t, o.stdout, "--snapshot string")
	assert.Contains(t, o.stdout, "TSEMLAB_SNAPSHOT")
}

func TestRun_MissingKernelExits3(t *testing.T) {
	o := tsemlab(t, nil, "run", "--out", t.TempDir(), "--kernel", "/nonexistent/bzImage", "scenarios/caps-chown.yaml")
	assert.Equal(t, 3, o.code)
	assert.Contains(t, o.stderr, "/nonexistent/bzImage")
}

func TestImageBuild_UnknownNameExits2WithTheDefinedOnes(t *testing.T) {
	o := tsemlab(t, nil, "image", "build", "debian-minimall")
	assert.Equal(t, 2, o.code)
	assert.Contains(t, o.stderr, `no image definition "debian-minimall"`)
	assert.Contains(t, o.stderr, `did you mean "debian-minimal"?`)
}

func TestImageBuild_BadDefinitionExits2WithFileLineColumn(t *testing.T) {
	o := tsemlab(t, nil, "image", "build", "--images", "harness/rootfs/testdata/bad", "unknown-field")
	assert.Equal(t, 2, o.code)
	assert.Contains(t, o.stderr, `harness/rootfs/testdata/bad/unknown-field.yaml:2:1: unknown field "pakages" in an image definition; did you mean "packages"?`)
}

func TestModelPseudonym_PrintsPasteableLine(t *testing.T) {
	o := tsemlab(t, nil, "model", "pseudonym", "/root/.bash_history")
	require.Equal(t, 0, o.code, o.stderr)
	assert.Regexp(t, `^pseudonym [0-9a-f]{64}\n$`, o.stdout)
}

func TestRun_ScenariosDirectoryPassesAndSkipsWithExit0(t *testing.T) {
	vmtest.Require(t)
	out := vmtest.ResultsDir(t)
	junit := filepath.Join(out, "j.xml")
	o := tsemlab(t, nil, "run", "--out", out, "--junit", junit, "scenarios/")
	require.Equal(t, 0, o.code, "stdout:\n%s\nstderr:\n%s", o.stdout, o.stderr)
	assert.Contains(t, o.stdout, "PASS caps-chown")
	// The scenarios that need TSEM are skipped, with the reason; the
	// stock-kernel labs pass.
	files, err := filepath.Glob("../../scenarios/*.yaml")
	require.NoError(t, err)
	all, err := scenario.LoadAll(context.Background(), files)
	require.NoError(t, err)
	passed := 0
	for _, s := range all {
		if slices.Contains(s.Requires.LSM, "tsem") {
			assert.Contains(t, o.stdout, "SKIP "+s.Name+": kernel ", s.Name)
		} else {
			assert.Contains(t, o.stdout, "PASS "+s.Name, s.Name)
			passed++
		}
	}
	assert.Contains(t, o.stdout, fmt.Sprintf("%d passed, 0 failed, %d skipped", passed, len(files)-passed))
	assert.FileExists(t, junit)
	assert.FileExists(t, filepath.Join(out, "results.json"))
	assert.FileExists(t, filepath.Join(out, "caps-chown", "console.log"))

	show := tsemlab(t, nil, "show", out)
	assert.Equal(t, 0, show.code, show.stderr)
	assert.Contains(t, show.stdout, "PASS caps-chown")
}

func TestRun_WrongExpectationExits1WithDiff(t *testing.T) {
	vmtest.Require(t)
	// The failure this test wants must not reach the summary of the CI
	// job running it: tsemlab gets no GitHub reporting variables.
	summary := filepath.Join(t.TempDir(), "step-summary.md")
	t.Setenv("GITHUB_STEP_SUMMARY", summary)
	t.Setenv("GITHUB_ACTIONS", "true")
	o := tsemlab(t, nil, "run", "--out", vmtest.ResultsDir(t), "cmd/tsemlab/testdata/wrong-expectation.yaml")
	require.Equal(t, 1, o.code, "stdout:\n%s\nstderr:\n%s", o.stdout, o.stderr)
	assert.NoFileExists(t, summary, "a test wrote onto the CI job's step summary")
	assert.NotContains(t, o.stdout, "::error", "a test wrote GitHub annotations")
	assert.Contains(t, o.stdout, "FAIL wrong-expectation")
	assert.Contains(t, o.stdout, "want: deny")
	assert.Contains(t, o.stdout, "got: allow")
}

// TestRun_InterruptLeavesNoQEMU interrupts tsemlab mid-boot, once with
// SIGINT (Ctrl-C) and once with SIGKILL, and checks that no QEMU process and
// no temporary directory outlive it.
func TestRun_InterruptLeavesNoQEMU(t *testing.T) {
	vmtest.Require(t)
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGKILL} {
		t.Run(sig.String(), func(t *testing.T) {
			tmp := t.TempDir()
			cmd := exec.Command(binary, "run", "--out", t.TempDir(), "scenarios/caps-chown.yaml")
			cmd.Dir = "../.."
			cmd.Env = append(vmtest.Environ(), "TMPDIR="+tmp)
			require.NoError(t, cmd.Start())
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			require.Eventually(t, func() bool { return len(qemuUsing(tmp)) > 0 }, 5*time.Minute, 100*time.Millisecond, "qemu never started")
			require.NoError(t, cmd.Process.Signal(sig))
			select {
			case err := <-done:
				var ee *exec.ExitError
				if sig == syscall.SIGINT {
					require.ErrorAs(t, err, &ee)
					assert.Equal(t, 3, ee.ExitCode(), "an interrupted run exits 3")
				}
			case <-time.After(30 * time.Second):
				cmd.Process.Kill()
				t.Fatal("tsemlab did not exit within 30s of the signal")
			}
			assert.Eventually(t, func() bool { return len(qemuUsing(tmp)) == 0 }, 10*time.Second, 100*time.Millisecond, "qemu outlived tsemlab: %v", qemuUsing(tmp))
			if sig == syscall.SIGINT {
				left, _ := os.ReadDir(tmp)
				assert.Empty(t, left, "temporary files left behind")
			}
		})
	}
}

// qemuUsing returns the pids of QEMU processes whose command line mentions dir.
func qemuUsing(dir string) []string {
	var pids []string
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		cl := string(bytes.ReplaceAll(b, []byte{0}, []byte{' '}))
		if strings.Contains(cl, "qemu-system") && strings.Contains(cl, dir) {
			pids = append(pids, filepath.Base(filepath.Dir(p)))
		}
	}
	return pids
}

// TestShow_ForensicsAndTrajectoryGolden prints real TSEM records (the
// process-grep experiment on a 6.12 TSEM kernel) from a results directory.
func TestShow_ForensicsAndTrajectoryGolden(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"forensics", []string{"show", "--forensics", "cmd/tsemlab/testdata/results"}},
		{"trajectory-file-open", []string{"show", "--trajectory", "--type", "file_open", "cmd/tsemlab/testdata/results"}},
		{"summary", []string{"show", "cmd/tsemlab/testdata/results"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := tsemlab(t, nil, tc.args...)
			require.Equal(t, 0, o.code, o.stderr)
			golden := filepath.Join("testdata", "show-"+tc.name+".golden")
			if *testutil.Update {
				require.NoError(t, os.WriteFile(golden, []byte(o.stdout), 0o644))
			}
			want, err := os.ReadFile(golden)
			require.NoError(t, err)
			assert.Equal(t, string(want), o.stdout)
		})
	}
}

// TestExplain_Golden explains real TSEM records (process-grep's owner tag and a
// single unlearned read) in a results directory, per scenario and per run.
func TestExplain_Golden(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"process-grep-owner", []string{"explain", "harness/explain/testdata/run/process-grep-owner"}},
		{"single-unlearned", []string{"explain", "harness/explain/testdata/run/single-unlearned"}},
		{"run", []string{"show", "--explain", "harness/explain/testdata/run"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := tsemlab(t, nil, tc.args...)
			require.Equal(t, 0, o.code, o.stderr)
			golden := filepath.Join("testdata", "explain-"+tc.name+".golden")
			if *testutil.Update {
				require.NoError(t, os.WriteFile(golden, []byte(o.stdout), 0o644))
			}
			want, err := os.ReadFile(golden)
			require.NoError(t, err)
			assert.Equal(t, string(want), o.stdout)
		})
	}
	o := tsemlab(t, nil, "explain", "harness/explain/testdata/run")
	assert.Equal(t, 0, o.code, o.stderr)
	want, err := os.ReadFile(filepath.Join("testdata", "explain-run.golden"))
	require.NoError(t, err)
	assert.Equal(t, string(want), o.stdout, "explain on a run is show --explain")
}

func TestExplain_BadInputExits2(t *testing.T) {
	o := tsemlab(t, nil, "explain", "--learned", "../x", "harness/explain/testdata/run/single-unlearned")
	assert.Equal(t, 2, o.code)
	assert.Contains(t, o.stderr, `learned phase "../x" is not a phase name`)
	o = tsemlab(t, nil, "explain", "no/such/dir")
	assert.Equal(t, 2, o.code)
	assert.Contains(t, o.stderr, "no/such/dir")
}

// TestModelDiff_EventsBehindStates diffs the models of two real learn phases
// and names the event behind each state only in one of them.
func TestModelDiff_EventsBehindStates(t *testing.T) {
	const d = "harness/explain/testdata/states/"
	o := tsemlab(t, nil, "model", "diff", "--trajectory-a", d+"learned-set.learn.trajectory", "--trajectory-b", d+"process-grep.learn.trajectory",
		d+"learned-set.model", d+"process-grep.model")
	require.Equal(t, 1, o.code, o.stderr)
	golden := filepath.Join("testdata", "model-diff-events.golden")
	if *testutil.Update {
		require.NoError(t, os.WriteFile(golden, []byte(o.stdout), 0o644))
	}
	want, err := os.ReadFile(golden)
	require.NoError(t, err)
	assert.Equal(t, string(want), o.stdout)
	assert.Contains(t, o.stdout, "- state f9442f197caa8bf47036b33b7aad3ea971b88f817b6f31affd65a5b3c3e5a192  cat  file_open  /etc/hostname (flags 0100000, uid 0)\n")
}

func TestModelDiff_FindsTheTrajectoryOfAnExportedModel(t *testing.T) {
	// A scenario results directory: plan.json says phase learn exported ls.model.
	run := t.TempDir()
	copyFile := func(from, to string) {
		data, err := os.ReadFile(filepath.Join("../../harness/explain/testdata/states", from))
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(run, to), data, 0o644))
	}
	copyFile("learned-set.model", "ls.model")
	copyFile("learned-set.learn.trajectory", "learn.trajectory")
	copyFile("learned-set.learn.trajectory_coefficients", "learn.trajectory_coefficients")
	plan := `{"version": 1, "scenario": "ls", "phases": [{"name": "learn", "tsem": {"model": "learn", "export": "ls.model"}, "steps": []}]}`
	require.NoError(t, os.WriteFile(filepath.Join(run, "plan.json"), []byte(plan), 0o644))

	o := tsemlab(t, nil, "model", "diff", filepath.Join(run, "ls.model"), "harness/explain/testdata/states/process-grep.model")

	require.Equal(t, 1, o.code, o.stderr)
	assert.Contains(t, o.stdout, "events behind the states of "+filepath.Join(run, "ls.model")+": "+filepath.Join(run, "learn.trajectory")+"\n")
	assert.Contains(t, o.stdout, "- state f9442f197caa8bf47036b33b7aad3ea971b88f817b6f31affd65a5b3c3e5a192  cat  file_open  /etc/hostname")
	assert.Contains(t, o.stdout, "+ state a4d0399a76d8cd5e59d4be0d7c742b1b905b496f8a3e2f96a14a63c41dfbda70\n", "no trajectory for B: states as before")
	assert.Empty(t, o.stderr)
}

func TestModelDiff_TrajectoryOfAPhaseThatLoadedAModelExits2(t *testing.T) {
	const d = "harness/explain/testdata/states/"
	o := tsemlab(t, nil, "model", "diff", "--trajectory-a", d+"learned-set.enforce.trajectory", d+"learned-set.model", d+"process-grep.model")
	assert.Equal(t, 2, o.code)
	assert.Contains(t, o.stderr, "not line-aligned: 53 coefficients, 7 records")
}

func TestShow_NotAResultsDirectoryExits2(t *testing.T) {
	o := tsemlab(t, nil, "show", "scenarios")
	assert.Equal(t, 2, o.code)
	assert.Contains(t, o.stderr, "holds neither results.json (a run) nor result.json (a scenario): not a tsemlab results directory")
}

func TestDoctor_ReportsToolsAndBootsUnderTCG(t *testing.T) {
	vmtest.Require(t)
	o := tsemlab(t, []string{"TSEMLAB_TSEM_KERNEL="}, "doctor")
	require.Equal(t, 0, o.code, "stdout:\n%s\nstderr:\n%s", o.stdout, o.stderr)
	assert.Contains(t, o.stdout, "ok       qemu-system-x86_64")
	assert.Regexp(t, `ok       boot under tcg: guest up at [0-9.]+s uptime`, o.stdout)
	assert.Contains(t, o.stdout, "note     TSEMLAB_TSEM_KERNEL  unset: TSEM scenarios will be skipped")
	assert.Regexp(t, `facts  kernel [0-9a-f]{12} \S+: LSMs [a-z,]+`, o.stdout, "the boot's facts are remembered")
}

// TestShow_HostileResultsExit2WithoutPanicOrLeak checks show end to end on
// results it must refuse (the reader's own tests cover many more).
func TestShow_HostileResultsExit2WithoutPanicOrLeak(t *testing.T) {
	for _, tc := range []struct {
		name, file, content string
		args                []string
		want                string
	}{
		{"null phase in a scenario directory", "result.json", `{"name":"a","phases":[null]}`, nil, "phase 1 is null"},
		{"scenario name climbing out", "results.json", `{"scenarios":[{"name":"../../../../../../../../etc","phases":[{"name":"passwd"}]}]}`, []string{"--forensics"}, `name "../../../../../../../../etc"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			require.NoError(t, os.WriteFile(filepath.Join(dir, tc.file), []byte(tc.content), 0o644))
			o := tsemlab(t, nil, append(append([]string{"show"}, tc.args...), dir)...)
			assert.Equal(t, 2, o.code, o.stderr)
			assert.Contains(t, o.stderr, tc.want)
			assert.NotContains(t, o.stderr, "panic")
			assert.NotContains(t, o.stdout, "root:x:0:0")
		})
	}
	t.Run("symlinked artifact", func(t *testing.T) {
		dir := t.TempDir()
		require.NoError(t, os.WriteFile(filepath.Join(dir, "results.json"), []byte(`{"scenarios":[{"name":"a","phases":[{"name":"p"}]}]}`), 0o644))
		require.NoError(t, os.Mkdir(filepath.Join(dir, "a"), 0o755))
		require.NoError(t, os.Symlink("/etc/passwd", filepath.Join(dir, "a", "p.trajectory")))
		o := tsemlab(t, nil, "show", "--trajectory", dir)
		assert.Equal(t, 2, o.code, o.stderr)
		assert.Contains(t, o.stderr, "a symbolic link, not a regular file")
		assert.NotContains(t, o.stdout, "root:x:0:0")
	})
}

func TestUsage_UnknownSubcommandExits2WithSuggestion(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"model", "bogus"}, `unknown command "bogus" for "tsemlab model"; the commands are backprop, diff, lint, pseudonym (see tsemlab model --help)`},
		{[]string{"model", "lnt"}, `unknown command "lnt" for "tsemlab model"; did you mean "lint"?`},
		{[]string{"image", "biuld"}, `unknown command "biuld" for "tsemlab image"; did you mean "build"?`},
		{[]string{"valdate", "scenarios/"}, `unknown command "valdate" for "tsemlab"; did you mean "validate"?`},
		{[]string{"bogus"}, `unknown command "bogus" for "tsemlab"; the commands are `},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			o := tsemlab(t, nil, tt.args...)
			assert.Equal(t, 2, o.code)
			assert.Contains(t, o.stderr, tt.want)
			assert.Empty(t, o.stdout, "no help on stdout for a mistake")
		})
	}
	o := tsemlab(t, nil, "model")
	assert.Equal(t, 0, o.code, "a parent alone prints its help")
	assert.Contains(t, o.stdout, "Available Commands:")
}

func TestModelBackprop_RefusesCoefficientsThatAreNotDigests(t *testing.T) {
	dir := t.TempDir()
	good := strings.Repeat("ab", 32)
	modelFile := filepath.Join(dir, "m.model")
	require.NoError(t, os.WriteFile(modelFile, []byte("aggregate "+strings.Repeat("0", 64)+"\nstate "+good+"\nseal\nend\n"), 0o644))
	bad := filepath.Join(dir, "forensics_coefficients")
	require.NoError(t, os.WriteFile(bad, []byte(strings.Repeat("cd", 32)+"\nstate ; rm -rf /\n"), 0o644))
	o := tsemlab(t, nil, "model", "backprop", modelFile, bad)
	assert.Equal(t, 2, o.code)
	assert.Contains(t, o.stderr, bad+`:2: coefficient "state ; rm -rf /" is not a hex digest`)
	assert.Contains(t, o.stderr, "nothing written")
	assert.Empty(t, o.stdout)

	ok := filepath.Join(dir, "ok_coefficients")
	require.NoError(t, os.WriteFile(ok, []byte(strings.ToUpper(strings.Repeat("cd", 32))+"\n\n"+good+"\n"), 0o644))
	o = tsemlab(t, nil, "model", "backprop", modelFile, ok)
	require.Equal(t, 0, o.code, o.stderr)
	assert.Contains(t, o.stdout, "# 1 forensic updates\nstate "+strings.Repeat("cd", 32)+"\nseal\nend\n")
	out := filepath.Join(dir, "out.model")
	require.NoError(t, os.WriteFile(out, []byte(o.stdout), 0o644))
	lint := tsemlab(t, nil, "model", "lint", out)
	assert.Equal(t, 0, lint.code, "backprop wrote a model lint refuses: %s", lint.stdout)
}

func TestValidate_HostileInputsExit2WithFileLine(t *testing.T) {
	const dir = "harness/scenario/testdata/hostile/"
	tests := []struct{ file, want string }{
		{"alias-bomb-nested-sequences.yaml", "alias-bomb-nested-sequences.yaml:6:315: aliases (*name and <<: merge keys) would expand this file by more than 100000 nodes"},
		{"load-proc-environ.yaml", `load-proc-environ.yaml:5:34: "load": "/proc/self/environ" is an absolute path`},
		{"load-dotdot.yaml", `load-dotdot.yaml:5:34: "load": "../x" leaves the scenario's directory`},
		{"export-console-log.yaml", `export-console-log.yaml:5:34: "export" "console.log" is the name of a file tsemlab writes`},
		{"unknown-lsm.yaml", `unknown-lsm.yaml:2:18: "lsm" lists "tsme", which is not a security module tsemlab knows; did you mean "tsem"?`},
		{"unknown-image.yaml", `unknown-image.yaml:2:8: "image" "debian-minmal" is not an image tsemlab can build; did you mean "debian-minimal"?`},
		{"name-200-chars.yaml", `name-200-chars.yaml:1:7: "name" is 200 characters long, more than the limit of 64`},
		{"deep-nesting-flow.yaml", "deep-nesting-flow.yaml:3:73: the YAML nests deeper than 64 levels"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			o := tsemlab(t, nil, "validate", dir+tt.file)
			assert.Equal(t, 2, o.code)
			assert.Contains(t, o.stderr, dir+tt.want)
			assert.Empty(t, o.stdout)
		})
	}
	o := tsemlab(t, nil, "validate", "/dev/zero")
	assert.Equal(t, 2, o.code)
	assert.Contains(t, o.stderr, "/dev/zero: is a character device; a scenario file must be a regular file")
}

// TestValidate_FIFOReturnsWithoutAWriter names a FIFO nobody writes to:
// validate used to block in open(2) for ever.
func TestValidate_FIFOReturnsWithoutAWriter(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "x.yaml")
	require.NoError(t, syscall.Mkfifo(fifo, 0o644))
	cmd := exec.Command(binary, "validate", fifo)
	var errb bytes.Buffer
	cmd.Stderr = &errb
	require.NoError(t, cmd.Start())
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		var ee *exec.ExitError
		require.ErrorAs(t, err, &ee)
		assert.Equal(t, 2, ee.ExitCode())
		assert.Contains(t, errb.String(), fifo+": is a named pipe (FIFO); a scenario file must be a regular file")
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatal("validate blocked on a FIFO")
	}
}

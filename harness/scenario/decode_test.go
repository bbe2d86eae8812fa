package scenario

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tsemlab/tsemlab/internal/testutil"
	"github.com/tsemlab/tsemlab/protocol"
)

// golden compares got with the file at path, or writes it with -update.

func TestLoad_GoodScenariosAreValid(t *testing.T) {
	files, err := filepath.Glob("testdata/good/*.y*ml")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			s, err := Load(t.Context(), f)
			require.NoError(t, err)
			assert.Equal(t, f, s.File)
			assert.Equal(t, "testdata/good", s.Dir)
		})
	}
}

func TestLoad_BadScenariosReportGoldenErrors(t *testing.T) {
	files, err := filepath.Glob("testdata/bad/*.yaml")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			s, err := Load(t.Context(), f)
			require.Error(t, err)
			assert.Nil(t, s)
			var errs ValidationErrors
			require.ErrorAs(t, err, &errs)
			for _, e := range errs {
				if !strings.HasPrefix(e.File, "testdata/bad/labs/") {
					assert.Equal(t, f, e.File)
				}
			}
			testutil.Golden(t, strings.TrimSuffix(f, ".yaml")+".golden", []byte(err.Error()+"\n"))
		})
	}
}

func TestLoad_UnknownFieldReportsLineAndColumn(t *testing.T) {
	tests := []struct {
		file      string
		line, col int
		contains  string
	}{
		{"testdata/bad/unknown-top-field.yaml", 2, 1, `unknown field "descripton" in a scenario; did you mean "description"?`},
		{"testdata/bad/unknown-phase-field.yaml", 4, 5, `unknown field "stpes" in a phase; did you mean "steps"? (allowed: name, description, image, session, shell, env, caps, setup, tsem, steps, expect, seccomp, apparmor)`},
		{"testdata/bad/unknown-step-field.yaml", 6, 9, `unknown field "exepct" in a step; did you mean "expect"?`},
		{"testdata/bad/unknown-expect-field.yaml", 6, 34, `unknown field "stdout_contain" in "expect"; did you mean "stdout_contains"?`},
		{"testdata/bad/unknown-phase-expect-field.yaml", 9, 7, `did you mean "forensics_count"?`},
	}
	for _, tt := range tests {
		t.Run(filepath.Base(tt.file), func(t *testing.T) {
			_, err := Load(t.Context(), tt.file)
			var ve *ValidationError
			require.ErrorAs(t, err, &ve)
			assert.Equal(t, tt.line, ve.Line)
			assert.Equal(t, tt.col, ve.Col)
			assert.Contains(t, ve.Msg, tt.contains)
		})
	}
}

func TestLoad_MissingFileIsErrorWithoutPosition(t *testing.T) {
	_, err := Load(t.Context(), "testdata/nope.yaml")
	var ve *ValidationError
	require.ErrorAs(t, err, &ve)
	assert.Equal(t, 0, ve.Line)
	assert.Equal(t, "testdata/nope.yaml: file does not exist; check the path", err.Error())
}

func TestLoad_DirectoryIsErrorSayingSo(t *testing.T) {
	_, err := Load(t.Context(), "testdata/good")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "testdata/good: is a directory")
}

func TestLoad_DecodesEveryField(t *testing.T) {
	s, err := Load(t.Context(), "testdata/good/shell-session.yaml")
	require.NoError(t, err)
	zero, one := 0, 1
	three, two := 3, 2
	ls := Step{
		Name:    "list",
		Run:     "ls /",
		Timeout: 10 * time.Second,
		Expect: StepExpect{
			Outcome:           "allow",
			ExitCode:          &zero,
			StdoutContains:    []string{"bin", "etc"},
			StderrNotContains: []string{"No such file"},
			OutputNotContains: []string{"Segmentation fault"},
		},
	}
	sealed := ls
	sealed.Name = "list-sealed"
	sealed.Expect = StepExpect{Outcome: "deny"}
	want := &Scenario{
		File:        "testdata/good/shell-session.yaml",
		Dir:         "testdata/good",
		Name:        "shell-session",
		Description: "Steps typed into one bash, in a workload image, with every field set.",
		Requires:    Requires{LSM: []string{"tsem"}, Features: []string{"seccomp", "user_namespaces"}},
		Image:       "debian-minimal",
		Mode:        "process",
		Timeout:     10 * time.Minute,
		StepTimeout: 45 * time.Second,
		Session:     "shell",
		Shell:       []string{"/bin/bash", "-i"},
		Env:         map[string]string{"HISTFILE": "", "PS1": "$ ", "COUNT": "3"},
		Phases: []Phase{
			{
				Name:        "learn",
				Description: "learn what ls does",
				Caps:        &Caps{Drop: []string{"CAP_SYS_ADMIN"}, Add: []string{"CAP_NET_BIND_SERVICE"}},
				Env:         map[string]string{"HISTFILE": "/root/.bash_history"},
				Setup:       []string{"mkdir -p /work"},
				TSEM: &TSEM{
					Model:      "learn",
					Export:     "ls.model",
					Pseudonyms: []string{"/root/.bash_history"},
					Digest:     "sha256",
					Cache:      16,
					NSRef:      "current",
				},
				Steps: []Step{ls},
			},
			{
				Name:    "enforce",
				Session: "exec",
				TSEM:    &TSEM{Model: "enforce", Load: "ls.model", Backprop: true, NSRef: "initial"},
				Steps: []Step{
					ls,
					{Run: "top -bn1", Expect: StepExpect{Outcome: "deny", StderrContains: []string{"Operation not permitted"}}},
					{Run: "sleep 100", Timeout: time.Second, Expect: StepExpect{Outcome: "timeout"}},
					{Run: "false", Expect: StepExpect{Outcome: "error", ExitCode: &one}},
				},
				Expect: PhaseExpect{
					ForensicsCount:     &Count{Min: 1, Max: &three},
					TrajectoryContains: []EventMatch{{"type": "file_open", "pathname": "/bin/ls"}},
				},
			},
			{
				Name:  "seal",
				Shell: []string{"/bin/sh"},
				TSEM: &TSEM{
					Model:    "seal",
					Load:     "models/seed.model",
					LoadFile: filepath.Join("testdata", "good", "models", "seed.model"),
				},
				Steps: []Step{sealed},
				Expect: PhaseExpect{
					ForensicsCount:    &Count{Min: 2, Max: &two},
					ForensicsContains: []EventMatch{{"type": "file_open", "uid": "0"}},
				},
			},
		},
	}
	assert.Equal(t, want, s)
}

func TestLoad_DecodesHTTPSteps(t *testing.T) {
	s, err := Load(t.Context(), "testdata/good/container-http.yaml")
	require.NoError(t, err)
	assert.Equal(t, protocol.ModeContainer, s.Mode)
	assert.Equal(t, "httpd", s.Image)
	steps := s.Phases[0].Steps
	require.Len(t, steps, 3)
	assert.Nil(t, steps[0].HTTP)
	assert.Equal(t, Step{
		Name: "fetch", Run: "GET http://127.0.0.1/", Timeout: 5 * time.Second,
		Expect: StepExpect{Outcome: protocol.OutcomeAllow},
		HTTP:   &HTTP{URL: "http://127.0.0.1/", ExpectStatus: 200, BodyContains: []string{"tsemlab httpd", "it works"}},
	}, steps[1])
	assert.Equal(t, &HTTP{URL: "http://localhost:8080/missing", ExpectStatus: 404}, steps[2].HTTP)
	assert.Equal(t, "", s.Phases[0].Image)
	assert.Equal(t, "debian-minimal", s.Phases[1].Image)
	plan := s.Plan(PlanOptions{})
	assert.Equal(t, "httpd", plan.Phases[0].Image, "a phase without an image runs in the scenario's")
	assert.Equal(t, "debian-minimal", plan.Phases[1].Image)
}

func TestCheckLoopbackURL(t *testing.T) {
	for u, ok := range map[string]bool{
		"http://127.0.0.1/": true, "http://127.1.2.3:8080/x": true, "http://[::1]/": true, "http://LOCALHOST/": true,
		"http://10.0.2.2/": false, "https://127.0.0.1/": false, "http://example.org/": false, "127.0.0.1": false, "ftp://localhost/": false,
	} {
		assert.Equal(t, ok, checkLoopbackURL(u) == "", "%s: %s", u, checkLoopbackURL(u))
	}
}

func TestParse_FillsDefaults(t *testing.T) {
	s, err := Parse("x/min.yaml", []byte("name: min\nphases: [{name: main, steps: [{run: ls}]}]\n"))
	require.NoError(t, err)
	assert.Equal(t, "x", s.Dir)
	assert.Equal(t, protocol.ModeProcess, s.Mode)
	assert.Equal(t, 3*time.Minute, s.Timeout)
	assert.Equal(t, 60*time.Second, s.StepTimeout)
	assert.Equal(t, protocol.SessionExec, s.Session)
	assert.Nil(t, s.Shell)
	assert.Equal(t, protocol.OutcomeAllow, s.Phases[0].Steps[0].Expect.Outcome)
}

func TestParse_CapabilityNamesAreNormalised(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"CAP_CHOWN", "CAP_CHOWN"},
		{"chown", "CAP_CHOWN"},
		{"Cap_Net_Admin", "CAP_NET_ADMIN"},
		{"sys_admin", "CAP_SYS_ADMIN"},
		{"all", "ALL"},
		{"ALL", "ALL"},
		{"CAP_CHECKPOINT_RESTORE", "CAP_CHECKPOINT_RESTORE"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := normalizeCap(tt.in)
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestParse_UnknownCapabilitySuggestsNearest(t *testing.T) {
	tests := []struct {
		in, contains string
	}{
		{"CAP_CHWON", `did you mean "CAP_CHOWN"?`},
		{"sysadmin", `did you mean "CAP_SYS_ADMIN"?`},
		{"net_admni", `did you mean "CAP_NET_ADMIN"?`},
		{"frobnicate", `unknown capability "frobnicate" (names are`},
		{"", `unknown capability ""`},
		{"cap_", `unknown capability "cap_"`},
		{"7", `is a number; use its name`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			_, err := normalizeCap(tt.in)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.contains)
		})
	}
}

func TestParse_ListFieldsAcceptASingleString(t *testing.T) {
	data := `
name: single
requires: {lsm: TSEM, features: seccomp}
phases:
  - name: main
    caps: {drop: chown, add: kill}
    setup: touch /x
    tsem: {model: learn, pseudonyms: /root/.bash_history}
    steps:
      - run: ls
        expect:
          stdout_contains: a
          stderr_contains: b
          output_contains: c
          stdout_not_contains: d
          stderr_not_contains: e
          output_not_contains: f
`
	s, err := Parse("single.yaml", []byte(data))
	require.NoError(t, err)
	assert.Equal(t, Requires{LSM: []string{"tsem"}, Features: []string{"seccomp"}}, s.Requires)
	ph := s.Phases[0]
	assert.Equal(t, &Caps{Drop: []string{"CAP_CHOWN"}, Add: []string{"CAP_KILL"}}, ph.Caps)
	assert.Equal(t, []string{"touch /x"}, ph.Setup)
	assert.Equal(t, []string{"/root/.bash_history"}, ph.TSEM.Pseudonyms)
	assert.Equal(t, StepExpect{
		Outcome:           "allow",
		StdoutContains:    []string{"a"},
		StderrContains:    []string{"b"},
		OutputContains:    []string{"c"},
		StdoutNotContains: []string{"d"},
		StderrNotContains: []string{"e"},
		OutputNotContains: []string{"f"},
	}, ph.Steps[0].Expect)
}

func TestParse_MergeKeysAndAliasesExpand(t *testing.T) {
	data := `
name: anchors
env: &env {A: "1", B: "2"}
phases:
  - name: main
    env: {<<: *env, B: "3"}
    steps:
      - &base {run: ls, timeout: 5s}
      - {<<: *base, run: pwd}
`
	s, err := Parse("anchors.yaml", []byte(data))
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"A": "1", "B": "3"}, s.Phases[0].Env)
	require.Len(t, s.Phases[0].Steps, 2)
	assert.Equal(t, "pwd", s.Phases[0].Steps[1].Run)
	assert.Equal(t, 5*time.Second, s.Phases[0].Steps[1].Timeout)
}

func TestParse_ReportsEveryErrorInPositionOrder(t *testing.T) {
	_, err := Load(t.Context(), "testdata/bad/many-mistakes.yaml")
	var errs ValidationErrors
	require.ErrorAs(t, err, &errs)
	require.Len(t, errs, 6)
	for i := 1; i < len(errs); i++ {
		assert.LessOrEqual(t, errs[i-1].Line, errs[i].Line)
	}
}

func TestValidationError_Format(t *testing.T) {
	tests := []struct {
		e    ValidationError
		want string
	}{
		{ValidationError{File: "a.yaml", Line: 7, Col: 5, Msg: "bad"}, "a.yaml:7:5: bad"},
		{ValidationError{File: "a.yaml", Line: 7, Msg: "bad"}, "a.yaml:7: bad"},
		{ValidationError{File: "a.yaml", Msg: "bad"}, "a.yaml: bad"},
		{ValidationError{Msg: "bad"}, "bad"},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, tt.e.Error())
	}
	errs := ValidationErrors{&tt0, &tt1}
	assert.Equal(t, "a:1:2: x\nb: y", errs.Error())
	var ve *ValidationError
	require.True(t, errors.As(error(errs), &ve))
	assert.Equal(t, "a", ve.File)
}

var (
	tt0 = ValidationError{File: "a", Line: 1, Col: 2, Msg: "x"}
	tt1 = ValidationError{File: "b", Msg: "y"}
)

func TestLoadAll_GathersErrorsFromEveryFile(t *testing.T) {
	scenarios, err := LoadAll(t.Context(), []string{
		"testdata/bad/missing-name.yaml",
		"testdata/good",
		"testdata/bad/unknown-step-field.yaml",
		"testdata/missing.yaml",
	})
	var errs ValidationErrors
	require.ErrorAs(t, err, &errs)
	var files []string
	for _, e := range errs {
		files = append(files, e.File)
	}
	assert.Equal(t, []string{
		"testdata/bad/missing-name.yaml",
		"testdata/bad/unknown-step-field.yaml",
		"testdata/missing.yaml",
	}, files)
	var names []string
	for _, s := range scenarios {
		names = append(names, s.Name)
	}
	assert.Equal(t, []string{"backprop-load", "capabilities", "container-http", "minimal", "process-grep", "shell-session"}, names)
}

func TestLoadAll_DirectoryLoadsYAMLFilesInNameOrder(t *testing.T) {
	dir := t.TempDir()
	write := func(name, scenario string) {
		t.Helper()
		require.NoError(t, os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755))
		body := "name: " + scenario + "\nphases: [{name: main, steps: [{run: ls}]}]\n"
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644))
	}
	write("b.yml", "bee")
	write("a.yaml", "ay")
	write("c.yaml.txt", "ignored")
	write("notes.txt", "ignored")
	write("sub/d.yaml", "ignored")
	scenarios, err := LoadAll(t.Context(), []string{dir})
	require.NoError(t, err)
	require.Len(t, scenarios, 2)
	assert.Equal(t, "ay", scenarios[0].Name)
	assert.Equal(t, "bee", scenarios[1].Name)
	assert.Equal(t, filepath.Join(dir, "b.yml"), scenarios[1].File)
}

func TestLoadAll_EmptyDirectoryIsError(t *testing.T) {
	dir := t.TempDir()
	_, err := LoadAll(t.Context(), []string{dir})
	require.Error(t, err)
	assert.Contains(t, err.Error(), dir+": directory holds no *.yaml or *.yml scenario files")
}

func TestLoadAll_ScenarioNameUsedTwiceIsError(t *testing.T) {
	dir := t.TempDir()
	body := []byte("# same\nname: same\nphases: [{name: main, steps: [{run: ls}]}]\n")
	require.NoError(t, os.WriteFile(filepath.Join(dir, "a.yaml"), body, 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "b.yaml"), body, 0o644))
	scenarios, err := LoadAll(t.Context(), []string{dir})
	var ve *ValidationError
	require.ErrorAs(t, err, &ve)
	assert.Equal(t, filepath.Join(dir, "b.yaml"), ve.File)
	assert.Equal(t, 2, ve.Line)
	assert.Equal(t, 7, ve.Col)
	assert.Contains(t, ve.Msg, `scenario name "same" is also used by `+filepath.Join(dir, "a.yaml"))
	assert.Len(t, scenarios, 1)
}

func TestParse_LoadOfModelFileIsCheckedAgainstScenarioDir(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "m.model"), []byte("seal\n"), 0o644))
	data := []byte("name: x\nrequires: {lsm: [tsem]}\nphases: [{name: e, tsem: {model: enforce, load: m.model}, steps: [{run: ls}]}]\n")
	s, err := Parse(filepath.Join(dir, "x.yaml"), data)
	require.NoError(t, err)
	assert.Equal(t, filepath.Join(dir, "m.model"), s.Phases[0].TSEM.LoadFile)

	_, err = Parse("elsewhere/x.yaml", data)
	require.Error(t, err)
	assert.Contains(t, err.Error(), `elsewhere/x.yaml:3:49: "load": no earlier phase exports "m.model" and there is no model file elsewhere/m.model`)
}

func TestParse_MergeKeyBombIsRefused(t *testing.T) {
	var b strings.Builder
	b.WriteString("name: x\nphases:\n  - name: p\n    steps:\n      - &a0 {run: ls}\n")
	for i := 1; i < 8; i++ {
		refs := strings.TrimSuffix(strings.Repeat(fmt.Sprintf("*a%d, ", i-1), 100), ", ")
		fmt.Fprintf(&b, "      - &a%d {<<: [%s]}\n", i, refs)
	}
	_, err := Parse("bomb.yaml", []byte(b.String()))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "would expand this file by more than 100000 nodes")
}

func TestParse_UnknownRequirementOrImageSuggestsNearest(t *testing.T) {
	tests := []struct{ field, want string }{
		{"requires: {lsm: [tsme]}", `x.yaml:2:18: "lsm" lists "tsme", which is not a security module tsemlab knows; did you mean "tsem"? (known: capability, landlock,`},
		{"requires: {features: [seccmp]}", `x.yaml:2:23: "features" lists "seccmp", which is not a kernel feature tsemlab knows; did you mean "seccomp"? (known: seccomp, user_namespaces, pid_namespaces, net_namespaces, uts_namespaces, ipc_namespaces)`},
		{"requires: {features: [selinux]}", `"features" lists "selinux", which is not a kernel feature tsemlab knows (known: `},
		{"image: debian-minmal", `x.yaml:2:8: "image" "debian-minmal" is not an image tsemlab can build; did you mean "debian-minimal"? (images: debian-minimal, httpd)`},
		{"image: ../../etc", `"image" "../../etc" is not an image tsemlab can build (images: debian-minimal, httpd)`},
	}
	for _, tt := range tests {
		t.Run(tt.field, func(t *testing.T) {
			_, err := Parse("x.yaml", []byte("name: x\n"+tt.field+"\nphases: [{name: p, steps: [{run: ls}]}]\n"))
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}

func TestParse_KnownRequirementsAndImagesAreValid(t *testing.T) {
	for _, lsm := range protocol.KnownLSMs {
		_, err := Parse("x.yaml", []byte("name: x\nrequires: {lsm: ["+lsm+"]}\nphases: [{name: p, steps: [{run: ls}]}]\n"))
		assert.NoError(t, err, lsm)
	}
	for _, f := range protocol.KnownFeatures {
		_, err := Parse("x.yaml", []byte("name: x\nrequires: {features: ["+f+"]}\nphases: [{name: p, steps: [{run: ls}]}]\n"))
		assert.NoError(t, err, f)
	}
	for _, img := range Images {
		_, err := Parse("x.yaml", []byte("name: x\nimage: "+img+"\nphases: [{name: p, steps: [{run: ls}]}]\n"))
		assert.NoError(t, err, img)
	}
}

package protocol

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestEncodeDecode_RoundTrip(t *testing.T) {
	msgs := []Message{
		{Kind: KindHello, Uptime: Duration(1500 * time.Millisecond), Hello: &Hello{ProtocolVersion: Version, KernelRelease: "6.12.117", LSMs: []string{"capability", "tsem"}, TSEM: true}},
		{Kind: KindStepEnd, Result: &StepEnd{Phase: "enforce", Index: 2, Run: "grep x", Session: SessionShell, ExitCode: 254, Stderr: "bash: fork: Operation not permitted\n", Duration: Duration(time.Second), NamespaceID: "2", Enforcing: true, KernelLog: []string{"Untrusted event task_alloc: model_ns=2, comm=bash, pid=69"}}},
		{Kind: KindArtifact, Artifact: &Artifact{Phase: "learn", Name: "grep.model", Kind: ArtifactModel, Content: "state 00\nseal\nend\n"}},
		{Kind: KindStepEnd, Result: &StepEnd{Phase: "serve", Index: 1, Run: "GET http://127.0.0.1/", Session: SessionShell, Stdout: "<h1>it works</h1>", HTTP: &HTTPResponse{Status: 200}}},
		{Kind: KindLog, Log: "hello"},
		{Kind: KindDone, Done: &Done{Tainted: 512}},
	}
	for _, m := range msgs {
		line, err := Encode(m)
		require.NoError(t, err)
		assert.Equal(t, byte('\n'), line[len(line)-1], "one message per line")
		got, err := Decode(line[:len(line)-1])
		require.NoError(t, err)
		assert.Equal(t, m, got)
	}
}

func TestPlan_DrivesAndHTTPStepsRoundTrip(t *testing.T) {
	p := Plan{
		Version: Version, Scenario: "container-smoke", Mode: ModeContainer, Image: "httpd",
		Phases: []Phase{{Name: "serve", Session: SessionShell, Shell: []string{"/bin/bash"}, Steps: []Step{
			{Index: 1, Run: "httpd -k start"},
			{Index: 2, Run: "GET http://127.0.0.1/", HTTP: &HTTPRequest{URL: "http://127.0.0.1/"}},
		}}},
		Drives: []Drive{{Image: "httpd", Device: "/dev/vda", FSType: "erofs"}},
	}
	b, err := json.Marshal(p)
	require.NoError(t, err)
	assert.Contains(t, string(b), `"drives":[{"image":"httpd","device":"/dev/vda","fstype":"erofs"}]`)
	assert.Contains(t, string(b), `"http":{"url":"http://127.0.0.1/"}`)
	var got Plan
	require.NoError(t, json.Unmarshal(b, &got))
	assert.Equal(t, p, got)
	b, err = json.Marshal(Plan{Version: Version})
	require.NoError(t, err)
	assert.NotContains(t, string(b), "drives", "a plan without images says nothing of drives")
}

func TestDecode_RejectsGarbage(t *testing.T) {
	for _, in := range []string{`{`, `{}`, `{"kind":"step_end"}`, `{"kind":"hello","hello":null}`, `{"kind":"nosuch"}`, `{"kind":"done","uptime":"fast","done":{}}`} {
		_, err := Decode([]byte(in))
		assert.Error(t, err, in)
	}
}

func TestRequiresUnmet_NamesWhatIsMissing(t *testing.T) {
	h := Hello{KernelRelease: "6.1.0", LSMs: []string{"lockdown", "capability"}, Features: []string{"seccomp"}}
	unmet := func(r Requires, h Hello) string {
		t.Helper()
		why, err := r.Unmet(h)
		require.NoError(t, err)
		return why
	}
	assert.Equal(t, "", unmet(Requires{}, h))
	assert.Equal(t, "", unmet(Requires{Features: []string{"seccomp"}}, h))
	assert.Equal(t, "kernel 6.1.0 lacks the tsem security module (active LSMs: lockdown,capability)", unmet(Requires{LSM: []string{"tsem"}}, h))
	assert.Equal(t, "kernel 6.1.0 lacks user_namespaces (has: seccomp)", unmet(Requires{Features: []string{"user_namespaces"}}, h))
	assert.Contains(t, unmet(Requires{LSM: []string{"tsem"}}, Hello{KernelRelease: "x"}), "active LSMs: none")
}

func TestRequiresUnmet_UnreadableLSMListIsAnErrorNotASkip(t *testing.T) {
	h := Hello{KernelRelease: "6.1.0", LSMError: "open /sys/kernel/security/lsm: no such file or directory"}
	why, err := Requires{LSM: []string{"tsem"}}.Unmet(h)
	require.Error(t, err)
	assert.Empty(t, why)
	assert.Contains(t, err.Error(), "cannot tell whether kernel 6.1.0 has the tsem security module: open /sys/kernel/security/lsm")
	why, err = Requires{Features: []string{"seccomp"}}.Unmet(h)
	require.NoError(t, err, "a requirement that names no LSM does not need the list")
	assert.Contains(t, why, "lacks seccomp")
}

func FuzzDecode(f *testing.F) {
	f.Add([]byte(`{"kind":"hello","hello":{"protocol_version":1}}`))
	f.Add([]byte(`{"kind":"step_end","result":{"phase":"p","index":1,"duration":"1s"}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Decode(data)
		if err != nil {
			return
		}
		line, err := Encode(m)
		require.NoError(t, err)
		_, err = Decode(line)
		require.NoError(t, err)
	})
}

func TestAwaitPlan_SurvivesJSONAndRunsNothing(t *testing.T) {
	p := AwaitPlan(nil)
	b, err := json.Marshal(p)
	require.NoError(t, err)
	assert.Contains(t, string(b), `"await":true`)
	var got Plan
	require.NoError(t, json.Unmarshal(b, &got))
	assert.Equal(t, p, got)
	assert.Empty(t, got.Phases)
	assert.Equal(t, Version, got.Version)
}

func TestPlan_LabFieldsRoundTrip(t *testing.T) {
	p := Plan{Version: Version, Scenario: "labs", Phases: []Phase{{
		Name: "p", Session: SessionExec, Shell: []string{"/bin/sh", "-c"},
		Seccomp:  &Seccomp{Mode: SeccompEnforce, Profile: "ls.json"},
		AppArmor: &AppArmor{File: "apparmor/appone", Name: "appone"},
		Steps: []Step{{Index: 1, Run: "ls", Namespaces: []string{"pid", "mount"}, PivotRoot: "/jail",
			User: "1000:1000", NoNewPrivileges: true, AppArmor: &AppArmor{File: "apparmor/x", Name: "x"}}},
	}}}
	data, err := json.Marshal(p)
	require.NoError(t, err)
	var back Plan
	require.NoError(t, json.Unmarshal(data, &back))
	assert.Equal(t, p, back)
	assert.Equal(t, "learn.seccomp-counts.json", SeccompCountsName("learn"))
}

func TestPlan_NeedsTools(t *testing.T) {
	assert.False(t, Plan{Mode: ModeProcess, Phases: []Phase{{Steps: []Step{{Run: "true"}}}}}.NeedsTools())
	assert.True(t, Plan{Mode: ModeContainer}.NeedsTools(), "runc")
	assert.True(t, Plan{Phases: []Phase{{AppArmor: &AppArmor{}}}}.NeedsTools(), "apparmor_parser for a phase's profile")
	assert.True(t, Plan{Phases: []Phase{{Steps: []Step{{}, {AppArmor: &AppArmor{}}}}}}.NeedsTools(), "and for a step's")
}

func TestPlan_ImagesInTheOrderThePhasesFirstNameThem(t *testing.T) {
	p := Plan{Image: "debian-minimal", Phases: []Phase{
		{Name: "a", Image: "httpd"}, {Name: "b"}, {Name: "c", Image: "httpd"}, {Name: "d", Image: "other"},
	}}
	assert.Equal(t, []string{"httpd", "debian-minimal", "other"}, p.Images())
	assert.Empty(t, Plan{Phases: []Phase{{Name: "a"}}}.Images())
}

package scenario

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tsemlab/tsemlab/internal/testutil"
	"github.com/tsemlab/tsemlab/protocol"
)

func TestPlan_GoodScenariosMatchGoldenJSON(t *testing.T) {
	files, err := filepath.Glob("testdata/good/*.y*ml")
	require.NoError(t, err)
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			s, err := Load(t.Context(), f)
			require.NoError(t, err)
			models, err := s.ReadModels()
			require.NoError(t, err)
			plan := s.Plan(PlanOptions{TimeoutScale: 2, Models: models})
			b, err := json.MarshalIndent(plan, "", "  ")
			require.NoError(t, err)
			name := strings.TrimSuffix(filepath.Base(f), filepath.Ext(f))
			testutil.Golden(t, filepath.Join("testdata", "plan", name+".json"), []byte(string(b)+"\n"))
		})
	}
}

func TestPlan_ShipsModelFilesUnderTheirLoadName(t *testing.T) {
	s, err := Load(t.Context(), "testdata/good/shell-session.yaml")
	require.NoError(t, err)
	models, err := s.ReadModels()
	require.NoError(t, err)
	require.Contains(t, models, "models/seed.model")
	assert.True(t, strings.HasPrefix(models["models/seed.model"], "aggregate "))

	p := s.Plan(PlanOptions{Models: models})
	assert.Equal(t, models, p.Files)
	assert.Equal(t, "models/seed.model", p.Phases[2].TSEM.Load)
	assert.Equal(t, "ls.model", p.Phases[1].TSEM.Load, "an earlier export is not a file")

	p = s.Plan(PlanOptions{})
	assert.Nil(t, p.Files, "Plan reads nothing itself")
}

func TestReadModels_MissingFileIsError(t *testing.T) {
	s := &Scenario{File: "x.yaml", Phases: []Phase{{Name: "e", TSEM: &TSEM{Model: "enforce", Load: "gone", LoadFile: "testdata/gone.model"}}}}
	_, err := s.ReadModels()
	require.Error(t, err)
	assert.Contains(t, err.Error(), "read model for phase e of x.yaml")
}

func TestPlan_ResolvesSessionShellAndEnv(t *testing.T) {
	tests := []struct {
		name        string
		scenario    string
		wantSession protocol.Session
		wantShell   []string
		wantEnv     []string
	}{
		{
			name:        "defaults to exec with sh -c",
			scenario:    "phases: [{name: p, steps: [{run: ls}]}]",
			wantSession: "exec",
			wantShell:   []string{"/bin/sh", "-c"},
		},
		{
			name:        "shell session defaults to a plain bash",
			scenario:    "session: shell\nphases: [{name: p, steps: [{run: ls}]}]",
			wantSession: "shell",
			wantShell:   []string{"/bin/bash", "--noprofile", "--norc"},
		},
		{
			name:        "phase session overrides the scenario's and ignores its shell",
			scenario:    "session: shell\nshell: [/bin/zsh]\nphases: [{name: p, session: exec, steps: [{run: ls}]}]",
			wantSession: "exec",
			wantShell:   []string{"/bin/sh", "-c"},
		},
		{
			name:        "scenario shell applies to phases of its session",
			scenario:    "session: shell\nshell: [/bin/bash, -i]\nphases: [{name: p, steps: [{run: ls}]}]",
			wantSession: "shell",
			wantShell:   []string{"/bin/bash", "-i"},
		},
		{
			name:        "phase shell wins",
			scenario:    "shell: [/bin/bash, -c]\nphases: [{name: p, shell: [/bin/dash, -c], steps: [{run: ls}]}]",
			wantSession: "exec",
			wantShell:   []string{"/bin/dash", "-c"},
		},
		{
			name:        "env merges phase over scenario, sorted by name",
			scenario:    "env: {B: b, A1: x, A: a}\nphases: [{name: p, env: {B: phase, C: ''}, steps: [{run: ls}]}]",
			wantSession: "exec",
			wantShell:   []string{"/bin/sh", "-c"},
			wantEnv:     []string{"A=a", "A1=x", "B=phase", "C="},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Parse("t.yaml", []byte("name: t\n"+tt.scenario+"\n"))
			require.NoError(t, err)
			p := s.Plan(PlanOptions{}).Phases[0]
			assert.Equal(t, tt.wantSession, p.Session)
			assert.Equal(t, tt.wantShell, p.Shell)
			assert.Equal(t, tt.wantEnv, p.Env)
		})
	}
}

func TestPlan_ScalesTimeoutsAndNumbersSteps(t *testing.T) {
	s, err := Parse("t.yaml", []byte(`
name: t
timeout: 2m
step_timeout: 10s
phases:
  - name: a
    steps: [{run: one}, {run: two, timeout: 1s}]
  - name: b
    steps: [{run: three}]
`))
	require.NoError(t, err)
	tests := []struct {
		name      string
		opts      PlanOptions
		wantStep  time.Duration
		wantOwn   time.Duration
		wantTotal time.Duration
	}{
		{"zero scale means 1", PlanOptions{}, 10 * time.Second, time.Second, 2 * time.Minute},
		{"negative scale means 1", PlanOptions{TimeoutScale: -3}, 10 * time.Second, time.Second, 2 * time.Minute},
		{"TCG scale of 3", PlanOptions{TimeoutScale: 3}, 30 * time.Second, 3 * time.Second, 6 * time.Minute},
		{"fractional scale", PlanOptions{TimeoutScale: 0.5}, 5 * time.Second, 500 * time.Millisecond, time.Minute},
		{"override is not scaled", PlanOptions{TimeoutScale: 3, Timeout: 5 * time.Minute}, 30 * time.Second, 3 * time.Second, 5 * time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := s.Plan(tt.opts)
			assert.Equal(t, protocol.Duration(tt.wantStep), p.StepTimeout)
			assert.Equal(t, protocol.Duration(tt.wantStep), p.Phases[0].Steps[0].Timeout)
			assert.Equal(t, protocol.Duration(tt.wantOwn), p.Phases[0].Steps[1].Timeout)
			assert.Equal(t, tt.wantTotal, s.TotalTimeout(tt.opts))
		})
	}
	p := s.Plan(PlanOptions{})
	assert.Equal(t, 1, p.Phases[0].Steps[0].Index)
	assert.Equal(t, 2, p.Phases[0].Steps[1].Index)
	assert.Equal(t, 1, p.Phases[1].Steps[0].Index, "numbering restarts in each phase")
	assert.Equal(t, protocol.Version, p.Version)
	assert.Equal(t, "t", p.Scenario)
}

func TestPlan_DoesNotShareSlicesWithScenario(t *testing.T) {
	s, err := Load(t.Context(), "testdata/good/capabilities.yaml")
	require.NoError(t, err)
	p := s.Plan(PlanOptions{})
	p.Phases[0].Caps.Drop[0] = "changed"
	p.Phases[0].Setup[0] = "changed"
	assert.Equal(t, "CAP_CHOWN", s.Phases[0].Caps.Drop[0])
	assert.Equal(t, "touch /tmp/f", s.Phases[0].Setup[0])
}

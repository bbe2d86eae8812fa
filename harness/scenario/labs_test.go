package scenario

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tsemlab/tsemlab/protocol"
	"github.com/tsemlab/tsemlab/seccomp"
)

func TestLoad_LabsDecodeAndPlan(t *testing.T) {
	s, err := Load(context.Background(), "testdata/labs/labs.yaml")
	require.NoError(t, err)
	require.Len(t, s.Phases, 4)

	learn := s.Phases[0].Seccomp
	require.NotNil(t, learn)
	assert.Equal(t, protocol.SeccompLearn, learn.Mode)
	assert.Equal(t, seccomp.ActKillProcess, learn.DefaultAction)
	enforce := s.Phases[1].Seccomp
	assert.Equal(t, "ls.json", enforce.Profile)
	assert.Empty(t, enforce.ProfileFile, "an earlier export is no file")
	file := s.Phases[2].Seccomp
	assert.Equal(t, "testdata/labs/deny-chmod.json", file.ProfileFile)
	assert.Contains(t, file.ProfileText, "fchmodat")
	assert.Equal(t, "appone", s.Phases[2].AppArmor.Name, "the file's first profile")

	steps := s.Phases[3].Steps
	assert.Equal(t, []string{"pid", "mount", "net", "user"}, steps[0].Namespaces, "in kernel order, whatever the scenario's")
	assert.Equal(t, "/srv/jail", steps[0].PivotRoot)
	assert.Equal(t, "1000:1000", steps[1].User, "the group defaults to the user")
	assert.True(t, steps[1].NoNewPrivileges)
	assert.Equal(t, "1000:100", steps[2].User)
	assert.Equal(t, "/srv/jail", steps[2].Chroot)

	p := s.Plan(PlanOptions{})
	assert.Equal(t, &protocol.Seccomp{Mode: protocol.SeccompLearn, Export: "ls.json", DefaultAction: "SCMP_ACT_KILL_PROCESS"}, p.Phases[0].Seccomp)
	assert.Equal(t, &protocol.Seccomp{Mode: protocol.SeccompEnforce, Profile: "deny-chmod.json"}, p.Phases[2].Seccomp)
	assert.Equal(t, file.ProfileText, p.Files["deny-chmod.json"])
	assert.Equal(t, &protocol.AppArmor{File: "apparmor/appone.profile", Name: "appone"}, p.Phases[2].AppArmor)
	assert.Contains(t, p.Files["apparmor/appone.profile"], "profile appone")
	assert.NotContains(t, p.Files, "ls.json", "the guest has the export")
	ps := p.Phases[3].Steps
	assert.Equal(t, []string{"pid", "mount", "net", "user"}, ps[0].Namespaces)
	assert.Equal(t, "/srv/jail", ps[0].PivotRoot)
	assert.Equal(t, "1000:1000", ps[1].User)
	assert.True(t, ps[1].NoNewPrivileges)
	assert.Equal(t, "appone", ps[1].AppArmor.Name)
}

func TestLoad_NamespaceOptionsAreValidated(t *testing.T) {
	tests := []struct {
		name, step, want string
	}{
		{"unknown kind", `namespaces: [pid, cgroup]`, `unknown namespace "cgroup"`},
		{"typo", `namespaces: [mnt]`, `unknown namespace "mnt"`},
		{"pivot needs mount", "pivot_root: /jail\n        namespaces: [pid]", "pivot_root needs a mount namespace"},
		{"one root change", "pivot_root: /jail\n        chroot: /jail\n        namespaces: [mount]", "either chroot or pivot_root"},
		{"relative root", `chroot: jail`, "must be an absolute directory"},
		{"user name", `user: root`, "must be a numeric user id"},
		{"user overflow", `user: "4294967295"`, "must be below 4294967295"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("x.yaml", []byte("name: x\nphases:\n  - name: p\n    steps:\n      - run: ls\n        "+tt.step+"\n"))
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}

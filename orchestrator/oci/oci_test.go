package oci

import (
	"encoding/json"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tsemlab/tsemlab/internal/testutil"
)

func TestConfig_MatchesGolden(t *testing.T) {
	tests := []struct {
		name string
		o    Options
	}{
		{"shell", Options{
			Root: "/tsemlab/root", Args: []string{"/bin/bash"}, Env: []string{"PS1=", "PS2=", "PS4=+ "},
			Hostname: "debian-minimal", CgroupsPath: "/tsemlab/tsemlab",
		}},
		{"caps-and-cwd", Options{
			Root: "/tsemlab/root", Args: []string{"/bin/bash", "--norc"}, Env: []string{"PATH=/bin", "HOME=/root"}, Cwd: "/root",
			Hostname: "httpd", Drop: []string{"ALL"}, Add: []string{"CAP_NET_BIND_SERVICE", "setuid", "CAP_SETGID"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := Config(tt.o)
			require.NoError(t, err)
			var back specs.Spec
			require.NoError(t, json.Unmarshal(b, &back), "config.json decodes as a runtime spec")
			testutil.Golden(t, "testdata/"+tt.name+".config.json", b)
		})
	}
}

func TestSpec_ContainerIsAPipeFedShellSharingTheGuestNetwork(t *testing.T) {
	s, err := Spec(Options{Root: "/r", Args: []string{"/bin/bash"}})
	require.NoError(t, err)
	assert.False(t, s.Process.Terminal, "steps are typed into a pipe, not a terminal")
	assert.Equal(t, "/", s.Process.Cwd)
	assert.Equal(t, []string{DefaultPath}, s.Process.Env)
	for _, ns := range s.Linux.Namespaces {
		assert.NotEqual(t, specs.NetworkNamespace, ns.Type, "the orchestrator reaches servers over the guest's loopback")
	}
	assert.Len(t, s.Process.Capabilities.Bounding, len(DefaultCaps))
	assert.Empty(t, s.Process.Capabilities.Ambient)
}

func TestSpec_CapabilityChanges(t *testing.T) {
	defaults := []string{"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL", "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_NET_BIND_SERVICE", "CAP_NET_RAW", "CAP_SYS_CHROOT", "CAP_MKNOD", "CAP_AUDIT_WRITE", "CAP_SETFCAP"}
	tests := []struct {
		name      string
		drop, add []string
		want      []string
	}{
		{"defaults, in capability order", nil, nil, defaults},
		{"drop one", []string{"CAP_CHOWN"}, nil, defaults[1:]},
		{"drop all, add one", []string{"ALL"}, []string{"chown"}, []string{"CAP_CHOWN"}},
		{"add beyond the defaults", nil, []string{"CAP_SYS_ADMIN"}, append(append(append([]string{}, defaults[:11]...), "CAP_SYS_ADMIN"), defaults[11:]...)},
		{"drop all", []string{"all"}, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Spec(Options{Root: "/r", Args: []string{"sh"}, Drop: tt.drop, Add: tt.add})
			require.NoError(t, err)
			c := s.Process.Capabilities
			assert.Equal(t, tt.want, c.Bounding)
			assert.Equal(t, c.Bounding, c.Effective)
			assert.Equal(t, c.Bounding, c.Permitted)
			assert.Empty(t, c.Inheritable)
		})
	}
}

func TestSpec_LeavesOutMountsTheKernelCannotMake(t *testing.T) {
	s, err := Spec(Options{Root: "/r", Args: []string{"sh"}, Filesystems: []string{"proc", "tmpfs", "devpts", "sysfs", "cgroup", "cgroup2", "overlay"}})
	require.NoError(t, err)
	var dests []string
	for _, m := range s.Mounts {
		dests = append(dests, m.Destination)
	}
	assert.Equal(t, []string{"/proc", "/dev", "/dev/pts", "/dev/shm", "/sys", "/sys/fs/cgroup"}, dests, "no mqueue on a kernel without it")
	s, err = Spec(Options{Root: "/r", Args: []string{"sh"}})
	require.NoError(t, err)
	assert.Len(t, s.Mounts, 7, "nil keeps every mount")
}

func TestSpec_RefusesWhatCannotRun(t *testing.T) {
	_, err := Spec(Options{Root: "/r", Args: []string{"sh"}, Drop: []string{"CAP_NOSUCH"}})
	assert.EqualError(t, err, `oci: unknown capability "CAP_NOSUCH"`)
	_, err = Spec(Options{Args: []string{"sh"}})
	assert.ErrorContains(t, err, "needs a root")
	_, err = Spec(Options{Root: "/r"})
	assert.ErrorContains(t, err, "and a process")
}

package orchestrator

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"kernel.org/pub/linux/libs/security/libcap/cap"

	"github.com/tsemlab/tsemlab/protocol"
)

// TestMain lets the test binary stand in for tsemlab-guest's capexec mode,
// so a capexec'd step runs through the real code: execSession prefixes a
// step with `<self> capexec ...`, and self is this binary.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "capexec" {
		// Capexec only returns on failure; it execs the command otherwise.
		fmt.Fprintln(os.Stderr, Capexec(os.Args[2:]))
		os.Exit(127)
	}
	os.Exit(m.Run())
}

func TestCapSet_Parses(t *testing.T) {
	tests := []struct {
		list string
		want []cap.Value
	}{
		{"", nil},
		{"chown", []cap.Value{cap.CHOWN}},
		{"CAP_CHOWN", []cap.Value{cap.CHOWN}},
		{"Cap_Chown", []cap.Value{cap.CHOWN}},
		{"CHOWN", []cap.Value{cap.CHOWN}},
		{" chown , kill ", []cap.Value{cap.CHOWN, cap.KILL}},
		{"chown,,cap_chown", []cap.Value{cap.CHOWN}},
		{"net_bind_service,SYS_ADMIN", []cap.Value{cap.NET_BIND_SERVICE, cap.SYS_ADMIN}},
	}
	for _, tt := range tests {
		t.Run(tt.list, func(t *testing.T) {
			got, err := capSet(tt.list)
			require.NoError(t, err)
			want := map[cap.Value]bool{}
			for _, v := range tt.want {
				want[v] = true
			}
			assert.Equal(t, want, got)
		})
	}
}

func TestCapSet_AllIsEveryCapability(t *testing.T) {
	for _, list := range []string{"ALL", "all", "chown,ALL"} {
		got, err := capSet(list)
		require.NoError(t, err)
		assert.Len(t, got, int(cap.MaxBits()), list)
		for v := cap.Value(0); v < cap.MaxBits(); v++ {
			assert.True(t, got[v], "%s in %s", v, list)
		}
	}
}

func TestCapSet_UnknownNameIsAnError(t *testing.T) {
	tests := []struct{ list, want string }{
		{"chwon", `capexec: unknown capability "cap_chwon"`},
		{"chown,CAP_NOPE", `capexec: unknown capability "cap_nope"`},
		{"cap_", `capexec: unknown capability "cap_"`},
	}
	for _, tt := range tests {
		t.Run(tt.list, func(t *testing.T) {
			_, err := capSet(tt.list)
			assert.EqualError(t, err, tt.want)
		})
	}
}

func TestMergeCaps(t *testing.T) {
	phase := &protocol.Caps{Drop: []string{"ALL"}, Add: []string{"CAP_CHOWN"}}
	step := &protocol.Caps{Drop: []string{"CAP_CHOWN"}}
	tests := []struct {
		name        string
		phase, step *protocol.Caps
		want        *protocol.Caps
	}{
		{"neither", nil, nil, nil},
		{"phase only", phase, nil, phase},
		{"step only", nil, step, step},
		{"phase first, then step", phase, step, &protocol.Caps{Drop: []string{"ALL", "CAP_CHOWN"}, Add: []string{"CAP_CHOWN"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, mergeCaps(tt.phase, tt.step))
		})
	}
	merged := mergeCaps(phase, step)
	merged.Drop[0] = "changed"
	assert.Equal(t, []string{"ALL"}, phase.Drop, "merging does not alias the phase's lists")
}

func TestCapexecArgs(t *testing.T) {
	got := capexecArgs("/init/tsemlab-guest", &protocol.Caps{Drop: []string{"ALL"}, Add: []string{"CAP_CHOWN", "kill"}})
	assert.Equal(t, []string{"/init/tsemlab-guest", "capexec", "-drop", "ALL", "-add", "CAP_CHOWN,kill", "--"}, got)
}

func TestCapexec_RefusesBadArguments(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no command", []string{"-drop", "chown", "--"}, "capexec: no command"},
		{"unknown drop", []string{"-drop", "nope", "--", "true"}, `capexec: unknown capability "cap_nope"`},
		{"unknown add", []string{"-add", "nope", "--", "true"}, `capexec: unknown capability "cap_nope"`},
		{"unknown flag", []string{"-keep", "x", "--", "true"}, "flag provided but not defined: -keep"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.EqualError(t, Capexec(tt.args), tt.want)
		})
	}
}

// capsSession returns an exec session whose capexec helper is this test
// binary (see TestMain); it needs root, which can change the bounding set.
func capsSession(t *testing.T, c *protocol.Caps) *execSession {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skipf("capexec changes the bounding set, which needs root (CAP_SETPCAP); running as uid %d", os.Geteuid())
	}
	self, err := os.Executable()
	require.NoError(t, err)
	phase := execPhase(t)
	phase.Caps = c
	return &execSession{phase: phase, self: self}
}

func TestCapexec_DropAllAddChownLeavesOnlyChownBound(t *testing.T) {
	s := capsSession(t, &protocol.Caps{Drop: []string{"ALL"}, Add: []string{"CAP_CHOWN"}})
	r := s.run(context.Background(), protocol.Step{Index: 1, Run: "grep CapBnd /proc/self/status"}, stepLimit)
	require.NoError(t, r.err)
	require.Equal(t, 0, r.exit, "stderr: %s", r.stderr)
	assert.Equal(t, "CapBnd:\t0000000000000001\n", r.stdout)

	f := filepath.Join(t.TempDir(), "owned")
	require.NoError(t, os.WriteFile(f, nil, 0o644))
	r = s.run(context.Background(), protocol.Step{Index: 2, Run: "chown 65534 " + f}, stepLimit)
	assert.Equal(t, 0, r.exit, "CAP_CHOWN was added back: %s", r.stderr)
	st, err := os.Stat(f)
	require.NoError(t, err)
	assert.Equal(t, uint32(65534), st.Sys().(*syscall.Stat_t).Uid)
}

func TestCapexec_DroppedChownRefusesChown(t *testing.T) {
	s := capsSession(t, nil)
	f := filepath.Join(t.TempDir(), "owned")
	require.NoError(t, os.WriteFile(f, nil, 0o644))
	r := s.run(context.Background(), protocol.Step{Index: 1, Run: "chown 65534 " + f, Caps: &protocol.Caps{Drop: []string{"chown"}}}, stepLimit)
	require.NoError(t, r.err)
	assert.Equal(t, 1, r.exit)
	assert.Contains(t, r.stderr, "Operation not permitted")

	r = s.run(context.Background(), protocol.Step{Index: 2, Run: "chown 65534 " + f}, stepLimit)
	assert.Equal(t, 0, r.exit, "the next step without caps changes keeps CAP_CHOWN: %s", r.stderr)
}

func FuzzCapSet(f *testing.F) {
	for _, s := range []string{"", "chown", "CAP_CHOWN,kill", "ALL", " all ,", "cap_", "nope"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, list string) {
		got, err := capSet(list)
		if err != nil {
			return
		}
		for v := range got {
			if v >= cap.MaxBits() {
				t.Fatalf("capSet(%q) has %d, beyond the kernel's %d capabilities", list, v, cap.MaxBits())
			}
		}
	})
}

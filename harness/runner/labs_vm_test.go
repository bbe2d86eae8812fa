package runner

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	moby "github.com/moby/profiles/seccomp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tsemlab/tsemlab/harness/result"
	"github.com/tsemlab/tsemlab/protocol"
	"github.com/tsemlab/tsemlab/seccomp"
)

// labScenarios are the container-hardening labs: each must pass on the
// stock kernel (Debian's cloud kernel, AppArmor active).
var labScenarios = []string{
	"seccomp-chmod", "seccomp-learn-enforce", "seccomp-too-tight",
	"apparmor-appone", "namespaces-isolation", "nnp-setuid",
}

func TestRun_StockKernel_LabScenariosPass(t *testing.T) {
	l := prepare(t, "")
	var files []string
	for _, n := range labScenarios {
		files = append(files, "../../scenarios/"+n+".yaml")
	}
	run := runScenarios(t, l, files...)
	require.Len(t, run.Scenarios, len(labScenarios))
	byName := map[string]*result.Scenario{}
	for _, sc := range run.Scenarios {
		byName[sc.Name] = sc
		if !assert.Equal(t, result.Pass, sc.Status, "%s: %s\n%s", sc.Name, sc.Reason, failures(sc)) {
			t.Logf("%s console tail:\n%s", sc.Name, sc.ConsoleTail)
		}
	}
	learnedProfileIsDockers(t, byName["seccomp-learn-enforce"], "learn-ls.json")
	tight := byName["seccomp-too-tight"]
	require.Len(t, tight.Phases, 4)
	killed := tight.Phases[1].Steps[0]
	assert.Equal(t, "SIGSYS", killed.Signal)
	assert.Contains(t, result.DescribeEvidence(killed.Evidence), "at execve (x86_64 syscall 59)", "the result names the refused call")
	denied := byName["apparmor-appone"].Phases[0].Steps[1]
	assert.Contains(t, result.DescribeEvidence(denied.Evidence), `apparmor="DENIED": profile appone denied`)
}

// learnedProfileIsDockers checks that a learned profile is accepted
// unchanged by Docker's schema: moby's types read it with no unknown
// field, and what they write back parses to the same profile.
func learnedProfileIsDockers(t *testing.T, sc *result.Scenario, name string) {
	t.Helper()
	require.NotNil(t, sc)
	data, err := os.ReadFile(filepath.Join(sc.Dir, name))
	require.NoError(t, err)
	var docker moby.Seccomp
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	require.NoError(t, dec.Decode(&docker), "%s", data)
	assert.Equal(t, "SCMP_ACT_ERRNO", string(docker.DefaultAction))
	require.Len(t, docker.Syscalls, 1)
	assert.Contains(t, docker.Syscalls[0].Names, "getdents64", "ls read a directory")
	back, err := json.Marshal(&docker)
	require.NoError(t, err)
	p1, err := seccomp.Parse(data)
	require.NoError(t, err)
	p2, err := seccomp.Parse(back)
	require.NoError(t, err)
	assert.Equal(t, p1.Syscalls, p2.Syscalls)
	assert.Equal(t, string(p1.Marshal()), string(data), "the artifact is the canonical encoding")

	var counts protocol.SeccompCounts
	cdata, err := os.ReadFile(filepath.Join(sc.Dir, protocol.SeccompCountsName("learn")))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(cdata, &counts))
	assert.Equal(t, name, counts.Profile)
	assert.Positive(t, counts.Total["getdents64"])
}

// failures lists a scenario's failed checks, for a failing test's message.
func failures(sc *result.Scenario) string {
	var b strings.Builder
	for _, p := range sc.Phases {
		if p.Error != "" {
			b.WriteString(p.Name + ": " + p.Error + "\n")
		}
		for _, st := range p.Steps {
			for _, c := range result.Failed(st.Checks) {
				b.WriteString(p.Name + "/" + st.Name + ": " + c.What + ": want " + c.Want + ", got " + c.Got + "\n")
			}
		}
	}
	return b.String()
}

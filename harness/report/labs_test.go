package report

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tsemlab/tsemlab/harness/result"
	"github.com/tsemlab/tsemlab/internal/testutil"
)

func TestLabs_LearnedProfilesWithCountsAndDenialsInWords(t *testing.T) {
	dir := t.TempDir()
	counts := `{"phase": "learn", "profile": "learn-ls.json", "total": {"read": 12, "execve": 1, "getdents64": 4, "write": 4},
	  "steps": [{"index": 1, "counts": {"read": 12, "execve": 1, "getdents64": 4, "write": 4}}, {"index": 2, "counts": null, "error": "open /tmp/x: no such file"}]}`
	profile := `{"defaultAction": "SCMP_ACT_ERRNO", "architectures": ["SCMP_ARCH_X86_64"], "syscalls": [{"names": ["execve", "getdents64", "read", "write"], "action": "SCMP_ACT_ALLOW"}]}`
	require.NoError(t, os.WriteFile(filepath.Join(dir, "learn.seccomp-counts.json"), []byte(counts), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "learn-ls.json"), []byte(profile), 0o644))
	run := &result.Run{Scenarios: []*result.Scenario{
		{Name: "seccomp-learn-enforce", Dir: dir, Phases: []*result.Phase{
			{Name: "learn", Steps: []*result.Step{{Index: 1, Run: "ls /"}}},
			{Name: "enforce", Steps: []*result.Step{{Index: 2, Run: "chmod 600 /tmp/learned-f", KernelLog: []string{
				`audit: type=1326 audit(1796158941.261:4): auid=4294967295 uid=0 gid=0 ses=4294967295 subj=unconfined pid=106 comm="chmod" exe="/bin/chmod" sig=0 arch=c000003e syscall=268 compat=0 ip=0x7f50af779eaf code=0x50000`,
			}}}},
		}},
		{Name: "apparmor-appone", Dir: t.TempDir(), Phases: []*result.Phase{
			{Name: "confined", Steps: []*result.Step{{Index: 2, Run: "touch /tmp/elsewhere", KernelLog: []string{
				`audit: type=1400 audit(1796158971.924:9): apparmor="DENIED" operation="mknod" profile="appone" name="/tmp/elsewhere" pid=98 comm="touch" requested_mask="c" denied_mask="c" fsuid=0 ouid=0`,
				"Untrusted event task_alloc: model_ns=2, comm=bash, pid=69",
			}}}},
		}},
		{Name: "caps-chown", Dir: t.TempDir()},
	}}
	var b strings.Builder
	require.NoError(t, Labs(&b, run))
	testutil.Golden(t, "testdata/labs-show.golden", []byte(strings.ReplaceAll(b.String(), dir, "DIR")))
}

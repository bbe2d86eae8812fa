package judge

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/tsemlab/tsemlab/harness/result"
	"github.com/tsemlab/tsemlab/protocol"
)

// Kernel lines as Debian's 6.1 cloud kernel prints them for the labs.
const (
	seccompKill  = `audit: type=1326 audit(1764622000.512:42): auid=4294967295 uid=0 gid=0 ses=4294967295 subj=unconfined pid=213 comm="tsemlab-guest" exe="/bin/tsemlab-guest" sig=31 arch=c000003e syscall=59 compat=0 ip=0x4a2b6e code=0x80000000`
	seccompErrno = `audit: type=1326 audit(1764622001.100:43): auid=4294967295 uid=0 gid=0 ses=4294967295 subj=unconfined pid=220 comm="chmod" exe="/bin/chmod" sig=0 arch=c000003e syscall=268 compat=0 ip=0x7f0d3c1a code=0x50000`
	appArmorDeny = `audit: type=1400 audit(1764622002.300:44): apparmor="DENIED" operation="mknod" profile="appone" name="/tmp/elsewhere" pid=231 comm="touch" requested_mask="c" denied_mask="c" fsuid=0 ouid=0`
)

func TestOutcome_LabRefusalsNameWhatWasRefused(t *testing.T) {
	tests := []struct {
		name     string
		end      protocol.StepEnd
		want     protocol.Outcome
		decisive []string
		mentions string
	}{
		{name: "a seccomp kill at start names the refused call",
			end:  protocol.StepEnd{Session: protocol.SessionExec, ExitCode: 159, Signal: "SIGSYS", KernelLog: []string{seccompKill}},
			want: protocol.OutcomeDeny, decisive: []string{KindSignal, KindKernelLog, KindExit},
			mentions: "seccomp: kill_process at execve (x86_64 syscall 59) by tsemlab-guest[213]"},
		{name: "SCMP_ACT_ERRNO: EPERM on stderr and the logged errno",
			end: protocol.StepEnd{Session: protocol.SessionExec, ExitCode: 1, Stderr: "chmod: changing permissions of '/tmp/f': Operation not permitted\n",
				KernelLog: []string{seccompErrno}},
			want: protocol.OutcomeDeny, decisive: []string{KindStderr, KindKernelLog, KindExit}, mentions: "seccomp: errno at fchmodat (x86_64 syscall 268) by chmod[220]"},
		{name: "AppArmor: EACCES and the denial",
			end: protocol.StepEnd{Session: protocol.SessionExec, ExitCode: 1, Stderr: "touch: open /tmp/elsewhere: permission denied\n",
				KernelLog: []string{appArmorDeny}},
			want: protocol.OutcomeDeny, decisive: []string{KindStderr, KindKernelLog, KindExit},
			mentions: `apparmor="DENIED": profile appone denied mknod /tmp/elsewhere (denied c) to touch[231]`},
		{name: "a logged refusal the step survived decides nothing",
			end:  protocol.StepEnd{Session: protocol.SessionExec, KernelLog: []string{seccompErrno}},
			want: protocol.OutcomeAllow, decisive: []string{KindExit}, mentions: "fchmodat"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ev := Outcome(tt.end)
			assert.Equal(t, tt.want, got)
			assert.Equal(t, tt.decisive, decisive(ev))
			assert.Contains(t, result.DescribeEvidence(ev), tt.mentions)
		})
	}
}

func TestKernelLine_OtherLinesStayAsTheyAre(t *testing.T) {
	l := "Untrusted event task_alloc: model_ns=2, comm=bash, pid=69"
	assert.Equal(t, l, KernelLine(l))
	_, ok := ParseAppArmorDenial(`audit: type=1400 apparmor="STATUS" operation="profile_load" profile="unconfined" name="appone"`)
	assert.False(t, ok)
}

// FuzzParseAppArmorDenial checks that no kernel line makes the parser
// panic.
func FuzzParseAppArmorDenial(f *testing.F) {
	f.Add(appArmorDeny)
	f.Add(`apparmor="DENIED" name="`)
	f.Fuzz(func(t *testing.T, line string) {
		if d, ok := ParseAppArmorDenial(line); ok {
			_ = d.String()
		}
		_ = KernelLine(line)
	})
}

package report

import (
	"time"

	"github.com/tsemlab/tsemlab/harness/result"
)

func ms(n int) result.Duration { return result.Duration(time.Duration(n) * time.Millisecond) }

func env(accel, reason string) result.Environment {
	return result.Environment{
		KernelPath:      "/var/cache/tsemlab/kernels/vmlinuz-6.1.0-37-cloud-amd64",
		KernelSHA256:    "5f1c0e9a2b7d4c3e8f6a1b2c3d4e5f60718293a4b5c6d7e8f9012345678abcde",
		KernelRelease:   "6.1.0-37-cloud-amd64",
		InitramfsSHA256: "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678abcdef0123456789abcdef01",
		QEMUVersion:     "8.2.2",
		Accel:           accel,
		AccelReason:     reason,
	}
}

// fixture is a run with one scenario of each interesting kind: pass (with
// an expected deny), fail (deny expected, allow seen, with failed checks
// and a failed phase check), skip (TSEM on a stock kernel), crash (panic
// with control characters on the console), timeout (with a step not run)
// and harness error (no steps).
func fixture() *result.Run {
	return &result.Run{
		Started:  time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC),
		Duration: ms(95500),
		Dir:      "results/20250601T120000Z",
		Scenarios: []*result.Scenario{
			{
				Name:     "caps-chown",
				File:     "scenarios/caps-chown.yaml",
				Status:   result.Pass,
				Duration: ms(12300),
				BootTime: ms(4100),
				Env:      env("tcg", "/dev/kvm absent"),
				Phases: []*result.Phase{
					{
						Name:   "keep-chown",
						Status: result.Pass,
						Steps: []*result.Step{{
							Index: 1, Run: "chown nobody /tmp/f", Status: result.Pass,
							Expected: "allow", Seen: "allow", Duration: ms(400),
							Checks: []result.Check{{What: "outcome", Want: "allow", Got: "allow", OK: true}},
						}},
					},
					{
						Name:   "drop-chown",
						Status: result.Pass,
						Steps: []*result.Step{
							{
								Index: 1, Run: "chown nobody /tmp/f", Status: result.Pass,
								Expected: "deny", Seen: "deny", ExitCode: 1,
								Stderr:   "chown: changing ownership of '/tmp/f': Operation not permitted\n",
								Evidence: []result.Evidence{{Kind: "stderr", Text: "stderr: chown: changing ownership of '/tmp/f': Operation not permitted", Decisive: true}},
								Duration: ms(500),
								Checks:   []result.Check{{What: "outcome", Want: "deny", Got: "deny", OK: true}},
							},
							{
								Index: 2, Name: "owner-unchanged", Run: "stat -c %u /tmp/f", Status: result.Pass,
								Expected: "allow", Seen: "allow", Stdout: "0\n", Duration: ms(300),
								Checks: []result.Check{
									{What: "outcome", Want: "allow", Got: "allow", OK: true},
									{What: "stdout_contains", Want: "0", Got: "0\n", OK: true},
								},
							},
						},
					},
				},
			},
			{
				Name:     "seccomp-chmod",
				File:     "scenarios/seccomp-chmod.yaml",
				Status:   result.Fail,
				Duration: ms(9870),
				Env:      env("kvm", "/dev/kvm usable"),
				Phases: []*result.Phase{{
					Name:   "enforce",
					Status: result.Fail,
					Steps: []*result.Step{
						{
							Index: 1, Run: "touch /tmp/f", Status: result.Pass,
							Expected: "allow", Seen: "allow", Duration: ms(200),
							Checks: []result.Check{{What: "outcome", Want: "allow", Got: "allow", OK: true}},
						},
						{
							Index: 2, Run: "chmod 600 /tmp/f && echo changed\nstat -c %a /tmp/f", Status: result.Fail,
							Expected: "deny", Seen: "allow", Duration: ms(210),
							Stdout: "line 1\nline 2\nline 3\nline 4\nline 5\nchanged\n600\n",
							Checks: []result.Check{
								{What: "outcome", Want: "deny", Got: "allow", OK: false},
								{What: "stderr_contains", Want: "Operation not permitted", Got: "", OK: false},
							},
						},
						{
							Index: 3, Run: "chown nobody /tmp/f", Status: result.Pass,
							Expected: "allow", Seen: "allow", Duration: ms(100),
						},
					},
					Checks: []result.Check{
						{What: "profile_contains", Want: "chmod: SCMP_ACT_ERRNO", Got: "chmod absent | <profile>\nfchmodat: SCMP_ACT_ALLOW", OK: false},
					},
				}},
			},
			{
				Name:     "process-grep",
				File:     "scenarios/process-grep.yaml",
				Status:   result.Skip,
				Reason:   "kernel 6.1.0-37-cloud-amd64 lacks the tsem security module (active LSMs: capability,landlock,lockdown,yama,apparmor); build one with `tsemlab kernel build`",
				Duration: ms(3200),
				Env:      env("kvm", ""),
			},
			{
				Name:     "buster-ls-top",
				File:     "scenarios/buster-ls-top.yaml",
				Status:   result.Crash,
				Reason:   "kernel crashed during step enforce/2",
				Duration: ms(21040),
				Env:      env("kvm", ""),
				Phases: []*result.Phase{{
					Name:   "enforce",
					Status: result.Crash,
					Steps: []*result.Step{
						{Index: 1, Run: "ls /", Status: result.Pass, Expected: "allow", Seen: "allow", Stdout: "bin\netc\n", Duration: ms(800)},
						{Index: 2, Run: "top -b -n 1", Status: result.Crash, Expected: "deny", Duration: ms(1500)},
						{Index: 3, Run: "ls /", Status: result.NotRun, Expected: "deny"},
					},
				}},
				Crash: "[   19.101234] BUG: kernel NULL pointer dereference, address: 0000000000000008\n" +
					"[   19.101300] #PF: supervisor read access in kernel mode\n" +
					"[   19.101400] RIP: 0010:tsem_event_magazine_allocator+0x2a/0x90\n" +
					"[   19.101500] Call Trace:\n" +
					"[   19.101600]  <IRQ>\n" +
					"[   19.101700]  tsem_file_open+0x41/0x60\r\n" +
					"[   19.102000] Kernel panic - not syncing: Fatal exception in interrupt\n" +
					"[   19.102100] ---[ end Kernel panic - not syncing: Fatal exception in interrupt ]---\n",
				ConsoleTail: "\x1b[0;32m  OK  \x1b[0m Started orchestrator\r\n" +
					"tsemlab: step enforce/2 started\x00\x00\n" +
					"[   19.102000] Kernel panic - not syncing: Fatal exception in interrupt\n" +
					"bad byte \xff and C1 \u0085 end\n",
			},
			{
				Name:     "httpd",
				File:     "scenarios/httpd.yaml",
				Status:   result.Timeout,
				Reason:   "step serve/2 did not finish within 30s",
				Duration: ms(45000),
				Env:      env("tcg", "/dev/kvm absent"),
				Phases: []*result.Phase{{
					Name:   "serve",
					Status: result.Timeout,
					Steps: []*result.Step{
						{Index: 1, Name: "start", Run: "apachectl -k start", Status: result.Pass, Expected: "allow", Seen: "allow", Duration: ms(2300)},
						{
							Index: 2, Name: "get", Run: "wget -O- http://127.0.0.1/", Status: result.Timeout, Expected: "allow", Seen: "timeout",
							Stderr: "Connecting to 127.0.0.1:80... connected.\nHTTP request sent, awaiting response... ", Duration: ms(30000),
						},
						{Index: 3, Name: "stop", Run: "apachectl -k stop", Status: result.NotRun, Expected: "allow"},
					},
				}},
				ConsoleTail: "[   40.000001] random: crng init done\n[   44.900000] apache2[212]: AH00558: could not reliably determine the server's fully qualified domain name\n",
			},
			{
				Name:        "caps-all",
				File:        "scenarios/caps-all.yaml",
				Status:      result.Error,
				Reason:      "guest sent no hello within 60s: qemu-system-x86_64: -drive file=debian.sqfs: Could not open 'debian.sqfs': No such file or directory",
				Duration:    ms(1100),
				Env:         env("kvm", ""),
				ConsoleTail: "SeaBIOS (version 1.16.3)\n",
			},
		},
	}
}

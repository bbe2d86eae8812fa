package runner

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/tsemlab/tsemlab/harness/result"
	"github.com/tsemlab/tsemlab/protocol"
)

func TestKVMFailed_OnlyForHostSideFailures(t *testing.T) {
	hello := &protocol.Hello{KernelRelease: "6.12"}
	tests := []struct {
		name   string
		status result.Status
		hello  *protocol.Hello
		stderr string
		want   bool
	}{
		{"guest never said hello", result.Timeout, nil, "", true},
		{"KVM internal error after hello", result.Error, hello, "KVM internal error. Suberror: 1", true},
		{"MSR abort", result.Error, nil, "qemu: failed to set MSR 0x345", true},
		{"a failing step is the kernel's verdict", result.Fail, hello, "", false},
		{"a crash is the kernel's", result.Crash, nil, "", false},
		{"orchestrator error after hello", result.Error, hello, "", false},
		{"pass", result.Pass, hello, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &scenarioRun{res: &result.Scenario{Status: tt.status}, hello: tt.hello, qemuStderr: tt.stderr}
			assert.Equal(t, tt.want, r.kvmFailed())
		})
	}
}

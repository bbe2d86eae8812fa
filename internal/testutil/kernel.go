package testutil

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// KernelSource is the kernel tarball the kernel build tests use: Debian's
// linux-source-6.12 package.
const KernelSource = "/usr/src/linux-source-6.12.tar.xz"

// RequireKernelBuild returns KernelSource when this host can build a
// kernel from it and boot it. Otherwise it skips the test, saying what is
// missing, or fails it under CI=true, where .ci/run installs everything.
// -short skips it: a first build takes minutes.
func RequireKernelBuild(t testing.TB) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds a Linux kernel from " + KernelSource + " (minutes the first time); run without -short")
	}
	var missing []string
	if _, err := os.Stat(KernelSource); err != nil {
		missing = append(missing, KernelSource)
	}
	for _, tool := range []string{"make", "gcc", "flex", "bison", "bc", "git", "patch", "tar", "xz", "qemu-system-x86_64"} {
		if _, err := exec.LookPath(tool); err != nil {
			missing = append(missing, tool)
		}
	}
	if len(missing) == 0 {
		return KernelSource
	}
	msg := "needs " + strings.Join(missing, ", ") + " (apt-get install build-essential flex bison bc libelf-dev libssl-dev cpio ccache linux-source-6.12 xz-utils patch git qemu-system-x86)"
	if os.Getenv("CI") == "true" {
		t.Fatal("CI must build kernels, but it " + msg + "; .ci/run installs them")
	}
	t.Skip(msg)
	return ""
}

package seccomp

import (
	"slices"
	"sort"

	"github.com/elastic/go-seccomp-bpf/arch"
	"github.com/tsemlab/tsemlab/internal/suggest"
)

// Architectures a profile may name (libseccomp's SCMP_ARCH_* names, as
// Docker and the OCI runtime spec write them).
var Architectures = []string{
	"SCMP_ARCH_X86", "SCMP_ARCH_X86_64", "SCMP_ARCH_X32", "SCMP_ARCH_ARM", "SCMP_ARCH_AARCH64",
	"SCMP_ARCH_MIPS", "SCMP_ARCH_MIPS64", "SCMP_ARCH_MIPS64N32", "SCMP_ARCH_MIPSEL", "SCMP_ARCH_MIPSEL64",
	"SCMP_ARCH_MIPSEL64N32", "SCMP_ARCH_PPC", "SCMP_ARCH_PPC64", "SCMP_ARCH_PPC64LE", "SCMP_ARCH_S390",
	"SCMP_ARCH_S390X", "SCMP_ARCH_PARISC", "SCMP_ARCH_PARISC64", "SCMP_ARCH_RISCV64", "SCMP_ARCH_LOONGARCH64",
}

// NativeArch is the architecture tsemlab's guests run: the one a profile
// must cover to be enforced there.
const NativeArch = "SCMP_ARCH_X86_64"

// native is the syscall table of NativeArch.
var native = arch.X86_64

// tables are the syscall tables a name is looked up in: a name in any of
// them is a real system call (Docker's profiles list arm-only calls, say),
// a name in none is a mistake.
var tables = []*arch.Info{arch.X86_64, arch.I386, arch.X32, arch.AARCH64, arch.ARM}

// otherArch are system calls of architectures go-seccomp-bpf has no table
// for, which Docker's default profile names.
var otherArch = []string{
	"riscv_flush_icache", "riscv_hwprobe", "s390_guarded_storage", "s390_pci_mmio_read", "s390_pci_mmio_write",
	"s390_runtime_instr", "s390_sthyi", "spu_create", "spu_run", "subpage_prot", "swapcontext",
	"switch_endian", "sync_file_range2", "sys_debug_setcontext", "rtas",
}

// Known reports whether name is a system call of any architecture tsemlab
// knows.
func Known(name string) bool {
	if slices.Contains(otherArch, name) {
		return true
	}
	for _, t := range tables {
		if _, ok := t.SyscallNames[name]; ok {
			return true
		}
	}
	return false
}

// Native reports whether name is a system call of the guest's architecture.
func Native(name string) bool {
	_, ok := native.SyscallNames[name]
	return ok
}

// Number returns the guest architecture's number of a system call.
func Number(name string) (int, bool) {
	n, ok := native.SyscallNames[name]
	return n, ok
}

// Name returns the name of system call nr on the architecture of the
// audit arch value (AUDIT_ARCH_X86_64 = 0xc000003e, ...), or "".
func Name(auditArch uint32, nr int) string {
	for _, t := range tables {
		if uint32(t.ID) != auditArch {
			continue
		}
		if t.SeccompMask != 0 && nr&t.SeccompMask == 0 {
			continue
		}
		if n, ok := t.SyscallNumbers[nr&^t.SeccompMask]; ok {
			return n
		}
	}
	return ""
}

// ArchName returns a readable name of an audit arch value ("x86_64").
func ArchName(auditArch uint32) string {
	for _, t := range tables {
		if uint32(t.ID) == auditArch && t.SeccompMask == 0 {
			return t.Name
		}
	}
	return ""
}

// allNames lists every known system call name once, sorted, for
// suggestions.
func allNames() []string {
	seen := map[string]bool{}
	for _, t := range tables {
		for n := range t.SyscallNames {
			seen[n] = true
		}
	}
	out := make([]string, 0, len(seen))
	for n := range seen {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// nearest returns the candidate closest to s when it is close enough to be
// an obvious typo, or "".
func nearest(s string, candidates []string) string { return suggest.Nearest(s, candidates) }

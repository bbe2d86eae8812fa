package seccomp

import (
	"fmt"

	libseccomp "github.com/elastic/go-seccomp-bpf"
	"golang.org/x/net/bpf"
)

// Filter assembles p into the BPF program the kernel runs for each system
// call of the native architecture. A call of another architecture (an
// i386 call from a 64-bit process, an x32 call) gets the default action,
// or ENOSYS for x32, as go-seccomp-bpf arranges. Names of other
// architectures' calls are left out: they cannot be made here.
func (p *Profile) Filter() ([]bpf.RawInstruction, error) {
	def, err := p.DefaultAction.Kernel(errnoOr(p.DefaultErrnoRet))
	if err != nil {
		return nil, fmt.Errorf("default action: %w", err)
	}
	policy := libseccomp.Policy{DefaultAction: libseccomp.ActionAllow}
	for _, r := range p.Syscalls {
		ret, err := r.Action.Kernel(errnoOr(r.ErrnoRet))
		if err != nil {
			return nil, fmt.Errorf("rule %v: %w", r.Names, err)
		}
		g := libseccomp.SyscallGroup{Action: libseccomp.Action(ret)}
		for _, n := range r.Names {
			if Native(n) && !named(policy.Syscalls, n) {
				g.Names = append(g.Names, n)
			}
		}
		if len(g.Names) > 0 {
			policy.Syscalls = append(policy.Syscalls, g)
		}
	}
	if len(policy.Syscalls) == 0 {
		return bpf.Assemble([]bpf.Instruction{bpf.RetConstant{Val: def}})
	}
	insts, err := policy.Assemble()
	if err != nil {
		return nil, fmt.Errorf("assemble filter: %w", err)
	}
	// go-seccomp-bpf validates the default action against its own names
	// only (no errno but EPERM); every path that matches no rule ends at
	// the program's last instruction, so that is where the default goes.
	last, ok := insts[len(insts)-1].(bpf.RetConstant)
	if !ok || last.Val != uint32(libseccomp.ActionAllow) {
		return nil, fmt.Errorf("assemble filter: unexpected last instruction %v", insts[len(insts)-1])
	}
	insts[len(insts)-1] = bpf.RetConstant{Val: def}
	return bpf.Assemble(insts)
}

// named reports whether a call is already in a group: the first rule that
// names a call decides its action.
func named(groups []libseccomp.SyscallGroup, name string) bool {
	for _, g := range groups {
		for _, n := range g.Names {
			if n == name {
				return true
			}
		}
	}
	return false
}

func errnoOr(e *uint) uint {
	if e == nil {
		return DefaultErrno
	}
	return *e
}

package seccomp

import (
	"fmt"
	"regexp"
	"strconv"
)

// Audit is what the kernel's seccomp audit record (type=1326) says: which
// process made which system call, and what the filter did.
type Audit struct {
	PID     int
	Comm    string
	Arch    uint32
	Syscall int
	// Name is the system call's name ("" when the number is unknown).
	Name string
	// Code is the filter's return value (SECCOMP_RET_*).
	Code uint32
}

var (
	auditRE  = regexp.MustCompile(`\btype=1326\b`)
	auditKV  = regexp.MustCompile(`\b(pid|comm|arch|syscall|code)=("[^"]*"|\S+)`)
	maxAudit = 4096
)

// ParseAudit reads a seccomp audit line as the kernel prints it to its log
// ("audit: type=1326 audit(...): ... pid=51 comm="ls" ... arch=c000003e
// syscall=90 ... code=0x50001"). ok is false for any other line.
func ParseAudit(line string) (a Audit, ok bool) {
	if len(line) > maxAudit || !auditRE.MatchString(line) {
		return Audit{}, false
	}
	seen := 0
	for _, m := range auditKV.FindAllStringSubmatch(line, -1) {
		val := m[2]
		var err error
		switch m[1] {
		case "pid":
			a.PID, err = strconv.Atoi(val)
		case "comm":
			a.Comm, err = strconv.Unquote(val)
		case "arch":
			var v uint64
			v, err = strconv.ParseUint(val, 16, 32)
			a.Arch = uint32(v)
			seen |= 1
		case "syscall":
			a.Syscall, err = strconv.Atoi(val)
			seen |= 2
		case "code":
			var v uint64
			v, err = strconv.ParseUint(val, 0, 32)
			a.Code = uint32(v)
			seen |= 4
		}
		if err != nil {
			return Audit{}, false
		}
	}
	if seen != 7 || a.Syscall < 0 {
		return Audit{}, false
	}
	a.Name = Name(a.Arch, a.Syscall)
	return a, true
}

// String says what happened in one phrase: "kill_process at execve
// (x86_64 syscall 59) by tsemlab-guest[51]".
func (a Audit) String() string {
	name := a.Name
	if name == "" {
		name = "an unknown system call"
	}
	where := fmt.Sprintf("syscall %d", a.Syscall)
	if arch := ArchName(a.Arch); arch != "" {
		where = arch + " " + where
	}
	who := ""
	if a.Comm != "" {
		who = fmt.Sprintf(" by %s[%d]", a.Comm, a.PID)
	}
	return fmt.Sprintf("%s at %s (%s)%s", Describe(a.Code), name, where, who)
}

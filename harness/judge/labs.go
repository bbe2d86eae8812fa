package judge

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/tsemlab/tsemlab/seccomp"
)

// The kernel's refusal lines of the labs, made readable for evidence:
// a seccomp audit record names the system call by number only, and an
// AppArmor denial is a long key=value record.

// appArmorKV matches the key=value pairs of an AppArmor audit record.
var appArmorKV = regexp.MustCompile(`\b(operation|profile|name|comm|pid|requested_mask|denied_mask|info)=("[^"]*"|\S+)`)

// KernelLine returns a kernel refusal line in words: seccomp records with
// the system call's name, AppArmor denials as who was refused what; other
// lines as they are.
func KernelLine(line string) string {
	if a, ok := seccomp.ParseAudit(line); ok {
		return "seccomp: " + a.String()
	}
	if d, ok := ParseAppArmorDenial(line); ok {
		return `apparmor="DENIED": ` + d.String()
	}
	return line
}

// AppArmorDenial is what an apparmor="DENIED" audit record says.
type AppArmorDenial struct {
	Profile, Operation, Name string
	Comm, PID                string
	Requested, Denied        string
	Info                     string
}

// ParseAppArmorDenial reads an AppArmor denial line; ok is false for any
// other line.
func ParseAppArmorDenial(line string) (d AppArmorDenial, ok bool) {
	if len(line) > 4096 || !strings.Contains(line, `apparmor="DENIED"`) {
		return d, false
	}
	for _, m := range appArmorKV.FindAllStringSubmatch(line, -1) {
		v := strings.Trim(m[2], `"`)
		switch m[1] {
		case "operation":
			d.Operation = v
		case "profile":
			d.Profile = v
		case "name":
			d.Name = v
		case "comm":
			d.Comm = v
		case "pid":
			d.PID = v
		case "requested_mask":
			d.Requested = v
		case "denied_mask":
			d.Denied = v
		case "info":
			d.Info = v
		}
	}
	return d, d.Profile != "" || d.Operation != ""
}

// String says the denial in one phrase: "profile appone denied mknod
// /tmp/x (denied c) to touch[52]".
func (d AppArmorDenial) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "profile %s denied %s", d.Profile, d.Operation)
	if d.Name != "" {
		fmt.Fprintf(&b, " %s", d.Name)
	}
	if d.Denied != "" {
		fmt.Fprintf(&b, " (denied %s)", d.Denied)
	}
	if d.Info != "" {
		fmt.Fprintf(&b, " (%s)", d.Info)
	}
	if d.Comm != "" {
		fmt.Fprintf(&b, " to %s[%s]", d.Comm, d.PID)
	}
	return b.String()
}

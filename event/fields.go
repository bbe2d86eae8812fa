package event

import (
	"fmt"
	"maps"
	"path"
	"strconv"
	"strings"
)

// Type returns the hook name ("file_open"), or "aggregate" for an
// aggregate record.
func (e *Event) Type() string {
	if e.Kind == KindAggregate {
		return KindAggregate
	}
	return e.Hook
}

// Process returns the command name of the task (its comm).
func (e *Event) Process() string { return e.Header["process"] }

// aliases lists the short names Fields derives from the CELL: the first
// CELL key, in record order, that equals the name or ends in "."+suffix.
var aliases = []struct{ name, suffix string }{
	{"pathname", "pathname"},
	{"family", "family"},
	{"address", "address"},
	{"port", "port"},
	{"digest", "digest"},
	{"flags", "flags"},
}

func (e *Event) buildFields() {
	f := map[string]string{}
	for _, k := range e.cellOrder {
		f[k] = e.CELL[k]
		f[e.Hook+"."+k] = e.CELL[k]
	}
	for _, a := range aliases {
		for _, k := range e.cellOrder {
			if k == a.suffix || strings.HasSuffix(k, "."+a.suffix) {
				f[a.name] = e.CELL[k]
				break
			}
		}
	}
	for k, v := range e.Header {
		f["event."+k] = v
		f[k] = v
	}
	for k, v := range e.COE {
		f["COE."+k] = v
		f[k] = v
	}
	f["type"] = e.Type()
	f["kind"] = e.Kind
	if e.Kind == KindAggregate {
		f["aggregate"] = e.Aggregate
	}
	if e.Kind == KindLog {
		f["action"] = e.Action
	}
	e.fields = f
}

// Fields returns the record's fields by name:
//
//   - CELL keys, dotted ("file.path.pathname", "cmd") and also with the
//     hook as prefix ("file_open.file.path.pathname");
//   - "event.<key>" and "COE.<key>" for the header and credentials, and
//     the same keys without prefix ("process", "task_id", "uid", "capeff");
//   - "type" (the hook), "kind" (see Kind), and for convenience the first
//     CELL value, in record order, whose key ends in "pathname", "family",
//     "address", "port", "digest" or "flags" under that short name.
//
// Where a short name collides, "type" and "kind" win over everything,
// credentials over the header, and both over CELL keys (socket_create's
// own "type" is "socket_create.type"). The map is a copy.
func (e *Event) Fields() map[string]string { return maps.Clone(e.fields) }

// Field returns one field by any name Fields accepts.
func (e *Event) Field(name string) (string, bool) {
	v, ok := e.fields[name]
	return v, ok
}

// Match reports whether every wanted field exists and has the wanted
// value: equal to it, or, for a value with a pattern character (*, ?, [),
// matching it as a shell pattern (path.Match: * does not cross "/"), so
// that a file with a random name can be named, /run/apache2/apache2.pid.*.
// Names are those of Fields. An empty want matches.
func (e *Event) Match(want map[string]string) bool {
	for k, v := range want {
		got, ok := e.fields[k]
		if !ok || !valueMatches(v, got) {
			return false
		}
	}
	return true
}

// IsPattern reports whether a wanted value is matched as a pattern.
func IsPattern(v string) bool { return strings.ContainsAny(v, "*?[") }

func valueMatches(want, got string) bool {
	if got == want {
		return true
	}
	if !IsPattern(want) {
		return false
	}
	ok, err := path.Match(want, got)
	return err == nil && ok
}

// Summary returns one readable line: the process, the hook and its key
// arguments, with credentials in parentheses when there are arguments.
//
//	bash  file_open  /root/.bash_history (flags 0100000, uid 0)
//	bash  task_alloc
//	bash  socket_connect  unix /var/run/nscd/socket (uid 0)
//
// Open flags and modes are shown in octal.
func (e *Event) Summary() string {
	switch e.Kind {
	case KindAggregate:
		return "aggregate  " + e.Aggregate
	case KindLog:
		return fmt.Sprintf("%s  %s  untrusted task, action %s", orDash(e.Process()), e.Hook, orDash(e.Action))
	}
	line := orDash(e.Process()) + "  " + e.Hook
	detail, attrs := e.details()
	if detail != "" {
		if uid, ok := e.COE["uid"]; ok {
			attrs = append(attrs, "uid "+uid)
		}
		line += "  " + detail
		if len(attrs) > 0 {
			line += " (" + strings.Join(attrs, ", ") + ")"
		}
	}
	if e.Kind == KindAsync {
		line += "  [async]"
	}
	return line
}

// details returns the main argument of an event and secondary attributes.
func (e *Event) details() (string, []string) {
	var attrs []string
	f := e.fields
	cell := e.CELL
	if p, ok := f["pathname"]; ok {
		if v, ok := f["flags"]; ok {
			attrs = append(attrs, "flags "+octal(v))
		}
		if v, ok := cell["mode"]; ok {
			attrs = append(attrs, "mode "+octal(v))
		}
		if v, ok := cell["cmd"]; ok {
			attrs = append(attrs, "cmd "+v)
		}
		return p, attrs
	}
	if fam, ok := f["family"]; ok {
		d := familyName(fam)
		if addr, ok := f["address"]; ok {
			d += " " + hostPort(fam, addr, f["port"])
		} else if t, ok := cell["type"]; ok {
			d += " " + sockType(t)
		}
		return d, attrs
	}
	switch e.Hook {
	case "capable":
		if c, ok := cell["cap"]; ok {
			return capName(c), attrs
		}
	case "task_kill":
		if s, ok := cell["sig"]; ok {
			return "signal " + s, attrs
		}
	}
	if e.Text {
		// Text records name files by digest only; show the executable.
		if fn := e.Header["filename"]; fn != "" && fn != "none" {
			return fn, attrs
		}
	}
	return "", attrs
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// octal shows a number (decimal, 0-octal or 0x-hex text) in octal.
func octal(v string) string {
	n, err := strconv.ParseUint(v, 0, 64)
	if err != nil {
		return v
	}
	return "0" + strconv.FormatUint(n, 8)
}

var families = map[string]string{"1": "unix", "2": "inet", "10": "inet6", "16": "netlink", "17": "packet", "40": "vsock"}

func familyName(f string) string {
	if n, ok := families[f]; ok {
		return n
	}
	return "family " + f
}

func sockType(t string) string {
	switch t {
	case "1":
		return "stream"
	case "2":
		return "dgram"
	case "3":
		return "raw"
	case "5":
		return "seqpacket"
	}
	return "type " + t
}

func hostPort(family, addr, port string) string {
	if port == "" {
		return addr
	}
	if family == "10" {
		return "[" + addr + "]:" + port
	}
	return addr + ":" + port
}

// capNames are the Linux capability names by number.
var capNames = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
	"CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE",
	"CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER",
	"CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE", "CAP_SYS_PACCT",
	"CAP_SYS_ADMIN", "CAP_SYS_BOOT", "CAP_SYS_NICE", "CAP_SYS_RESOURCE", "CAP_SYS_TIME",
	"CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE", "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL",
	"CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG", "CAP_WAKE_ALARM",
	"CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
}

func capName(c string) string {
	n, err := strconv.Atoi(c)
	if err != nil || n < 0 || n >= len(capNames) {
		return "cap " + c
	}
	return capNames[n]
}

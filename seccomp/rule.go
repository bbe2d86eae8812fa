package seccomp

import "fmt"

// rule decodes one entry of "syscalls".
func (v *validator) rule(n *node) (Rule, bool) {
	var r Rule
	if !v.fields(n, "a syscalls rule", ruleFields) {
		return r, false
	}
	if a := n.get("action"); a != nil {
		r.Action = v.action(a)
	} else {
		v.errorf(n.off, "the rule has no \"action\"; add one, like \"action\": \"SCMP_ACT_ALLOW\"")
	}
	if e := n.get("errnoRet"); e != nil {
		r.ErrnoRet = v.errno(e, "errnoRet", r.Action)
	}
	if c := n.get("comment"); c != nil {
		if c.kind != kindString {
			v.errorf(c.off, "\"comment\" must be a string, got %s", c.kind)
		}
		r.Comment = c.str
	}
	for _, key := range []string{"includes", "excludes"} {
		if x := n.get(key); x != nil && !(x.kind == kindObject && len(x.fields) == 0) && x.kind != kindNull {
			v.errorf(x.off, "%q is not supported: it makes the rule depend on a container's capabilities, architecture or kernel; list the system calls the rule applies to directly", key)
		}
	}
	if x := n.get("args"); x != nil && !(x.kind == kindArray && len(x.items) == 0) && x.kind != kindNull {
		v.errorf(x.off, "argument conditions (\"args\") are not supported; write a rule for the whole system call")
	}
	var names []*node
	if x := n.get("names"); x != nil {
		names = v.strings(x, "names")
	}
	if x := n.get("name"); x != nil {
		if x.kind != kindString {
			v.errorf(x.off, "\"name\" must be a string, got %s", x.kind)
		} else {
			names = append(names, x)
		}
	}
	if n.get("names") == nil && n.get("name") == nil {
		v.errorf(n.off, "the rule names no system call; add \"names\": [\"...\"]")
	}
	for _, s := range names {
		if v.syscall(s, r.Action) {
			r.Names = append(r.Names, s.str)
		}
	}
	return r, r.Action != ""
}

// syscall checks one system call name of a rule with action a.
func (v *validator) syscall(s *node, a Action) bool {
	if !Known(s.str) {
		hint := ""
		if m := nearest(s.str, allNames()); m != "" {
			hint = fmt.Sprintf("; did you mean %q?", m)
		}
		v.errorf(s.off, "unknown system call %q%s", s.str, hint)
		return false
	}
	if prev, dup := v.named[s.str]; dup && a != "" && prev.action != a {
		v.errorf(s.off, "system call %q already has action %s in an earlier rule; a call can have one action", s.str, prev.action)
		return false
	}
	if a != "" {
		v.named[s.str] = namedAt{action: a, off: s.off}
	}
	return true
}

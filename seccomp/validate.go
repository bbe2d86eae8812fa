package seccomp

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Fields of the profile schema, in the order messages list them.
var (
	profileFields = []string{"defaultAction", "defaultErrnoRet", "architectures", "archMap", "syscalls", "flags"}
	ruleFields    = []string{"names", "name", "action", "errnoRet", "args", "comment", "includes", "excludes"}
	archMapFields = []string{"architecture", "subArchitectures"}
	filterFlags   = []string{"SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW", "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"}
)

// validator gathers every mistake of a profile instead of stopping at the
// first.
type validator struct {
	errs Errors
	// named records where each system call got its action, to report a
	// name given two different actions.
	named map[string]namedAt
}

type namedAt struct {
	action Action
	off    int
}

func (v *validator) errorf(off int, format string, args ...any) {
	v.errs = append(v.errs, &Error{Offset: off, Msg: fmt.Sprintf(format, args...)})
}

// fields checks that n is an object whose keys are all allowed, reporting
// unknown and repeated keys.
func (v *validator) fields(n *node, what string, allowed []string) bool {
	if n.kind != kindObject {
		v.errorf(n.off, "%s must be an object {...}, got %s", what, n.kind)
		return false
	}
	seen := map[string]bool{}
	for _, f := range n.fields {
		switch {
		case seen[f.key]:
			v.errorf(f.keyOff, "field %q appears twice in %s; remove one", f.key, what)
		case !slices.Contains(allowed, f.key):
			hint := ""
			if s := nearest(f.key, allowed); s != "" {
				hint = fmt.Sprintf("; did you mean %q?", s)
			}
			v.errorf(f.keyOff, "unknown field %q in %s%s (allowed: %s)", f.key, what, hint, strings.Join(allowed, ", "))
		}
		seen[f.key] = true
	}
	return true
}

func (v *validator) profile(root *node) *Profile {
	p := &Profile{}
	if !v.fields(root, "a seccomp profile", profileFields) {
		return p
	}
	v.named = map[string]namedAt{}
	if n := root.get("defaultAction"); n != nil {
		p.DefaultAction = v.action(n)
	} else {
		v.errorf(root.off, "the profile has no \"defaultAction\"; add one, like \"defaultAction\": \"SCMP_ACT_ERRNO\"")
	}
	if n := root.get("defaultErrnoRet"); n != nil {
		p.DefaultErrnoRet = v.errno(n, "defaultErrnoRet", p.DefaultAction)
	}
	if n := root.get("architectures"); n != nil {
		p.Architectures = v.architectures(n)
	}
	if n := root.get("archMap"); n != nil {
		v.archMap(n)
	}
	if n := root.get("flags"); n != nil {
		for _, s := range v.strings(n, "flags") {
			if !slices.Contains(filterFlags, s.str) {
				v.errorf(s.off, "unknown flag %q (known: %s)", s.str, strings.Join(filterFlags, ", "))
			}
		}
	}
	if n := root.get("syscalls"); n != nil && n.kind != kindNull {
		if n.kind != kindArray {
			v.errorf(n.off, "\"syscalls\" must be a list of rules like {\"names\": [\"chmod\"], \"action\": \"SCMP_ACT_ERRNO\"}, got %s", n.kind)
		}
		for _, r := range n.items {
			if rule, ok := v.rule(r); ok {
				p.Syscalls = append(p.Syscalls, rule)
			}
		}
	}
	return p
}

// action decodes an action name.
func (v *validator) action(n *node) Action {
	if n.kind != kindString {
		v.errorf(n.off, "an action must be a string like \"SCMP_ACT_ERRNO\", got %s", n.kind)
		return ""
	}
	a := Action(n.str)
	if slices.Contains(Actions, a) {
		return a
	}
	if a == "SCMP_ACT_NOTIFY" {
		v.errorf(n.off, "SCMP_ACT_NOTIFY needs a supervisor process, which tsemlab does not run; use SCMP_ACT_ERRNO or SCMP_ACT_LOG")
		return ""
	}
	names := make([]string, len(Actions))
	for i, x := range Actions {
		names[i] = string(x)
	}
	hint := ""
	if s := nearest(n.str, names); s != "" {
		hint = fmt.Sprintf("; did you mean %q?", s)
	} else if s := nearest("SCMP_ACT_"+strings.ToUpper(n.str), names); s != "" {
		hint = fmt.Sprintf("; did you mean %q?", s)
	}
	v.errorf(n.off, "unknown action %q%s (known: %s)", n.str, hint, strings.Join(names, ", "))
	return ""
}

// errno decodes an errno value, allowed only where the action returns one.
func (v *validator) errno(n *node, key string, a Action) *uint {
	u, err := strconv.ParseUint(string(n.num), 10, 16)
	if n.kind != kindNumber || err != nil {
		v.errorf(n.off, "%q must be an errno number from 0 to 65535 (1 is EPERM), got %s", key, describeNode(n))
		return nil
	}
	if a != "" && a != ActErrno && a != ActTrace {
		v.errorf(n.off, "%q only goes with SCMP_ACT_ERRNO (or SCMP_ACT_TRACE), not %s; remove it or change the action", key, a)
		return nil
	}
	e := uint(u)
	return &e
}

func (v *validator) architectures(n *node) []string {
	var out []string
	for _, s := range v.strings(n, "architectures") {
		if !slices.Contains(Architectures, s.str) {
			hint := ""
			if m := nearest(s.str, Architectures); m != "" {
				hint = fmt.Sprintf("; did you mean %q?", m)
			} else if m := nearest("SCMP_ARCH_"+strings.ToUpper(s.str), Architectures); m != "" {
				hint = fmt.Sprintf("; did you mean %q?", m)
			}
			v.errorf(s.off, "unknown architecture %q%s", s.str, hint)
			continue
		}
		out = append(out, s.str)
	}
	if len(out) > 0 && !slices.Contains(out, NativeArch) {
		v.errorf(n.off, "wrong architecture: the profile covers %s but tsemlab's guests are x86_64; add %q to \"architectures\" (or leave the list empty for the native one)", strings.Join(out, ", "), NativeArch)
	}
	return out
}

func (v *validator) archMap(n *node) {
	if n.kind != kindArray {
		v.errorf(n.off, "\"archMap\" must be a list, got %s", n.kind)
		return
	}
	for _, m := range n.items {
		if !v.fields(m, "an archMap entry", archMapFields) {
			continue
		}
		if a := m.get("architecture"); a != nil {
			if a.kind != kindString || !slices.Contains(Architectures, a.str) {
				v.errorf(a.off, "\"architecture\" must be an architecture name like %q, got %s", NativeArch, describeNode(a))
			}
		}
		if s := m.get("subArchitectures"); s != nil {
			for _, it := range v.strings(s, "subArchitectures") {
				if !slices.Contains(Architectures, it.str) {
					v.errorf(it.off, "unknown architecture %q", it.str)
				}
			}
		}
	}
}

// strings decodes a list of strings.
func (v *validator) strings(n *node, key string) []*node {
	if n.kind == kindNull {
		return nil
	}
	if n.kind != kindArray {
		v.errorf(n.off, "%q must be a list of strings, got %s", key, n.kind)
		return nil
	}
	var out []*node
	for _, it := range n.items {
		if it.kind != kindString {
			v.errorf(it.off, "each item of %q must be a string, got %s", key, describeNode(it))
			continue
		}
		out = append(out, it)
	}
	return out
}

func describeNode(n *node) string {
	switch n.kind {
	case kindString:
		return strconv.Quote(n.str)
	case kindNumber:
		return string(n.num)
	}
	return n.kind.String()
}

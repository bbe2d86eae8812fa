package scenario

import (
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/tsemlab/tsemlab/protocol"
	"github.com/tsemlab/tsemlab/seccomp"
)

// The container-hardening labs (seccomp, AppArmor, namespaces, users and
// no_new_privs) decode here; decode.go calls in at the phase and step.

var (
	seccompFields  = []string{"mode", "export", "profile", "default_action"}
	apparmorFields = []string{"profile", "name"}
	userRE         = regexp.MustCompile(`^(\d{1,10})(?::(\d{1,10}))?$`)
	// profileNameRE finds an AppArmor profile's name: `profile NAME` or
	// an attachment path that names it (`/usr/bin/foo {`).
	profileNameRE = regexp.MustCompile(`(?m)^\s*(?:profile\s+("[^"]+"|[^\s{]+)|(/[^\s{]+))\s*(?:flags=\([^)]*\)\s*)?\{`)
)

// maxLabFile bounds profile files read at load time.
const maxLabFile = 1 << 20

// phaseLabs decodes a phase's seccomp and apparmor sections.
func (d *decoder) phaseLabs(m map[string]pair, ph *Phase, session protocol.Session) {
	for _, key := range []string{"seccomp", "apparmor"} {
		p, ok := m[key]
		if !ok {
			continue
		}
		if session == protocol.SessionShell {
			d.errorf(p.key, "%q needs session: exec: each step is confined as it starts; set session: exec on the phase", key)
			continue
		}
		if key == "seccomp" {
			ph.Seccomp = d.seccomp(p.val)
		} else {
			ph.AppArmor = d.apparmor(p.val)
		}
	}
	if p, ok := m["tsem"]; ok && (ph.Seccomp != nil || ph.AppArmor != nil) {
		d.errorf(p.key, "a phase cannot combine tsem with seccomp or apparmor yet; put them in phases of their own")
	}
}

func (d *decoder) seccomp(n *yaml.Node) *Seccomp {
	m, ok := d.mapping(n, "\"seccomp\"", "{mode: learn, export: my.json}", seccompFields)
	if !ok {
		return nil
	}
	s := &Seccomp{}
	if p, ok := m["mode"]; ok {
		v, _ := d.enum("mode", p.val, string(protocol.SeccompLearn), string(protocol.SeccompEnforce))
		s.Mode = protocol.SeccompMode(v)
	} else {
		d.lacks(n, "mode", "seccomp has no \"mode\"; add mode: learn or mode: enforce")
	}
	if p, ok := m["export"]; ok {
		if v, ok := d.str("export", p.val); ok {
			switch {
			case !exportRE.MatchString(v):
				d.errorf(p.val, "\"export\" is a file name for the profile and must be letters, digits, \".\", \"_\" and \"-\", got %q", v)
			case s.Mode == protocol.SeccompEnforce:
				d.errorf(p.key, "\"export\" is only for mode: learn (it names where the learned profile goes); remove it, or set mode: learn")
			default:
				s.Export = v
			}
		}
	} else if s.Mode == protocol.SeccompLearn {
		d.errorf(n, "seccomp with mode: learn needs \"export\": the name of the learned profile, like export: ls.json")
	}
	if p, ok := m["default_action"]; ok {
		names := make([]string, len(seccomp.Actions))
		for i, a := range seccomp.Actions {
			names[i] = string(a)
		}
		if v, ok := d.enum("default_action", p.val, names...); ok {
			if s.Mode == protocol.SeccompEnforce {
				d.errorf(p.key, "\"default_action\" is only for mode: learn; an enforced profile has its own defaultAction")
			}
			s.DefaultAction = seccomp.Action(v)
		}
	} else if s.Mode == protocol.SeccompLearn {
		s.DefaultAction = seccomp.ActErrno
	}
	if p, ok := m["profile"]; ok {
		if v, ok := d.str("profile", p.val); ok {
			if s.Mode == protocol.SeccompLearn {
				d.errorf(p.key, "\"profile\" is only for mode: enforce; a learn phase records a new profile (remove profile, or set mode: enforce)")
			}
			s.Profile = v
		}
	} else if s.Mode == protocol.SeccompEnforce {
		d.errorf(n, "seccomp with mode: enforce needs \"profile\": the export of an earlier learn phase or the path of a profile file")
	}
	return s
}

func (d *decoder) apparmor(n *yaml.Node) *AppArmor {
	m, ok := d.mapping(n, "\"apparmor\"", "{profile: appone.profile}", apparmorFields)
	if !ok {
		return nil
	}
	a := &AppArmor{}
	if p, ok := m["profile"]; ok {
		a.Profile, _ = d.str("profile", p.val)
	} else {
		d.lacks(n, "profile", "apparmor has no \"profile\"; add the path of the profile file, like profile: appone.profile")
	}
	if p, ok := m["name"]; ok {
		a.Name, _ = d.str("name", p.val)
	}
	return a
}

// stepLabs decodes a step's namespace, root, user and confinement options.
func (d *decoder) stepLabs(m map[string]pair, st *Step, session protocol.Session) {
	keys := []string{"namespaces", "chroot", "pivot_root", "user", "no_new_privileges", "apparmor"}
	for _, key := range keys {
		p, ok := m[key]
		if !ok {
			continue
		}
		if session == protocol.SessionShell {
			d.errorf(p.key, "%q on a step needs session: exec: in a shell session every step runs in the same shell (set session: exec)", key)
			continue
		}
		switch key {
		case "namespaces":
			st.Namespaces = d.namespaces(p.val)
		case "chroot":
			st.Chroot = d.guestDir(key, p.val)
		case "pivot_root":
			st.PivotRoot = d.guestDir(key, p.val)
		case "user":
			st.User = d.user(p.val)
		case "no_new_privileges":
			st.NoNewPrivileges = d.boolean(key, p.val)
		case "apparmor":
			st.AppArmor = d.apparmor(p.val)
		}
	}
	if p, ok := m["pivot_root"]; ok && st.PivotRoot != "" {
		switch {
		case st.Chroot != "":
			d.errorf(p.key, "a step has either chroot or pivot_root, not both; pivot_root also changes the root")
		case !slices.Contains(st.Namespaces, "mount"):
			d.errorf(p.key, "pivot_root needs a mount namespace of the step's own (it moves the root of every process in the namespace); add namespaces: [mount]")
		}
	}
}

func (d *decoder) namespaces(n *yaml.Node) []string {
	seen := map[string]bool{}
	for _, it := range d.strItems("namespaces", n) {
		if !slices.Contains(protocol.NamespaceKinds, it.val) {
			hint := ""
			if s := nearest(it.val, protocol.NamespaceKinds); s != "" {
				hint = fmt.Sprintf("; did you mean %q?", s)
			}
			d.errorf(it.node, "unknown namespace %q%s (known: %s)", it.val, hint, strings.Join(protocol.NamespaceKinds, ", "))
			continue
		}
		if seen[it.val] {
			d.errorf(it.node, "namespace %q is listed twice; remove one", it.val)
		}
		seen[it.val] = true
	}
	var out []string
	for _, k := range protocol.NamespaceKinds {
		if seen[k] {
			out = append(out, k)
		}
	}
	return out
}

// guestDir decodes an absolute directory path inside the guest.
func (d *decoder) guestDir(key string, n *yaml.Node) string {
	v, ok := d.str(key, n)
	if !ok {
		return ""
	}
	if !strings.HasPrefix(v, "/") || filepath.Clean(v) == "/" {
		d.errorf(n, "%q must be an absolute directory of the guest other than /, like /srv/jail (make it in the phase's setup), got %q", key, v)
		return ""
	}
	return filepath.Clean(v)
}

// user decodes UID or UID:GID (the GID defaults to the UID).
func (d *decoder) user(n *yaml.Node) string {
	v, ok := d.str("user", n)
	if !ok {
		return ""
	}
	m := userRE.FindStringSubmatch(v)
	if m == nil {
		d.errorf(n, "\"user\" must be a numeric user id, or UID:GID, like 1000 or 1000:1000, got %q (names differ between host and guest)", v)
		return ""
	}
	uid, err1 := strconv.ParseUint(m[1], 10, 32)
	gid, err2 := uid, error(nil)
	if m[2] != "" {
		gid, err2 = strconv.ParseUint(m[2], 10, 32)
	}
	if err := errors.Join(err1, err2); err != nil || uid == 1<<32-1 || gid == 1<<32-1 {
		d.errorf(n, "\"user\" ids must be below 4294967295, got %q", v)
		return ""
	}
	return fmt.Sprintf("%d:%d", uid, gid)
}

package scenario

import (
	"fmt"
	"strings"

	"kernel.org/pub/linux/libs/security/libcap/cap"
)

// capAll stands for every capability.
const capAll = "ALL"

// capNames lists the capabilities libcap knows, upper case with the CAP_
// prefix, in kernel order.
func capNames() []string {
	names := make([]string, 0, cap.NamedCount)
	for v := cap.Value(0); v < cap.NamedCount; v++ {
		names = append(names, strings.ToUpper(v.String()))
	}
	return names
}

// normalizeCap returns the canonical spelling of a capability name as
// written in a scenario ("chown", "CAP_CHOWN", "Cap_Chown" all give
// "CAP_CHOWN"; "all" gives "ALL"), or an error message that says how to fix
// it.
func normalizeCap(s string) (string, error) {
	lower := strings.ToLower(strings.TrimSpace(s))
	if lower == "all" || lower == "cap_all" {
		return capAll, nil
	}
	name := lower
	if !strings.HasPrefix(name, "cap_") {
		name = "cap_" + name
	}
	bare := strings.TrimPrefix(name, "cap_")
	// libcap also accepts numbers; a scenario must use names, which read
	// the same on every kernel.
	if bare != "" && strings.Trim(bare, "0123456789") == "" {
		return "", fmt.Errorf("capability %q is a number; use its name as in capabilities(7), e.g. CAP_CHOWN", excerpt(s, 60))
	}
	if bare != "" {
		if v, err := cap.FromName(name); err == nil {
			return strings.ToUpper(v.String()), nil
		}
	}
	hint := ""
	bares := make([]string, 0, cap.NamedCount)
	for _, n := range capNames() {
		bares = append(bares, strings.TrimPrefix(n, "CAP_"))
	}
	if n := nearest(bare, bares); n != "" {
		hint = fmt.Sprintf("; did you mean %q?", "CAP_"+n)
	}
	return "", fmt.Errorf("unknown capability %q%s (names are as in capabilities(7), with or without CAP_, e.g. CAP_NET_ADMIN or net_admin, or ALL)", excerpt(s, 60), hint)
}

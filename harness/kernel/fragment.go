package kernel

import (
	"bufio"
	"fmt"
	"io"
	"regexp"
	"strings"
)

// Fragment is a kernel config fragment (kernel/config/*.config): option
// names to values as written, "n" for "# CONFIG_X is not set".
type Fragment struct {
	Name    string
	Options map[string]string
	// Order keeps the options in file order.
	Order []string
}

var (
	optionLine = regexp.MustCompile(`^(CONFIG_[A-Za-z0-9_]+)=(.*)$`)
	unsetLine  = regexp.MustCompile(`^# (CONFIG_[A-Za-z0-9_]+) is not set$`)
)

// ParseFragment reads a fragment; name is used in errors ("virt.config:12: ...").
func ParseFragment(name string, r io.Reader) (*Fragment, error) {
	f := &Fragment{Name: name, Options: map[string]string{}}
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		var opt, val string
		if m := optionLine.FindStringSubmatch(line); m != nil {
			opt, val = m[1], m[2]
		} else if m := unsetLine.FindStringSubmatch(line); m != nil {
			opt, val = m[1], "n"
		} else if line == "" || strings.HasPrefix(line, "#") {
			continue
		} else {
			return nil, fmt.Errorf("%s:%d: %q is not CONFIG_NAME=value or a comment", name, n, line)
		}
		if prev, dup := f.Options[opt]; dup && prev != val {
			return nil, fmt.Errorf("%s:%d: %s set twice (%s, then %s)", name, n, opt, prev, val)
		} else if !dup {
			f.Order = append(f.Order, opt)
		}
		f.Options[opt] = val
	}
	return f, sc.Err()
}

// Mismatch is one option of a fragment that a final .config does not have
// with the requested value.
type Mismatch struct {
	Option string // "CONFIG_SECURITY_TSEM"
	Want   string // as the fragment writes it; "n" for "is not set"
	Got    string // as the .config has it; "n" when absent or not set
}

func (m Mismatch) String() string { return fmt.Sprintf("%s=%s (got %s)", m.Option, m.Want, m.Got) }

// Mismatches returns the fragment's options that a final .config (as
// parsed by ParseFragment) does not have with the requested value, in the
// fragment's order: olddefconfig drops options whose dependencies are
// unmet, silently.
func (f *Fragment) Mismatches(config *Fragment) []Mismatch {
	var out []Mismatch
	for _, opt := range f.Order {
		want := f.Options[opt]
		got, ok := config.Options[opt]
		if !ok {
			got = "n"
		}
		if got != want {
			out = append(out, Mismatch{Option: opt, Want: want, Got: got})
		}
	}
	return out
}

// Missing is Mismatches as text ("CONFIG_D=y (got n)").
func (f *Fragment) Missing(config *Fragment) []string {
	var out []string
	for _, m := range f.Mismatches(config) {
		out = append(out, m.String())
	}
	return out
}

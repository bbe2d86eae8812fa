// Package seccomp reads, checks and writes seccomp profiles in the JSON
// format Docker (`--security-opt seccomp=FILE`) and the OCI runtime spec
// use, and turns them into the BPF filter the kernel runs. Host and guest
// share it: the host validates profile files when a scenario is loaded,
// with the line and column of each mistake; the guest writes the profiles
// it learns and assembles filters from them.
//
// The subset tsemlab enforces is the one learned and hand-written profiles
// use: defaultAction (and defaultErrnoRet), architectures, and syscalls
// rules of names, action and errnoRet. Argument conditions, includes and
// excludes (Docker's capability- and kernel-dependent rules) and
// SCMP_ACT_NOTIFY are refused with a message, never silently ignored.
// System call names come from the tables of github.com/elastic/go-seccomp-bpf,
// which also assembles the filter: pure Go, so the guest binary stays
// static.
package seccomp

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

// Profile is a seccomp profile: what to do with each system call.
type Profile struct {
	DefaultAction Action `json:"defaultAction"`
	// DefaultErrnoRet is the errno of a SCMP_ACT_ERRNO default (EPERM when
	// nil).
	DefaultErrnoRet *uint `json:"defaultErrnoRet,omitempty"`
	// Architectures the profile covers; empty means the native one.
	Architectures []string `json:"architectures,omitempty"`
	Syscalls      []Rule   `json:"syscalls"`
}

// Rule applies one action to the system calls it names.
type Rule struct {
	Names  []string `json:"names"`
	Action Action   `json:"action"`
	// ErrnoRet is the errno of SCMP_ACT_ERRNO (EPERM when nil).
	ErrnoRet *uint  `json:"errnoRet,omitempty"`
	Comment  string `json:"comment,omitempty"`
}

// Error is one mistake in a profile, at a byte offset and so a line and
// column (1-based; 0 when unknown).
type Error struct {
	Offset    int
	Line, Col int
	Msg       string
}

func (e *Error) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%d:%d: %s", e.Line, e.Col, e.Msg)
	}
	return e.Msg
}

// Errors are all the mistakes found in one profile, in position order.
type Errors []*Error

func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap returns the errors, for errors.As.
func (es Errors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}

// Parse reads and validates a profile. Its error is Errors, every mistake
// with its line and column.
func Parse(data []byte) (*Profile, error) {
	root, err := parseTree(data)
	if err != nil {
		e := err.(*Error)
		return nil, positioned(data, Errors{e})
	}
	v := &validator{}
	p := v.profile(root)
	if len(v.errs) > 0 {
		return nil, positioned(data, v.errs)
	}
	return p, nil
}

// positioned fills in the line and column of each error and sorts them.
func positioned(data []byte, es Errors) Errors {
	for _, e := range es {
		off := min(max(e.Offset, 0), len(data))
		e.Line = bytes.Count(data[:off], []byte("\n")) + 1
		e.Col = off - (bytes.LastIndexByte(data[:off], '\n') + 1) + 1
	}
	sort.SliceStable(es, func(i, j int) bool { return es[i].Offset < es[j].Offset })
	return es
}

// Marshal encodes p the way tsemlab writes profiles: indented, fields in
// the schema's order, a final newline. The same profile always gives the
// same bytes.
func (p *Profile) Marshal() []byte {
	out := *p
	if out.Syscalls == nil {
		out.Syscalls = []Rule{}
	}
	b, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		// Only strings, numbers and lists: encoding cannot fail.
		panic(err)
	}
	return append(b, '\n')
}

// Learned returns the profile that allows exactly the system calls named
// in counts (names sorted) on the native architecture and answers every
// other call with def.
func Learned(counts map[string]int, def Action) *Profile {
	names := make([]string, 0, len(counts))
	for n := range counts {
		if Native(n) {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	p := &Profile{DefaultAction: def, Architectures: []string{NativeArch}}
	if len(names) > 0 {
		p.Syscalls = []Rule{{Names: names, Action: ActAllow}}
	}
	return p
}

// ActionFor returns the action p takes for a native system call: that of
// the first rule naming it, else the default.
func (p *Profile) ActionFor(name string) Action {
	for _, r := range p.Syscalls {
		for _, n := range r.Names {
			if n == name {
				return r.Action
			}
		}
	}
	return p.DefaultAction
}

package report

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/tsemlab/tsemlab/harness/judge"
	"github.com/tsemlab/tsemlab/harness/result"
	"github.com/tsemlab/tsemlab/protocol"
	"github.com/tsemlab/tsemlab/seccomp"
)

// Labs writes what the container-hardening labs of a past run left: each
// learned seccomp profile with the count of every system call it allows
// (read from the scenario's directory), and each AppArmor denial and
// seccomp refusal the kernel logged for a step, in words. It writes
// nothing for a run without them.
func Labs(w io.Writer, r *result.Run) error {
	var b strings.Builder
	for _, sc := range r.Scenarios {
		var parts []string
		for _, p := range sc.Phases {
			text, err := learnedText(sc.Dir, p.Name)
			if err != nil {
				return err
			}
			if text != "" {
				parts = append(parts, text)
			}
			if text := refusalsText(p); text != "" {
				parts = append(parts, text)
			}
		}
		if len(parts) > 0 {
			fmt.Fprintf(&b, "\n%s\n%s", sc.Name, strings.Join(parts, ""))
		}
	}
	if _, err := io.WriteString(w, b.String()); err != nil {
		return fmt.Errorf("write labs: %w", err)
	}
	return nil
}

// learnedText shows a learn phase's profile and counts, or "" when the
// phase learned none.
func learnedText(dir, phase string) (string, error) {
	data, err := os.ReadFile(filepath.Join(dir, protocol.SeccompCountsName(phase)))
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	var c protocol.SeccompCounts
	if err := json.Unmarshal(data, &c); err != nil {
		return "", fmt.Errorf("%s: %w", protocol.SeccompCountsName(phase), err)
	}
	var b strings.Builder
	profile := "(profile missing)"
	if pdata, err := os.ReadFile(filepath.Join(dir, c.Profile)); err == nil {
		if p, err := seccomp.Parse(pdata); err == nil {
			allowed := 0
			for _, r := range p.Syscalls {
				allowed += len(r.Names)
			}
			profile = fmt.Sprintf("%d calls allowed, defaultAction %s", allowed, p.DefaultAction)
		} else {
			profile = fmt.Sprintf("(does not parse: %v)", err)
		}
	}
	fmt.Fprintf(&b, "  %s: learned seccomp profile %s (%s)\n", phase, filepath.Join(dir, c.Profile), profile)
	for _, st := range c.Steps {
		if st.Error != "" {
			fmt.Fprintf(&b, "    step %d was not recorded: %s\n", st.Index, st.Error)
		}
	}
	b.WriteString(countsTable(c.Total, "    "))
	return b.String(), nil
}

// countsTable lists system calls by count, the most frequent first.
func countsTable(counts map[string]int, indent string) string {
	names := make([]string, 0, len(counts))
	total := 0
	for n, c := range counts {
		names = append(names, n)
		total += c
	}
	sort.Slice(names, func(i, j int) bool {
		if counts[names[i]] != counts[names[j]] {
			return counts[names[i]] > counts[names[j]]
		}
		return names[i] < names[j]
	})
	var b strings.Builder
	fmt.Fprintf(&b, "%s%6s  %s\n", indent, "calls", "system call")
	for _, n := range names {
		fmt.Fprintf(&b, "%s%6d  %s\n", indent, counts[n], n)
	}
	fmt.Fprintf(&b, "%s%6d  (%d distinct)\n", indent, total, len(names))
	return b.String()
}

// refusalsText lists the AppArmor denials and seccomp records the kernel
// logged for a phase's steps.
func refusalsText(p *result.Phase) string {
	var b strings.Builder
	for _, st := range p.Steps {
		for _, l := range st.KernelLog {
			words := judge.KernelLine(l)
			if words == l {
				continue
			}
			fmt.Fprintf(&b, "  %s/%d (%s): %s\n", p.Name, st.Index, excerptRun(st.Run), words)
		}
	}
	return b.String()
}

func excerptRun(run string) string {
	run = strings.Join(strings.Fields(run), " ")
	if len(run) > 50 {
		return run[:47] + "..."
	}
	return run
}

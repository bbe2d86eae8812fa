package explain

import (
	"fmt"
	"io"
	"strings"

	"github.com/tsemlab/tsemlab/event"
)

// Legend says once, before the reports, how events are compared and
// which fields are ignored.
const Legend = `Each forensic event is compared with the nearest event of the model its phase
ran under (the learned trajectory, and the phase's own events from before
sealing): the same hook, then the same pathname or process, then the fewest
differing fields. Fields that do not enter TSEM's security state coefficient
(model0) are ignored and listed as such: the event header's context, number,
process, ttd, p_ttd, ts, pid and tnum; s_uuid of tmpfs inodes (it changes
every boot); the arguments of hooks model0 maps generically (task_alloc ...);
task_prctl's arg3; the path type of a dentry (inode_* hooks).
`

// Write writes the legend and each report.
func Write(w io.Writer, reports []*Report) error {
	var b strings.Builder
	b.WriteString(Legend)
	for _, r := range reports {
		b.WriteByte('\n')
		r.text(&b)
	}
	if _, err := io.WriteString(w, b.String()); err != nil {
		return fmt.Errorf("write explanation: %w", err)
	}
	return nil
}

func (r *Report) text(b *strings.Builder) {
	for _, n := range r.Notes {
		fmt.Fprintf(b, "%s: %s\n", r.Scenario, n)
	}
	if len(r.Phases) == 0 {
		fmt.Fprintf(b, "%s: no forensic events\n", r.Scenario)
		return
	}
	for _, ph := range r.Phases {
		fmt.Fprintf(b, "%s, phase %s: %s (%s.forensics)\n", r.Scenario, ph.Name, plural(len(ph.Events), "forensic event"), ph.Name)
		if ph.Source.Phase != "" {
			fmt.Fprintf(b, "  learned model: phase %s (%s): %s in %s.trajectory", ph.Source.Phase, ph.Source.Why, plural(len(ph.Learned), "event"), ph.Source.Phase)
		} else {
			fmt.Fprintf(b, "  learned model: none at hand (%s)", ph.Source.Why)
		}
		if len(ph.Own) > 0 {
			fmt.Fprintf(b, "; %d before sealing in %s.trajectory", len(ph.Own), ph.Name)
		}
		b.WriteString("\n")
		for i, x := range ph.Events {
			b.WriteString("\n")
			x.text(b, i+1, ph)
		}
		b.WriteString("\n")
	}
}

func (x Explained) text(b *strings.Builder, n int, ph Phase) {
	f := x.Forensic.Event
	fmt.Fprintf(b, "  forensic event %d (%s)\n", n, x.Forensic.Ref())
	fmt.Fprintf(b, "      %s\n", f.Summary())
	if !x.Found {
		fmt.Fprintf(b, "    no learned event has hook %s%s\n", f.Type(), hooksOf(ph))
		return
	}
	m := x.Match
	var same []string
	same = append(same, "same hook")
	path, hasPath := f.Field("pathname")
	if m.SamePathname {
		same = append(same, "same pathname")
	}
	if m.SameProcess {
		same = append(same, "same process")
	}
	ties := ""
	if m.Ties > 0 {
		ties = fmt.Sprintf("; %d more as near", m.Ties)
	}
	if hasPath && !m.SamePathname {
		fmt.Fprintf(b, "    no learned event has pathname %s with hook %s\n", path, f.Type())
	}
	fmt.Fprintf(b, "    nearest learned event (%s): %s%s\n", x.Nearest.Ref(), strings.Join(same, ", "), ties)
	fmt.Fprintf(b, "      %s\n", m.Event.Summary())

	counted := event.Counted(m.Diffs)
	var names []string
	for _, d := range counted {
		names = append(names, d.Path)
	}
	switch {
	case len(counted) == 0:
		b.WriteString("    no field that enters the coefficient differs, as far as the records show\n")
	case onlyInLearned(counted):
		fmt.Fprintf(b, "    the only difference: %s, present while learning, absent in the forensic event\n", strings.Join(names, " and "))
	case len(counted) == 1:
		fmt.Fprintf(b, "    the only difference: %s\n", names[0])
	default:
		fmt.Fprintf(b, "    %d fields differ: %s\n", len(counted), strings.Join(names, ", "))
	}
	for _, d := range counted {
		fmt.Fprintf(b, "      %s\n      - learned:  %s\n      + forensic: %s\n", d.Path, value(d.A, d.InA), value(d.B, d.InB))
	}
	if hint := ownerHint(counted); hint != "" {
		fmt.Fprintf(b, "    %s\n", hint)
	}
	if hint := identityHint(counted, m.Event, f); hint != "" {
		fmt.Fprintf(b, "    %s\n", hint)
	}
	var ignored []string
	for _, d := range m.Diffs {
		if d.Ignored != "" {
			ignored = append(ignored, d.Path)
		}
	}
	if len(ignored) > 0 {
		fmt.Fprintf(b, "    ignored, not in the coefficient: %s\n", strings.Join(ignored, ", "))
	}
}

// onlyInLearned reports whether every difference is a field the model's
// event has and the forensic one lacks.
func onlyInLearned(diffs []event.FieldDiff) bool {
	for _, d := range diffs {
		if !d.InA || d.InB {
			return false
		}
	}
	return len(diffs) > 0
}

// ownerHint explains an owner tag that only one of the two events has.
func ownerHint(diffs []event.FieldDiff) string {
	for _, d := range diffs {
		if !strings.HasSuffix(d.Path, ".owner") {
			continue
		}
		switch {
		case d.InA && !d.InB:
			return "owner and instance tag a file created by a task of the modeled namespace: the learning\n" +
				"    namespace created this file, the forensic event's namespace did not, so its open is a new event"
		case d.InB && !d.InA:
			return "owner and instance tag a file created by a task of the modeled namespace: the forensic\n" +
				"    event's namespace created this file, the learning namespace did not"
		}
	}
	return ""
}

// Quirk is a TSEM identity behaviour seen to change a task's identity
// between runs of the same workload (README: TSEM kernels).
type Quirk string

const (
	// QuirkThread: the events differ only in p_task_id, and one of them
	// has p_task_id equal to its task_id: one came from a thread.
	QuirkThread Quirk = "thread"
	// QuirkZero: the forensic event's task has an all-zero identity.
	QuirkZero Quirk = "zero"
)

// identityQuirk says which quirk, if any, the forensic event shows against
// its nearest learned one; which is the event ("learned" or "forensic")
// whose p_task_id is its own task_id.
func identityQuirk(diffs []event.FieldDiff, learned, forensic *event.Event) (q Quirk, which string) {
	if zero(forensic.Header["task_id"]) && zero(forensic.Header["p_task_id"]) {
		return QuirkZero, ""
	}
	if len(diffs) != 1 || diffs[0].Path != "event.p_task_id" {
		return "", ""
	}
	switch learned.Header["task_id"] {
	case learned.Header["p_task_id"]:
		return QuirkThread, "learned"
	case forensic.Header["p_task_id"]:
		return QuirkThread, "forensic"
	}
	return "", ""
}

// Quirks counts the forensic events of the report that show each quirk.
func Quirks(r *Report) map[Quirk]int {
	out := map[Quirk]int{}
	for _, ph := range r.Phases {
		for _, x := range ph.Events {
			if !x.Found {
				continue
			}
			if q, _ := identityQuirk(event.Counted(x.Match.Diffs), x.Match.Event, x.Forensic.Event); q != "" {
				out[q]++
			}
		}
	}
	return out
}

// identityHint explains the quirk the forensic event shows, if any.
func identityHint(diffs []event.FieldDiff, learned, forensic *event.Event) string {
	switch q, which := identityQuirk(diffs, learned, forensic); q {
	case QuirkZero:
		return "the forensic event's task has no TSEM identity (task_id and p_task_id all zero): TSEM\n" +
			"    skips task_alloc when the forking task is untrusted, so a child forked after its parent\n" +
			"    left the model in a namespace that records without enforcing starts trusted with a zero\n" +
			"    identity, and every event of it is new to any model"
	case QuirkThread:
		return "same task_id, and the " + which + " event's p_task_id is its own task_id: that event came from\n" +
			"    a thread the process started (or a child it forked that did not exec), the other from\n" +
			"    its main thread. TSEM gives a new thread its creator's task_id as parent id (task_alloc\n" +
			"    treats CLONE_THREAD like fork), so the events of a multi-threaded program (a Go program\n" +
			"    such as runc; the guest's u-root commands are kept on their main thread) carry one of\n" +
			"    two identities depending on the thread its runtime made the call on: a kernel\n" +
			"    nondeterminism, not a change in the workload"
	}
	return ""
}

// zero says whether a hex digest is all zeros.
func zero(hex string) bool {
	return hex != "" && strings.Trim(hex, "0") == ""
}

// hooksOf lists the hooks the phase's model has events of.
func hooksOf(ph Phase) string {
	seen := map[string]bool{}
	var hooks []string
	for _, recs := range [][]Record{ph.Learned, ph.Own} {
		for _, r := range recs {
			if h := r.Event.Type(); !seen[h] {
				seen[h] = true
				hooks = append(hooks, h)
			}
		}
	}
	if len(hooks) == 0 {
		return " (no learned events are at hand)"
	}
	return " (learned hooks: " + strings.Join(hooks, ", ") + ")"
}

func value(v string, in bool) string {
	switch {
	case !in:
		return "(absent)"
	case v == "":
		return `""`
	}
	return v
}

func plural(n int, what string) string {
	if n == 1 {
		return fmt.Sprintf("1 %s", what)
	}
	return fmt.Sprintf("%d %ss", n, what)
}

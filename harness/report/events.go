package report

import (
	"fmt"
	"io"
	"strings"

	"github.com/tsemlab/tsemlab/event"
)

// Events writes TSEM event records one readable line each (process, hook,
// the key fields), numbered, under a heading; hook, when set, keeps only
// events of that type.
func Events(w io.Writer, heading string, events []*event.Event, hook string) error {
	var b strings.Builder
	n := 0
	for _, e := range events {
		if hook != "" && e.Type() != hook {
			continue
		}
		n++
		fmt.Fprintf(&b, "  %3d  %s\n", n, e.Summary())
	}
	filter := ""
	if hook != "" {
		filter = fmt.Sprintf(" of type %s", hook)
	}
	if _, err := fmt.Fprintf(w, "%s: %d event(s)%s\n%s", heading, n, filter, b.String()); err != nil {
		return fmt.Errorf("write events: %w", err)
	}
	return nil
}

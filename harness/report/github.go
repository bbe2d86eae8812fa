package report

import (
	"fmt"
	"io"
	"strings"

	"github.com/tsemlab/tsemlab/harness/result"
)

// GitHubSummary writes Markdown for $GITHUB_STEP_SUMMARY: the totals, a
// table of scenarios with status, time and reason, and for every scenario
// that did not pass or skip, a <details> block holding its part of the
// human summary (steps, want/got, output and console excerpts).
func GitHubSummary(w io.Writer, r *result.Run) error {
	var b strings.Builder
	t := count(r)
	fmt.Fprintf(&b, "### tsemlab: %s (%s)\n\n", mdCell(t.String()), seconds(r.Duration))
	if len(r.Scenarios) > 0 {
		b.WriteString("| Scenario | Status | Time | Reason |\n")
		b.WriteString("| --- | --- | --- | --- |\n")
		for _, sc := range r.Scenarios {
			fmt.Fprintf(&b, "| %s | %s | %s | %s |\n",
				mdCell(sc.Name), statusWord(sc.Status), seconds(sc.Duration), mdCell(headerReason(sc)))
		}
	}
	for _, sc := range r.Scenarios {
		if sc.Status == result.Pass || sc.Status == result.Skip {
			continue
		}
		var block strings.Builder
		writeHumanScenario(&block, sc, HumanOptions{})
		text := block.String()
		fence := strings.Repeat("`", max(3, longestRun(text, '`')+1))
		fmt.Fprintf(&b, "\n<details>\n<summary>%s %s</summary>\n\n%stext\n%s%s\n\n</details>\n",
			mdCell(sc.Name), statusWord(sc.Status), fence, text, fence)
	}
	if _, err := io.WriteString(w, b.String()); err != nil {
		return fmt.Errorf("write GitHub step summary: %w", err)
	}
	return nil
}

// GitHubAnnotations writes GitHub Actions workflow commands: an
// "::error file=...,title=...::message" line for every scenario that failed,
// timed out, crashed or hit a harness error, and "::notice" for skips. A
// failure's message lists each failed step; others give the reason. Values
// are escaped as the workflow-command rules require.
func GitHubAnnotations(w io.Writer, r *result.Run) error {
	var b strings.Builder
	for _, sc := range r.Scenarios {
		var kind, msg string
		switch sc.Status {
		case result.Pass:
			continue
		case result.Skip:
			kind, msg = "notice", "skipped: "+headerReason(sc)
		case result.Fail:
			kind = "error"
			var fails []string
			for _, it := range items(sc) {
				if it.status == result.Fail {
					f := it.id()
					if cmd := it.command(); cmd != "" {
						f += " `" + cmd + "`"
					}
					fails = append(fails, f+": "+failMessage(it))
				}
			}
			msg = "failed"
			if sc.Reason != "" {
				msg += ": " + oneLine(sc.Reason)
			}
			if len(fails) > 0 {
				msg += "\n" + strings.Join(fails, "\n")
			}
		default:
			kind, msg = "error", statusWord(sc.Status)+": "+headerReason(sc)
		}
		fmt.Fprintf(&b, "::%s file=%s,title=%s::%s\n",
			kind, escapeProperty(clean(sc.File)), escapeProperty(oneLine(sc.Name)), escapeData(clean(msg)))
	}
	if _, err := io.WriteString(w, b.String()); err != nil {
		return fmt.Errorf("write GitHub annotations: %w", err)
	}
	return nil
}

// escapeData escapes a workflow command's message: %, CR and LF.
func escapeData(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A").Replace(s)
}

// escapeProperty escapes a workflow command's property value: as
// escapeData, plus : and , which separate properties.
func escapeProperty(s string) string {
	return strings.NewReplacer("%", "%25", "\r", "%0D", "\n", "%0A", ":", "%3A", ",", "%2C").Replace(s)
}

// statusWord is a status in a sentence: "passed", "timed out", "crashed".
func statusWord(s result.Status) string {
	switch s {
	case result.Pass:
		return "passed"
	case result.Fail:
		return "failed"
	case result.Skip:
		return "skipped"
	case result.Timeout:
		return "timed out"
	case result.Crash:
		return "crashed"
	case result.Error:
		return "error"
	case result.NotRun:
		return "not run"
	case "":
		return "unknown"
	}
	return oneLine(string(s))
}

// mdCell makes s safe inside a Markdown table cell: one line, no |, and
// no HTML the renderer would swallow.
func mdCell(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", "|", `\|`).Replace(oneLine(s))
}

// longestRun is the length of the longest run of c in s.
func longestRun(s string, c byte) int {
	best, n := 0, 0
	for i := 0; i < len(s); i++ {
		if s[i] == c {
			n++
			best = max(best, n)
		} else {
			n = 0
		}
	}
	return best
}

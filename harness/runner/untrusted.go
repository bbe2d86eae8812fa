package runner

import (
	"bufio"
	"fmt"
	"io"
	"regexp"

	"github.com/tsemlab/tsemlab/harness/explain"
)

// untrustedLine is TSEM's kernel log line for an event of an untrusted task:
// "Untrusted event task_alloc: model_ns=2, comm=bash, pid=50".
var untrustedLine = regexp.MustCompile(`Untrusted event ([a-z_0-9]+): model_ns=(\d+), comm=([^,]*), pid=\d+`)

// UntrustedEvents counts the console's "Untrusted event" lines per
// namespace id, then per "comm hook".
func UntrustedEvents(console io.Reader) map[string]map[string]int {
	out := map[string]map[string]int{}
	sc := bufio.NewScanner(console)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		m := untrustedLine.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		ns := out[m[2]]
		if ns == nil {
			ns = map[string]int{}
			out[m[2]] = ns
		}
		ns[m[3]+" "+m[1]]++
	}
	return out
}

// identityNote is what a failed scenario's reason adds when some of its
// forensic events differ from a learned event only by a thread's parent
// id (explain.QuirkThread): a TSEM nondeterminism, so the failure may not
// repeat. "" when there are none (or the records cannot be read).
func identityNote(dir string) string {
	rep, err := explain.Scenario(dir, explain.Options{})
	if err != nil {
		return ""
	}
	n := explain.Quirks(rep)[explain.QuirkThread]
	if n == 0 {
		return ""
	}
	what := "1 forensic event differs"
	if n > 1 {
		what = fmt.Sprintf("%d forensic events differ", n)
	}
	return what + " from a learned one only by a thread's parent id, a TSEM nondeterminism of multi-threaded programs that can change from run to run (tsemlab explain " + dir + ")"
}

package runner

import (
	"bufio"
	"io"
	"regexp"
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

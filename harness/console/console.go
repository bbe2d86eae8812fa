// Package console watches a guest's console (its first serial port): it
// writes everything to a log, within a bound, keeps the last lines for error
// reports, and captures the first kernel crash report.
package console

import (
	"bytes"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
)

// crashMarkers start a kernel crash report on the console. A panic, an oops,
// a BUG or a WARN all mean the scenario's result cannot be trusted. They are
// in order of how much they tell, for PanicLine.
var crashMarkers = []string{
	"Kernel panic - not syncing",
	"BUG: ",
	"kernel BUG at",
	"Oops: ",
	"general protection fault",
	"Unable to handle kernel",
	"refcount_t: ",
	"KASAN: ",
	"UBSAN: ",
	"WARNING: CPU: ",
	"INFO: task ",
}

// PanicLine returns the line of a console text that best names a crash
// ("Kernel panic - not syncing: Fatal exception in interrupt"), from its
// marker on, or "" when it shows none.
func PanicLine(text string) string {
	lines := strings.Split(text, "\n")
	for _, m := range crashMarkers {
		for _, l := range lines {
			if i := strings.Index(l, m); i >= 0 {
				return strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(l[i:]), "]---"))
			}
		}
	}
	return ""
}

// LastLine returns the last non-empty line of s, or "(nothing)".
func LastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	if s == "" {
		return "(nothing)"
	}
	return strings.TrimSpace(s)
}

// Console receives the guest console: it writes everything to a log, keeps
// the last lines for error reports, and captures the first crash report.
type Console struct {
	mu      sync.Mutex
	log     io.Writer
	logged  int64
	partial []byte
	lines   []string
	keep    int
	crash   []string
	// capturing counts how many more lines belong to the crash excerpt.
	capturing int
}

// NewConsole writes to log (may be nil) and keeps the last keep lines.
func NewConsole(log io.Writer, keep int) *Console {
	return &Console{log: log, keep: keep}
}

// MaxLog bounds the console log a Console writes; past it the guest's
// output is still scanned for crashes and kept in the tail.
const MaxLog = 64 << 20

// crashContext is how many lines before the first marker the excerpt
// includes, and crashLength how many after.
const (
	crashContext = 5
	crashLength  = 80
)

// Write implements io.Writer.
func (c *Console) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.log != nil && c.logged < MaxLog {
		chunk := p[:min(int64(len(p)), MaxLog-c.logged)]
		if _, err := c.log.Write(chunk); err != nil {
			return 0, err
		}
		c.logged += int64(len(chunk))
		if c.logged == MaxLog {
			fmt.Fprintf(c.log, "\n[tsemlab: console log cut at %d MiB; later output is only scanned for crashes]\n", MaxLog>>20)
		}
	}
	c.partial = append(c.partial, p...)
	for {
		i := bytes.IndexByte(c.partial, '\n')
		if i < 0 {
			break
		}
		c.line(strings.TrimRight(string(c.partial[:i]), "\r"))
		c.partial = c.partial[i+1:]
	}
	return len(p), nil
}

func (c *Console) line(l string) {
	if c.capturing > 0 {
		c.crash = append(c.crash, l)
		c.capturing--
	} else if c.crash == nil && isCrash(l) {
		start := max(0, len(c.lines)-crashContext)
		c.crash = append(append([]string{}, c.lines[start:]...), l)
		c.capturing = crashLength
	} else if c.crash != nil && isPanic(l) && !slices.ContainsFunc(c.crash, isPanic) {
		// The panic that ends the VM can come long after the first report
		// (a WARN, then Oopses): keep the verdict in the excerpt.
		c.crash = append(c.crash, "[...]", l)
	}
	c.lines = append(c.lines, l)
	if len(c.lines) > c.keep {
		c.lines = c.lines[len(c.lines)-c.keep:]
	}
}

const panicMarker = "Kernel panic - not syncing"

func isPanic(l string) bool { return strings.Contains(l, panicMarker) }

func isCrash(l string) bool {
	for _, m := range crashMarkers {
		if strings.Contains(l, m) {
			return true
		}
	}
	return false
}

// Crash returns the crash excerpt, or "" when the console showed none.
func (c *Console) Crash() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.crash == nil {
		return ""
	}
	return strings.Join(c.crash, "\n")
}

// CrashLine returns the first line of the crash report itself.
func (c *Console) CrashLine() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, l := range c.crash {
		if isCrash(l) {
			return strings.TrimSpace(l)
		}
	}
	return ""
}

// Tail returns the last n console lines.
func (c *Console) Tail(n int) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	lines := c.lines
	if len(c.partial) > 0 {
		lines = append(append([]string{}, lines...), string(c.partial))
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

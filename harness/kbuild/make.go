package kbuild

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"

	"github.com/tsemlab/tsemlab/internal/procgroup"
)

// maker runs make (and the config scripts) for one tree and build
// directory, each command in a process group of its own so an interrupt
// stops every compiler it started.
type maker struct {
	tree, build string
	jobs        int
	// cc is the CC= make variable ("ccache gcc"), or "".
	cc  string
	env []string
	log io.Writer
	p   *progress
}

// stopGrace is how long make may take to delete half-written targets
// after SIGTERM before its process group is killed.
const stopGrace = 10 * time.Second

// make runs make with the tree's targets in the build directory.
func (m *maker) make(ctx context.Context, phase string, targets ...string) error {
	args := []string{"-C", m.tree, "O=" + m.build, "ARCH=x86_64", fmt.Sprintf("-j%d", max(m.jobs, 1))}
	if m.cc != "" {
		args = append(args, "CC="+m.cc)
	}
	return m.run(ctx, phase, "make", append(args, targets...)...)
}

// run runs one command with its output in the log (and parsed for
// progress). On cancellation make's whole process group gets SIGTERM, as
// Ctrl-C on a terminal would (make then deletes the targets it was
// writing), and what is left after stopGrace is killed.
func (m *maker) run(ctx context.Context, phase, name string, args ...string) error {
	m.p.phase(phase)
	fmt.Fprintf(m.log, "\n[%s] $ %s %s\n", time.Since(m.p.start).Round(time.Second), name, strings.Join(args, " "))
	cmd := exec.CommandContext(ctx, name, args...)
	// In the build directory, never the tree, which may be someone else's
	// to only read: merge_config.sh makes its temporary files in ".".
	cmd.Dir = m.build
	cmd.Env = append(os.Environ(), m.env...)
	out := io.MultiWriter(m.log, &lineWriter{fn: m.p.line})
	cmd.Stdout, cmd.Stderr = out, out
	err := procgroup.Run(ctx, cmd, stopGrace)
	if ctx.Err() != nil {
		return err
	}
	if err != nil {
		return fmt.Errorf("%s %s: %w", name, args[len(args)-1], err)
	}
	return nil
}

// lineWriter calls fn with each complete line written to it.
type lineWriter struct {
	buf []byte
	fn  func(string)
}

func (w *lineWriter) Write(b []byte) (int, error) {
	w.buf = append(w.buf, b...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		w.fn(string(w.buf[:i]))
		w.buf = w.buf[i+1:]
	}
	return len(b), nil
}

// progress shows a build's phase, objects compiled and elapsed time on
// one terminal line, rewritten in place; with no writer it only counts.
type progress struct {
	mu      sync.Mutex
	w       io.Writer
	start   time.Time
	name    string
	objects int
	last    string
	drawn   time.Time
	onPhase func(string)
}

func (p *progress) phase(name string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if name == p.name {
		return
	}
	p.name, p.last = name, ""
	if p.onPhase != nil {
		p.onPhase(name)
	}
	p.draw(true)
}

// objectSteps are kbuild's short-output commands that produce an object.
var objectSteps = map[string]bool{"CC": true, "AS": true, "HOSTCC": true, "AR": true}

// line takes one line of make's output ("  CC      kernel/fork.o").
func (p *progress) line(l string) {
	f := strings.Fields(l)
	if len(f) != 2 || !strings.HasPrefix(l, "  ") {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case objectSteps[f[0]] && p.name == "compiling":
		p.objects++
	case f[0] == "LD" && strings.HasPrefix(f[1], "vmlinux") && p.name == "compiling":
		p.name = "linking"
		if p.onPhase != nil {
			p.onPhase(p.name)
		}
	}
	p.last = f[1]
	p.draw(false)
}

func (p *progress) draw(force bool) {
	if p.w == nil || (!force && time.Since(p.drawn) < 250*time.Millisecond) {
		return
	}
	p.drawn = time.Now()
	el := time.Since(p.start).Round(time.Second)
	s := fmt.Sprintf("[%s] %s", el, p.name)
	if p.objects > 0 && (p.name == "compiling" || p.name == "linking") {
		s += fmt.Sprintf(": %d objects", p.objects)
	}
	if p.last != "" && p.name != "verifying" {
		s += " (" + p.last + ")"
	}
	if len(s) > 100 {
		s = s[:100]
	}
	fmt.Fprintf(p.w, "\r\033[K%s", s)
}

// done clears the progress line.
func (p *progress) done() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.w != nil && !p.drawn.IsZero() {
		fmt.Fprint(p.w, "\r\033[K")
	}
}

// count returns the objects compiled so far.
func (p *progress) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.objects
}

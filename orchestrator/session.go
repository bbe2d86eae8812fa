package orchestrator

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tsemlab/tsemlab/protocol"
)

// ran is what running one step produced, before it is judged.
type ran struct {
	exit     int
	signal   string
	stdout   string
	stderr   string
	trunc    bool
	timedOut bool
	dur      time.Duration
	// ended is set when the session cannot run further steps (the shell
	// exited or was killed).
	ended bool
	// err is a failure of the orchestrator itself, not of the step.
	err error
	// http is the response of an HTTP step.
	http *protocol.HTTPResponse
	// startup is what a shell printed before it read its first step
	// (bash -i's job-control notices, runc's warnings): not the step's.
	startup string
}

// session runs the steps of one phase in order.
type session interface {
	run(ctx context.Context, step protocol.Step, timeout time.Duration) ran
	close() error
}

// execSession runs each step as its own process: Shell followed by the step
// text (`sh -c STEP`), stdin closed, in its own process group.
type execSession struct {
	phase protocol.Phase
	self  string // this binary, for capexec
	root  string // the directory steps see as / ("" for the guest's)
}

func (s *execSession) run(ctx context.Context, step protocol.Step, timeout time.Duration) ran {
	argv := append(append([]string{}, s.phase.Shell...), step.Run)
	if wrapped, ok := labArgv(s.self, s.phase, step, argv); ok {
		argv = wrapped
	} else if c := mergeCaps(s.phase.Caps, step.Caps); c != nil {
		argv = append(capexecArgs(s.self, c), argv...)
	}
	stdout, stderr := newTail(maxOutput), newTail(maxOutput)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = stdout, stderr
	cmd.Env, cmd.Dir = environ(os.Environ(), s.phase.Env), s.phase.Dir
	if len(argv) > 1 && argv[0] == s.self && argv[1] == "stepexec" {
		cmd.Env = stepexecEnv(cmd.Env)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Chroot: s.root}
	labAttr(cmd.SysProcAttr, step)
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return ran{err: fmt.Errorf("start step %d: %w", step.Index, err)}
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var r ran
	select {
	case <-done:
	case <-ctx.Done():
		r.timedOut = true
		_ = unix.Kill(-cmd.Process.Pid, unix.SIGKILL)
		<-done
	}
	r.dur = time.Since(start)
	r.exit, r.signal = status(cmd.ProcessState)
	r.stdout, r.stderr = stdout.String(), stderr.String()
	r.trunc = stdout.Truncated() || stderr.Truncated()
	return labAfter(s.phase, step, r)
}

func (s *execSession) close() error { return nil }

// status returns the exit code and, for a process killed by a signal, the
// signal's name (exit code then 128+signal, as shells report it).
func status(ps *os.ProcessState) (int, string) {
	if ps == nil {
		return -1, ""
	}
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal()), unix.SignalName(ws.Signal())
	}
	return ps.ExitCode(), ""
}

// shellSession types every step into one long-lived shell's stdin, the way
// a person at a prompt would, so that what one step does to the shell (a
// denial making the shell untrusted, a changed directory) is seen by the
// next. After each step it types a marker command that prints a token and
// the exit status on stdout, and traces a no-op with the token (set -x) so
// that the token also reaches stderr; a step's output is what came before
// its markers. The marker uses only builtins and no redirection: an
// untrusted shell under TSEM can neither fork nor save a file descriptor
// (fcntl is refused), and a redirection it cannot undo would close its
// stdout for good.
type shellSession struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	out    *stream
	errs   *stream
	token  string
	waited chan struct{}
	state  *os.ProcessState
	// settled is set once the shell has read its first input (settle).
	settled bool
}

func startShell(phase protocol.Phase, self string) (*shellSession, error) {
	return startShellIn(phase, self, "")
}

// startShellIn starts the shell chrooted into root ("" for the guest's).
func startShellIn(phase protocol.Phase, self, root string) (*shellSession, error) {
	argv := append([]string{}, phase.Shell...)
	if phase.Caps != nil {
		argv = append(capexecArgs(self, phase.Caps), argv...)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env, cmd.Dir = environ(os.Environ(), shellEnv(phase.Env)), phase.Dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Chroot: root}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	outR, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	errR, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start shell %v: %w", phase.Shell, err)
	}
	s := &shellSession{
		cmd: cmd, stdin: stdin, out: newStream(outR), errs: newStream(errR),
		token: fmt.Sprintf("__tsemlab_%d_%d__", os.Getpid(), time.Now().UnixNano()), waited: make(chan struct{}),
	}
	go func() {
		// Both pipes must be drained before Wait, which closes them.
		s.out.drained.Wait()
		s.errs.drained.Wait()
		_ = cmd.Wait()
		s.state = cmd.ProcessState
		close(s.waited)
	}()
	return s, nil
}

func (s *shellSession) run(ctx context.Context, step protocol.Step, timeout time.Duration) ran {
	if !s.settled {
		s.settled = true
		r := s.step(ctx, protocol.Step{Index: 0, Run: ":"}, timeout)
		if r.ended {
			// The shell (or the container it runs in) did not start:
			// that is the first step's fate, with all it printed.
			return r
		}
		startup := r.stdout + r.stderr
		r = s.step(ctx, step, timeout)
		r.startup = startup
		return r
	}
	return s.step(ctx, step, timeout)
}

// step types one step into the shell and reads its output up to the
// step's markers.
func (s *shellSession) step(ctx context.Context, step protocol.Step, timeout time.Duration) ran {
	mark := fmt.Sprintf("%s:%d", s.token, step.Index)
	text := fmt.Sprintf("%s\nprintf '\\n%s:%%d\\n' \"$?\"; set -x; : %s; set +x\n", step.Run, mark, mark)
	start := time.Now()
	if _, err := io.WriteString(s.stdin, text); err != nil {
		r := s.ended(start)
		r.stderr += fmt.Sprintf("\n(tsemlab: could not type the step into the shell: %v)", err)
		return r
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	out, rest, okOut := s.out.until(ctx, []byte("\n"+mark+":"), true)
	errText, _, okErr := s.errs.until(ctx, []byte(tracePrefix+": "+mark+"\n"+tracePrefix+"set +x\n"), false)
	if !okOut || !okErr {
		if ctx.Err() != nil {
			_ = unix.Kill(-s.cmd.Process.Pid, unix.SIGKILL)
			r := s.ended(start)
			r.timedOut = true
			r.stdout, r.stderr = out, errText
			return r
		}
		// The shell exited: until returned nothing for a stream that ended
		// before its marker, and what the step printed is its rest.
		r := s.ended(start)
		if okOut {
			r.stdout = out
		}
		if okErr {
			r.stderr = errText
		}
		return r
	}
	code, err := strconv.Atoi(string(bytes.TrimSpace(rest)))
	if err != nil {
		code = -1
	}
	// No signal from the status alone: `(exit 159)` also gives 159. Only
	// the shell's own report of a killed job (on stderr) says a signal
	// was delivered, and the host's judge reads that.
	return ran{exit: code, stdout: out, stderr: errText, dur: time.Since(start)}
}

// ended reports the shell's own exit, once it has gone. A shell that lost
// its output but still runs gets end-of-file on its input first: killing it
// would be one more event in a TSEM namespace, for the leader's account.
func (s *shellSession) ended(start time.Time) ran {
	select {
	case <-s.waited:
	case <-time.After(time.Second):
		_ = s.stdin.Close()
	}
	s.waitOrKill(5 * time.Second)
	r := ran{ended: true, dur: time.Since(start)}
	r.exit, r.signal = status(s.state)
	r.stdout, r.stderr = s.out.rest(), s.errs.rest()
	return r
}

func (s *shellSession) close() error {
	_, _ = io.WriteString(s.stdin, "exit\n")
	_ = s.stdin.Close()
	s.waitOrKill(5 * time.Second)
	return nil
}

// shellEnv is a shell session's environment over the phase's: no
// prompts (an interactive shell would print them into each step's stderr;
// a scenario can still set PS1), and PS4, the stderr marker's prefix, which
// is not the scenario's to change.
func shellEnv(env []string) []string {
	return append(append([]string{"PS1=", "PS2="}, env...), "PS4="+tracePrefix)
}

// waitOrKill waits for the shell to exit, killing its process group if it
// has not within grace. Processes outside that group can still hold the
// shell's output pipes (a container's, which runc starts in a session of
// their own, or a step's daemon): after another grace it stops reading
// them, so that the phase ends and its teardown kills those processes.
func (s *shellSession) waitOrKill(grace time.Duration) {
	select {
	case <-s.waited:
	case <-time.After(grace):
		_ = unix.Kill(-s.cmd.Process.Pid, unix.SIGKILL)
		select {
		case <-s.waited:
		case <-time.After(grace):
			s.out.close()
			s.errs.close()
			<-s.waited
		}
	}
}

// tracePrefix is PS4 in shell sessions: what set -x prints before a traced
// command, and so the start of the stderr marker.
const tracePrefix = "+ "

// stream accumulates what a pipe delivers, for until to cut at markers.
type stream struct {
	src     io.Reader
	mu      sync.Mutex
	buf     []byte
	eof     bool
	changed chan struct{}
	drained sync.WaitGroup
}

func newStream(r io.Reader) *stream {
	s := &stream{src: r, changed: make(chan struct{}, 1)}
	s.drained.Add(1)
	go func() {
		defer s.drained.Done()
		p := make([]byte, 32<<10)
		for {
			n, err := r.Read(p)
			s.mu.Lock()
			s.buf = append(s.buf, p[:n]...)
			if len(s.buf) > 4*maxOutput {
				// A step printing without end: keep the tail, which the
				// marker will be in.
				s.buf = append(s.buf[:0], s.buf[len(s.buf)-2*maxOutput:]...)
			}
			if err != nil {
				s.eof = true
			}
			s.mu.Unlock()
			select {
			case s.changed <- struct{}{}:
			default:
			}
			if err != nil {
				return
			}
		}
	}()
	return s
}

// until waits for marker and returns what came before it; with wantLine,
// also the rest of the marker's line (consumed with its newline). ok is
// false when the stream ended or ctx expired first.
func (s *stream) until(ctx context.Context, marker []byte, wantLine bool) (before string, line []byte, ok bool) {
	for {
		s.mu.Lock()
		if i := bytes.Index(s.buf, marker); i >= 0 {
			rest := s.buf[i+len(marker):]
			end, complete := 0, true
			if wantLine {
				end = bytes.IndexByte(rest, '\n')
				complete = end >= 0
			}
			if complete {
				before = string(s.buf[:i])
				line = append([]byte{}, rest[:end]...)
				consumed := i + len(marker) + end
				if wantLine {
					consumed++
				}
				s.buf = append(s.buf[:0], s.buf[consumed:]...)
				s.mu.Unlock()
				return limit(before), line, true
			}
		}
		eof := s.eof
		s.mu.Unlock()
		if eof {
			return "", nil, false
		}
		select {
		case <-s.changed:
		case <-ctx.Done():
			return s.rest(), nil, false
		}
	}
}

// close stops reading: a blocked read of a pipe returns at once.
func (s *stream) close() {
	if c, ok := s.src.(io.Closer); ok {
		_ = c.Close()
	}
}

func (s *stream) rest() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return limit(string(s.buf))
}

func limit(s string) string {
	if len(s) > maxOutput {
		return s[len(s)-maxOutput:]
	}
	return s
}

// environ returns base with the KEY=value entries of over replacing or
// adding to it.
func environ(base, over []string) []string {
	out := append([]string{}, base...)
	for _, kv := range over {
		k, _, _ := strings.Cut(kv, "=")
		replaced := false
		for i, b := range out {
			if bk, _, _ := strings.Cut(b, "="); bk == k {
				out[i], replaced = kv, true
				break
			}
		}
		if !replaced {
			out = append(out, kv)
		}
	}
	return out
}

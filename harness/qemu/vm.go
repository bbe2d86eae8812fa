package qemu

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os/exec"
	"sync"
	"syscall"
	"time"

	"github.com/digitalocean/go-qemu/qmp"
	"github.com/digitalocean/go-qemu/qmp/raw"
)

// maxStderr bounds what is kept of QEMU's standard error (its tail).
const maxStderr = 64 << 10

// VM is a running QEMU process.
type VM struct {
	cmd    *exec.Cmd
	log    *slog.Logger
	stderr *tailWriter

	exited   chan struct{}
	waitErr  error
	panicked chan string
	results  *resultsConn

	mu  sync.Mutex
	mon qmp.Monitor
	// Version is QEMU's version, from QMP ("" until connected).
	Version string
	// KVM is QEMU's own answer to query-kvm.
	KVM bool
}

// Start boots c. Console output goes to console as it arrives. The VM is
// killed when ctx ends; callers still call Stop on every path.
func Start(ctx context.Context, c *Config, console io.Writer, log *slog.Logger) (*VM, error) {
	if _, err := exec.LookPath(c.Binary); err != nil {
		return nil, fmt.Errorf("%s not found: install QEMU (apt-get install qemu-system-x86)", c.Binary)
	}
	ln, err := net.Listen("unix", c.ResultsSocket)
	if err != nil {
		return nil, fmt.Errorf("results socket: %w", err)
	}
	argv := c.Cmdline()
	v := &VM{
		log:      log,
		stderr:   &tailWriter{max: maxStderr},
		exited:   make(chan struct{}),
		panicked: make(chan string, 1),
	}
	v.results = &resultsConn{ln: ln, exited: v.exited}
	v.cmd = exec.Command(argv[0], argv[1:]...)
	v.cmd.Stdin = nil
	v.cmd.Stdout = console
	v.cmd.Stderr = v.stderr
	// Own process group (a terminal's Ctrl-C reaches tsemlab, which stops
	// QEMU in order), and killed by the kernel if tsemlab dies first.
	v.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	log.Debug("starting qemu", "argv", argv)
	if err := v.cmd.Start(); err != nil {
		ln.Close()
		return nil, fmt.Errorf("start %s: %w", c.Binary, err)
	}
	go func() {
		v.waitErr = v.cmd.Wait()
		close(v.exited)
		ln.Close()
	}()
	go func() {
		select {
		case <-ctx.Done():
			v.Kill()
		case <-v.exited:
		}
	}()
	v.connectQMP(ctx, c.QMPSocket)
	return v, nil
}

// Results is the guest's results channel (its second serial port): reads
// and writes block until QEMU connects; reads end with io.EOF when QEMU
// exits. The guest writes its messages; the host writes only to a guest
// waiting for its plan. What the bytes mean is package qevent's business.
func (v *VM) Results() io.ReadWriter { return v.results }

// resultsConn accepts QEMU's connection to the results socket on first use.
type resultsConn struct {
	ln     net.Listener
	exited <-chan struct{}
	once   sync.Once
	conn   net.Conn
	err    error
}

func (r *resultsConn) accept() error {
	r.once.Do(func() {
		r.conn, r.err = r.ln.Accept()
		if r.err != nil {
			r.err = io.EOF
			return
		}
		go func() { <-r.exited; r.conn.Close() }()
	})
	return r.err
}

func (r *resultsConn) Write(p []byte) (int, error) {
	if err := r.accept(); err != nil {
		return 0, fmt.Errorf("results channel: QEMU never connected: %w", err)
	}
	return r.conn.Write(p)
}

func (r *resultsConn) Read(p []byte) (int, error) {
	if err := r.accept(); err != nil {
		return 0, err
	}
	n, err := r.conn.Read(p)
	if err != nil && n == 0 {
		select {
		case <-r.exited:
			return 0, io.EOF
		default:
		}
	}
	return n, err
}

// connectQMP attaches to QMP for the version, KVM state and panic events.
// QMP is an aid, not a dependency: a failure to connect is logged and the
// run relies on the results channel and the console.
func (v *VM) connectQMP(ctx context.Context, path string) {
	deadline := time.Now().Add(10 * time.Second)
	for {
		m, err := qmp.NewSocketMonitor("unix", path, time.Second)
		if err == nil {
			if err = m.Connect(); err == nil {
				v.attachQMP(ctx, m)
				return
			}
			m.Disconnect()
		}
		select {
		case <-v.exited:
			return
		case <-ctx.Done():
			return
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			v.log.Warn("no QMP connection; relying on the console and results channel", "err", err)
			return
		}
	}
}

// attachQMP takes a connected monitor: QEMU's version and KVM state are
// asked for with typed commands, and guest panic events are watched.
func (v *VM) attachQMP(ctx context.Context, mon qmp.Monitor) {
	events, err := mon.Events(ctx)
	if err != nil {
		v.log.Debug("no QMP events", "err", err)
	}
	r := raw.NewMonitor(mon)
	v.mu.Lock()
	v.mon = mon
	if ver, err := r.QueryVersion(); err == nil {
		v.Version = fmt.Sprintf("%d.%d.%d", ver.Qemu.Major, ver.Qemu.Minor, ver.Qemu.Micro)
	}
	if kvm, err := r.QueryKVM(); err == nil {
		v.KVM = kvm.Enabled
	}
	v.mu.Unlock()
	if events == nil {
		return
	}
	go func() {
		for e := range events {
			switch e.Event {
			case "GUEST_PANICKED", "GUEST_CRASHLOADED":
				select {
				case v.panicked <- fmt.Sprintf("QMP %s %v", e.Event, e.Data):
				default:
				}
			default:
				v.log.Debug("qmp event", "event", e.Event, "data", e.Data)
			}
		}
	}()
}

// Exited is closed when QEMU has exited.
func (v *VM) Exited() <-chan struct{} { return v.exited }

// Panicked delivers a description when QEMU reports a guest panic.
func (v *VM) Panicked() <-chan string { return v.panicked }

// Stderr is the end of what QEMU printed on its standard error.
func (v *VM) Stderr() string { return v.stderr.String() }

// ExitErr is QEMU's wait status; valid after Exited.
func (v *VM) ExitErr() error { return v.waitErr }

// Stop ends the VM: a QMP quit, then SIGKILL if QEMU has not gone within
// the grace period. It returns once QEMU has exited.
func (v *VM) Stop(grace time.Duration) {
	select {
	case <-v.exited:
	default:
		v.mu.Lock()
		mon := v.mon
		v.mu.Unlock()
		if mon != nil {
			_ = raw.NewMonitor(mon).Quit()
		}
		select {
		case <-v.exited:
		case <-time.After(grace):
			v.Kill()
			<-v.exited
		}
	}
	v.mu.Lock()
	if v.mon != nil {
		v.mon.Disconnect()
		v.mon = nil
	}
	v.mu.Unlock()
}

// Kill sends SIGKILL to QEMU.
func (v *VM) Kill() {
	if v.cmd.Process != nil {
		_ = v.cmd.Process.Signal(syscall.SIGKILL)
	}
}

// tailWriter keeps the last max bytes written to it, noting a cut.
type tailWriter struct {
	mu   sync.Mutex
	buf  []byte
	max  int
	lost int64
}

func (t *tailWriter) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - t.max; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
		t.lost += int64(over)
	}
	return len(p), nil
}

func (t *tailWriter) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.lost > 0 {
		return fmt.Sprintf("(%d earlier bytes left out)\n%s", t.lost, t.buf)
	}
	return string(t.buf)
}

// Version returns `qemu-system-x86_64 --version`'s first line.
func Version(binary string) (string, error) {
	out, err := exec.Command(binary, "--version").Output()
	if err != nil {
		return "", fmt.Errorf("%s --version: %w", binary, err)
	}
	line, _, _ := bytes.Cut(out, []byte("\n"))
	return string(line), nil
}

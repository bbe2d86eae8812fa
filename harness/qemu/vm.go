package qemu

import (
	"bufio"
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

	"github.com/tsemlab/tsemlab/protocol"
)

// VM is a running QEMU process.
type VM struct {
	cmd    *exec.Cmd
	log    *slog.Logger
	stderr bytes.Buffer

	messages chan protocol.Message
	exited   chan struct{}
	waitErr  error
	panicked chan string

	mu  sync.Mutex
	mon *qmp.SocketMonitor
	// Version is QEMU's version, from the QMP greeting ("" until connected).
	Version string
	// KVM is QEMU's own answer to query-kvm.
	KVM bool

	listener net.Listener
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
		messages: make(chan protocol.Message, 64),
		exited:   make(chan struct{}),
		panicked: make(chan string, 1),
		listener: ln,
	}
	v.cmd = exec.Command(argv[0], argv[1:]...)
	v.cmd.Stdin = nil
	v.cmd.Stdout = console
	v.cmd.Stderr = &lockedWriter{w: &v.stderr}
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
	go v.readResults()
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

// readResults accepts QEMU's connection to the results socket and decodes
// one message per line. A line that does not decode is reported as a
// protocol error message, so a corrupted channel is never silent.
func (v *VM) readResults() {
	defer close(v.messages)
	conn, err := v.listener.Accept()
	if err != nil {
		return
	}
	defer conn.Close()
	go func() { <-v.exited; conn.Close() }()
	sc := bufio.NewScanner(conn)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		m, err := protocol.Decode(line)
		if err != nil {
			m = protocol.Message{Kind: protocol.KindError, Error: "garbled results channel: " + err.Error()}
		}
		v.messages <- m
	}
}

// connectQMP attaches to QMP for the version, KVM state and panic events.
// QMP is an aid, not a dependency: a failure to connect is logged and the
// run relies on the results channel and the console.
func (v *VM) connectQMP(ctx context.Context, path string) {
	deadline := time.Now().Add(10 * time.Second)
	var mon *qmp.SocketMonitor
	for {
		m, err := qmp.NewSocketMonitor("unix", path, time.Second)
		if err == nil {
			if err = m.Connect(); err == nil {
				mon = m
				break
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
	events, _ := mon.Events(ctx)
	v.mu.Lock()
	v.mon = mon
	if mon.Version != nil {
		v.Version = mon.Version.String()
	}
	v.mu.Unlock()
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
	if out, err := mon.Run([]byte(`{"execute":"query-kvm"}`)); err == nil {
		v.KVM = bytes.Contains(out, []byte(`"enabled":true`))
	}
}

// Messages delivers the guest's results; it is closed when the channel ends.
func (v *VM) Messages() <-chan protocol.Message { return v.messages }

// Exited is closed when QEMU has exited.
func (v *VM) Exited() <-chan struct{} { return v.exited }

// Panicked delivers a description when QEMU reports a guest panic.
func (v *VM) Panicked() <-chan string { return v.panicked }

// Stderr is what QEMU printed on its standard error.
func (v *VM) Stderr() string {
	return v.stderr.String()
}

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
			_, _ = mon.Run([]byte(`{"execute":"quit"}`))
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

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
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

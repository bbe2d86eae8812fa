package orchestrator

import (
	"fmt"
	"os"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/tsemlab/tsemlab/protocol"
)

// lineSender writes one JSON message per line to f, stamped with the
// guest's uptime: to the host on the results port, or from a namespace
// leader to the orchestrator on a pipe.
type lineSender struct {
	mu sync.Mutex
	f  *os.File
}

// port is the results channel to the host: a serial line in raw mode, so
// that bytes pass unchanged.
type port struct {
	lineSender
}

func openPort(path string) (*port, error) {
	f, err := os.OpenFile(path, os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		return nil, fmt.Errorf("open results port %s: %w", path, err)
	}
	fd := int(f.Fd())
	t, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return nil, fmt.Errorf("results port %s: %w", path, err)
	}
	// cfmakeraw(3)
	t.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
	t.Oflag &^= unix.OPOST
	t.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
	t.Cflag &^= unix.CSIZE | unix.PARENB
	t.Cflag |= unix.CS8
	t.Cflag = t.Cflag&^unix.CBAUD | unix.B115200
	if err := unix.IoctlSetTermios(fd, unix.TCSETS, t); err != nil {
		return nil, fmt.Errorf("results port %s: set raw mode: %w", path, err)
	}
	return &port{lineSender{f: f}}, nil
}

// send writes one message; the uptime stamp is added here.
func (p *lineSender) send(m protocol.Message) error {
	m.Uptime = protocol.Duration(uptime())
	b, err := protocol.Encode(m)
	if err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, err := p.f.Write(b); err != nil {
		return fmt.Errorf("send %s: %w", m.Kind, err)
	}
	return nil
}

// drain waits until everything written has left the UART.
func (p *port) drain() {
	p.mu.Lock()
	defer p.mu.Unlock()
	_ = unix.IoctlSetInt(int(p.f.Fd()), unix.TCSBRK, 1)
}

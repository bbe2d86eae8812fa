package orchestrator

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tsemlab/tsemlab/protocol"
)

// planReceiver is a channel the host can send a plan on: the results
// port, a serial line that carries bytes both ways.
type planReceiver interface {
	receive() ([]byte, error)
}

// receive reads one line the host sent on the results port. The host
// sends exactly one line (the plan) per boot, so nothing read past it is
// lost.
func (p *port) receive() ([]byte, error) {
	return readLine(bufio.NewReaderSize(p.f, 64<<10), protocol.MaxLine)
}

// readLine reads up to a newline, at most max bytes.
func readLine(r *bufio.Reader, max int) ([]byte, error) {
	var line []byte
	for {
		chunk, err := r.ReadSlice('\n')
		line = append(line, chunk...)
		if len(line) > max {
			return nil, fmt.Errorf("a line longer than %d MiB", max>>20)
		}
		switch {
		case err == nil:
			return bytes.TrimSpace(line), nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF) && len(line) > 0:
			return nil, fmt.Errorf("the line ended without a newline after %d bytes", len(line))
		default:
			return nil, err
		}
	}
}

// setClock sets the guest's wall clock.
var setClock = func(t time.Time) error {
	ts := unix.NsecToTimespec(t.UnixNano())
	return unix.ClockSettime(unix.CLOCK_REALTIME, &ts)
}

// await takes the plan of a guest that waits for it (protocol.Plan.Await):
// it reads the plan the host sends on the results port, then says hello
// again, describing the kernel afresh (its taint may have changed since the
// hello before) and keeping the boot's timings. A guest restored from a
// snapshot is here, waiting, whatever scenario ran before in another VM.
func (o *orchestrator) await(first protocol.Hello) (protocol.Hello, error) {
	in, ok := o.out.(planReceiver)
	if !ok {
		return first, errors.New("await plan: the host cannot send on this channel")
	}
	line, err := in.receive()
	if err != nil {
		return first, fmt.Errorf("await plan: %w", err)
	}
	p, err := decodePlan(line, "from the results port")
	if err != nil {
		return first, err
	}
	if p.Await {
		return first, errors.New("await plan: the host sent another plan to wait with")
	}
	o.plan = p
	if p.Clock != nil {
		if err := setClock(*p.Clock); err != nil {
			o.logf("the clock stays the snapshot's: %v", err)
		}
	}
	t := uptime()
	h := describe()
	h.Modules, h.InitStart, h.InitMain, h.InitReady = first.Modules, first.InitStart, first.InitMain, first.InitReady
	h.OrchestratorStart, h.ModulesTook = first.OrchestratorStart, first.ModulesTook
	h.DescribeTook = protocol.Duration(uptime() - t)
	if err := o.out.send(protocol.Message{Kind: protocol.KindHello, Hello: &h}); err != nil {
		return first, err
	}
	return h, nil
}

package boot

import (
	"context"
	"io"
	"os"
	"sync"
	"time"
)

// Spare is a guest restored ahead of the scenario that will take it: its
// VM is started from a snapshot, loaded and running, waiting for its plan,
// so that QEMU's start and the load overlap whatever runs before. Run
// hands it its plan; Stop ends one that is not needed.
type Spare struct {
	snap *Snapshot
	g    *Guest
	out  *laterWriter
}

// Ready restores snap in a VM of its own (its sockets in a new temporary
// directory) that waits for its plan. The VM is killed when ctx ends.
func Ready(ctx context.Context, s Spec, snap *Snapshot) (*Spare, error) {
	dir, err := os.MkdirTemp("", "tsemlab-spare-")
	if err != nil {
		return nil, err
	}
	s.Dir = dir
	out := &laterWriter{}
	g, err := load(ctx, s, snap, out)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	g.removeDir = dir
	return &Spare{snap: snap, g: g, out: out}, nil
}

// Key is the key of the snapshot the spare was restored from.
func (sp *Spare) Key() string { return sp.snap.Meta.Key }

// Run hands the spare s.Plan, its console going to s.ConsoleLog from now
// on, and returns once the guest has said hello, like Restore. The spare
// is then that guest: Stop the guest, not the spare.
func (sp *Spare) Run(ctx context.Context, s Spec) (*Guest, error) {
	g := sp.g
	if s.ConsoleLog != nil {
		bootLog(s.ConsoleLog, sp.snap)
	}
	g.Console = consoleFor(s.ConsoleLog, s.ConsoleLines)
	sp.out.set(g.Console)
	g.Started = time.Now()
	if err := g.handOver(ctx, s, sp.snap); err != nil {
		g.Stop(time.Second)
		return nil, err
	}
	return g, nil
}

// Stop ends a spare no scenario took.
func (sp *Spare) Stop() { sp.g.Stop(time.Second) }

// laterWriter holds what is written to it until it is given where it
// goes (a spare's console, before its scenario is known), within a bound.
type laterWriter struct {
	mu   sync.Mutex
	w    io.Writer
	held []byte
}

// maxHeld bounds what a spare's console may print before its scenario.
const maxHeld = 64 << 10

func (l *laterWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.w != nil {
		return l.w.Write(p)
	}
	if room := maxHeld - len(l.held); room > 0 {
		l.held = append(l.held, p[:min(len(p), room)]...)
	}
	return len(p), nil
}

// set sends what was held, and everything after, to w.
func (l *laterWriter) set(w io.Writer) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.w = w
	if len(l.held) > 0 {
		_, _ = w.Write(l.held)
		l.held = nil
	}
}

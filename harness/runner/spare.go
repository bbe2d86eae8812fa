package runner

import (
	"context"
	"log/slog"
	"sync"

	"github.com/tsemlab/tsemlab/harness/boot"
)

// spares are guests restored ahead of the scenarios that will take them
// (boot.Spare), at most one per job, so that QEMU's start and the
// snapshot's load overlap the scenario before. A spare is readied when a
// scenario restores and more scenarios are yet to start.
type spares struct {
	// ctx is the run's: a spare's VM is killed when it ends.
	ctx context.Context
	max int
	log *slog.Logger

	mu sync.Mutex
	// left counts the scenarios not started yet.
	left int
	pool []*pendingSpare
	wg   sync.WaitGroup
}

// pendingSpare is a spare being readied, or ready once ready is closed.
type pendingSpare struct {
	key   string
	ready chan struct{}
	sp    *boot.Spare
	err   error
}

func newSpares(ctx context.Context, jobs, scenarios int, log *slog.Logger) *spares {
	return &spares{ctx: ctx, max: max(jobs, 1), left: scenarios, log: log}
}

// started counts a scenario as started.
func (p *spares) started() {
	if p == nil {
		return
	}
	p.mu.Lock()
	p.left--
	p.mu.Unlock()
}

// take returns a spare restored from the snapshot key, waiting for one
// being readied, or nil when there is none. Spares of other snapshots (the
// accelerator changed) are stopped.
func (p *spares) take(ctx context.Context, key string) *boot.Spare {
	if p == nil {
		return nil
	}
	p.mu.Lock()
	var got *pendingSpare
	var keep []*pendingSpare
	for _, ps := range p.pool {
		switch {
		case ps.key != key:
			p.discard(ps)
		case got == nil:
			got = ps
		default:
			keep = append(keep, ps)
		}
	}
	p.pool = keep
	p.mu.Unlock()
	if got == nil {
		return nil
	}
	select {
	case <-got.ready:
	case <-ctx.Done():
		p.mu.Lock()
		p.discard(got)
		p.mu.Unlock()
		return nil
	}
	if got.err != nil {
		p.log.Debug("a spare guest could not be readied", "err", got.err)
		return nil
	}
	return got.sp
}

// refill readies a spare from snap for a scenario yet to start, unless
// there are enough for those left or one per job.
func (p *spares) refill(spec boot.Spec, snap *boot.Snapshot) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.pool) >= p.max || len(p.pool) >= p.left {
		return
	}
	ps := &pendingSpare{key: snap.Meta.Key, ready: make(chan struct{})}
	p.pool = append(p.pool, ps)
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		defer close(ps.ready)
		ps.sp, ps.err = boot.Ready(p.ctx, spec, snap)
	}()
}

// discard stops ps once it is ready; p.mu is held.
func (p *spares) discard(ps *pendingSpare) {
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		<-ps.ready
		if ps.sp != nil {
			ps.sp.Stop()
		}
	}()
}

// close stops the spares no scenario took and waits for them.
func (p *spares) close() {
	if p == nil {
		return
	}
	p.mu.Lock()
	for _, ps := range p.pool {
		p.discard(ps)
	}
	p.pool = nil
	p.mu.Unlock()
	p.wg.Wait()
}

package runner

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/tsemlab/tsemlab/harness/boot"
	"github.com/tsemlab/tsemlab/harness/result"
	"github.com/tsemlab/tsemlab/protocol"
)

// start boots the scenario's guest: restored from the run's snapshot of a
// booted guest (Config.Snapshots), or booted cold when the run has none
// or the restore fails. The result's environment says which, and why.
func (r *scenarioRun) start(ctx context.Context, spec boot.Spec) (*boot.Guest, error) {
	if r.c.Snapshots == nil {
		r.res.Env.Boot = "cold boot (snapshots off)"
		return boot.Start(ctx, spec)
	}
	snap, err := r.c.Snapshots.Get(ctx, spec)
	if err == nil {
		var g *boot.Guest
		var ahead bool
		if g, ahead, err = r.restore(ctx, spec, snap); err == nil {
			r.res.Env.Boot = "restored snapshot " + snap.Meta.Key
			if ahead {
				r.res.Env.Boot += " (readied ahead)"
			}
			return g, nil
		}
	}
	if ctx.Err() != nil {
		return nil, err
	}
	r.res.Env.Boot = "cold boot: " + err.Error()
	r.c.Log.Warn("booting cold", "scenario", r.s.Name, "why", err)
	if spec.ConsoleLog != nil {
		fmt.Fprintf(spec.ConsoleLog, "\n[tsemlab] cold boot: %v\n", err)
	}
	// Fresh socket paths: the failed restore's may linger.
	spec.Dir = filepath.Join(spec.Dir, "cold")
	if err := os.Mkdir(spec.Dir, 0o700); err != nil {
		return nil, err
	}
	return boot.Start(ctx, spec)
}

// restore takes a spare restored ahead from snap when there is one
// (ahead), else restores snap now, and readies a spare for a later
// scenario.
func (r *scenarioRun) restore(ctx context.Context, spec boot.Spec, snap *boot.Snapshot) (g *boot.Guest, ahead bool, err error) {
	sp := r.c.spares.take(ctx, snap.Meta.Key)
	r.c.spares.refill(spec, snap)
	if sp != nil {
		g, err = sp.Run(ctx, spec)
		return g, true, err
	}
	g, err = boot.Restore(ctx, spec, snap)
	return g, false, err
}

// guestBoot records where the guest's boot time went, from its hello.
func guestBoot(h *protocol.Hello) *result.GuestBoot {
	if h.OrchestratorStart == 0 {
		return nil
	}
	return &result.GuestBoot{
		InitStart: result.Duration(h.InitStart), InitMain: result.Duration(h.InitMain), InitReady: result.Duration(h.InitReady),
		OrchestratorStart: result.Duration(h.OrchestratorStart),
		ModulesTook:       result.Duration(h.ModulesTook), DescribeTook: result.Duration(h.DescribeTook),
	}
}

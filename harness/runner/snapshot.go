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
		if g, err = boot.Restore(ctx, spec, snap); err == nil {
			r.res.Env.Boot = "restored snapshot " + snap.Meta.Key
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

// guestBoot records where the guest's boot time went, from its hello.
func guestBoot(h *protocol.Hello) *result.GuestBoot {
	if h.OrchestratorStart == 0 {
		return nil
	}
	return &result.GuestBoot{
		InitStart: result.Duration(h.InitStart), OrchestratorStart: result.Duration(h.OrchestratorStart),
		ModulesTook: result.Duration(h.ModulesTook), DescribeTook: result.Duration(h.DescribeTook),
	}
}

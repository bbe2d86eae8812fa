package qemu

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/digitalocean/go-qemu/qmp"
	"github.com/digitalocean/go-qemu/qmp/raw"
)

// Snapshots: a VM whose RAM is a shared file (Config.MemoryFile with
// MemoryShared) is stopped and its device state migrated to a file (Save);
// any number of VMs started with the same command line, Incoming, and the
// same memory file mapped copy on write then load that state and carry on
// from where it stopped (Load). With x-ignore-shared migration leaves the
// file-backed RAM out of the state: saving writes a few hundred KiB
// instead of all the guest's memory, and a restore maps the RAM instead
// of copying it.

// ErrNoQMP is returned by Save and Load when QEMU's monitor never answered.
var ErrNoQMP = errors.New("no QMP connection to QEMU")

// pollEvery is how often migration and run state are asked for.
const pollEvery = 10 * time.Millisecond

// Save stops the guest and writes its device state to path. The VM stays
// stopped; callers Stop it.
func (v *VM) Save(ctx context.Context, path string) error {
	mon, err := v.monitor()
	if err != nil {
		return err
	}
	r := raw.NewMonitor(mon)
	if err := ignoreShared(mon); err != nil {
		return fmt.Errorf("save: %w", err)
	}
	if err := r.Stop(); err != nil {
		return fmt.Errorf("save: stop: %w", err)
	}
	if err := r.Migrate("exec:cat > "+shellQuote(path), nil, nil, nil); err != nil {
		return fmt.Errorf("save: migrate: %w", err)
	}
	if err := v.migrated(ctx, r); err != nil {
		return fmt.Errorf("save to %s: %w", path, err)
	}
	return nil
}

// Load brings the state saved at path into a VM started with Incoming and
// lets the guest run on.
func (v *VM) Load(ctx context.Context, path string) error {
	mon, err := v.monitor()
	if err != nil {
		return err
	}
	r := raw.NewMonitor(mon)
	if err := ignoreShared(mon); err != nil {
		return fmt.Errorf("load: %w", err)
	}
	if err := r.MigrateIncoming("exec:cat " + shellQuote(path)); err != nil {
		return fmt.Errorf("load: migrate-incoming: %w", err)
	}
	if err := v.migrated(ctx, r); err != nil {
		return fmt.Errorf("load %s: %w", path, err)
	}
	// The saved guest was stopped, so it arrives paused.
	var st raw.StatusInfo
	err = v.poll(ctx, func() (bool, error) {
		var err error
		st, err = r.QueryStatus()
		return err == nil && st.Status != raw.RunStateInmigrate, err
	})
	if err != nil {
		return fmt.Errorf("load %s: %w", path, err)
	}
	if st.Status != raw.RunStatePaused {
		return fmt.Errorf("load %s: the guest is %s after loading, not paused", path, st.Status)
	}
	if err := r.Cont(); err != nil {
		return fmt.Errorf("load %s: cont: %w", path, err)
	}
	return nil
}

// migrated waits until the migration in progress has completed.
func (v *VM) migrated(ctx context.Context, r *raw.Monitor) error {
	return v.poll(ctx, func() (bool, error) {
		info, err := r.QueryMigrate()
		if err != nil || info.Status == nil {
			return false, err
		}
		switch *info.Status {
		case raw.MigrationStatusCompleted:
			return true, nil
		case raw.MigrationStatusFailed, raw.MigrationStatusCancelled:
			why := "no reason given"
			if info.ErrorDesc != nil {
				why = *info.ErrorDesc
			}
			return false, fmt.Errorf("migration %s: %s", info.Status, why)
		}
		return false, nil
	})
}

// poll calls done until it says so or fails, QEMU exits or ctx ends.
func (v *VM) poll(ctx context.Context, done func() (bool, error)) error {
	for {
		ok, err := done()
		if err != nil || ok {
			return err
		}
		select {
		case <-v.exited:
			return fmt.Errorf("QEMU exited: %s", lastLine(v.Stderr()))
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(pollEvery):
		}
	}
}

func (v *VM) monitor() (qmp.Monitor, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.mon == nil {
		return nil, ErrNoQMP
	}
	return v.mon, nil
}

// ignoreShared turns on the x-ignore-shared migration capability, which
// go-qemu's generated enum predates, so it is sent as its own typed
// command.
func ignoreShared(mon qmp.Monitor) error {
	type capability struct {
		Capability string `json:"capability"`
		State      bool   `json:"state"`
	}
	type args struct {
		Capabilities []capability `json:"capabilities"`
	}
	cmd, err := json.Marshal(struct {
		Execute   string `json:"execute"`
		Arguments args   `json:"arguments"`
	}{"migrate-set-capabilities", args{[]capability{{"x-ignore-shared", true}}}})
	if err != nil {
		return err
	}
	if _, err := mon.Run(cmd); err != nil {
		return fmt.Errorf("migrate-set-capabilities x-ignore-shared: %w", err)
	}
	return nil
}

// shellQuote quotes s for the shell QEMU runs an exec: migration with.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

package boot

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/tsemlab/tsemlab/harness/console"
	"github.com/tsemlab/tsemlab/harness/filelock"
	"github.com/tsemlab/tsemlab/harness/image"
	"github.com/tsemlab/tsemlab/harness/qemu"
	"github.com/tsemlab/tsemlab/harness/qevent"
	"github.com/tsemlab/tsemlab/internal/digest"
	"github.com/tsemlab/tsemlab/protocol"
)

// One boot, many scenarios: a guest is booted once per boot configuration
// with a plan that makes it say hello and wait for its real plan on the
// results port (protocol.Plan.Await). It is snapshotted while it waits and
// every scenario restores that snapshot in a VM of its own and sends its
// plan. Each restore starts from the same saved machine, so nothing one
// scenario did (files, mounts, processes, TSEM namespaces) can reach
// another.

// DefaultRestoreLimit bounds a restore from QEMU's start to the hello;
// past it the caller boots cold instead.
const DefaultRestoreLimit = 30 * time.Second

// snapshotBootLimit bounds the boot a snapshot is made from.
const snapshotBootLimit = 5 * time.Minute

// Snapshots is the cache of saved guests, one directory per key (see
// Spec.SnapshotKey) under Dir: state (the device state), ram (the guest's
// memory), initrd.cpio (the initramfs it booted, which a restore loads
// again: its size is part of the machine), console.log (its boot) and
// meta.json. Safe for concurrent use, also across processes.
type Snapshots struct {
	Dir string
	// Keep is how many snapshots stay when a new one is made, those used
	// last; default DefaultKeep.
	Keep int
	Log  *slog.Logger

	mu sync.Mutex
	// failed remembers, per key, why a snapshot could not be made in
	// this process, so that it is tried once per run, not per scenario.
	failed map[string]error
}

// DefaultKeep is how many snapshots the cache keeps by default: one per
// kernel and drive set, and the TSEM suite alone boots five drive sets
// (with 4, each run remade all five, every new one pruning the oldest,
// which the same run needed next). A snapshot takes 80-100 MB of disk
// (its RAM file is sparse).
const DefaultKeep = 12

// Snapshot is one saved guest waiting for its plan.
type Snapshot struct {
	Dir  string
	Meta SnapshotMeta
}

// SnapshotMeta describes a snapshot: meta.json.
type SnapshotMeta struct {
	Key     string    `json:"key"`
	Created time.Time `json:"created"`
	// Hello is what the guest said before it was saved.
	Hello protocol.Hello `json:"hello"`
	// BootTime is QEMU's start to the hello; SaveTime the save.
	BootTime protocol.Duration `json:"boot_time"`
	SaveTime protocol.Duration `json:"save_time"`
	// Cmdline is the QEMU command line it booted with.
	Cmdline []string `json:"qemu_cmdline"`
}

// State, RAM and Initrd are the snapshot's files.
func (s *Snapshot) State() string  { return filepath.Join(s.Dir, "state") }
func (s *Snapshot) RAM() string    { return filepath.Join(s.Dir, "ram") }
func (s *Snapshot) Initrd() string { return filepath.Join(s.Dir, "initrd.cpio") }

// Console is the log of the boot the snapshot was made from.
func (s *Snapshot) Console() string { return filepath.Join(s.Dir, "console.log") }

// SnapshotKey names the snapshot s can be restored from: a hash of the
// kernel, the base image, QEMU's version and the whole command line of a
// restore (accelerator, memory, kernel arguments, devices), with the paths
// that differ between restores (sockets, the snapshot's own files) left
// out.
func (s Spec) SnapshotKey() (string, error) {
	if s.KernelSHA256 == "" {
		sum, err := digest.File(s.Kernel)
		if err != nil {
			return "", fmt.Errorf("snapshot key: %w", err)
		}
		s.KernelSHA256 = sum
	}
	if s.QEMUVersion == "" {
		v, err := qemu.Version(orDefault(s.QEMU, "qemu-system-x86_64"))
		if err != nil {
			return "", fmt.Errorf("snapshot key: %w", err)
		}
		s.QEMUVersion = v
	}
	s.Dir = "/run"
	cfg, err := s.restoreConfig("/snapshot")
	if err != nil {
		return "", fmt.Errorf("snapshot key: %w", err)
	}
	h := sha256.New()
	fmt.Fprintf(h, "tsemlab snapshot 1\nprotocol %d\nkernel %s\nimage %s\nqemu %s\n%s\n",
		protocol.Version, s.KernelSHA256, s.Image.SHA256, s.QEMUVersion, strings.Join(cfg.Cmdline(), "\n"))
	return hex.EncodeToString(h.Sum(nil))[:16], nil
}

// restoreConfig is the command line of a restore from the snapshot in dir.
func (s Spec) restoreConfig(dir string) (*qemu.Config, error) {
	return s.withOptions(filepath.Join(dir, "initrd.cpio"), qemu.WithMemoryFile(filepath.Join(dir, "ram"), false), qemu.WithIncoming())
}

// withOptions is s.Config with more options applied.
func (s Spec) withOptions(initrd string, opts ...qemu.Option) (*qemu.Config, error) {
	cfg, err := s.Config(initrd)
	if err != nil {
		return nil, err
	}
	for _, o := range opts {
		if err := o(cfg); err != nil {
			return nil, err
		}
	}
	return cfg, nil
}

// Get returns the snapshot for s, making it first when there is none: a
// boot, the hello, a save. Other tsemlab processes wait for one being
// made. A snapshot that could not be made is not tried again by this
// Snapshots.
func (c *Snapshots) Get(ctx context.Context, s Spec) (*Snapshot, error) {
	key, err := s.SnapshotKey()
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(c.Dir, key)
	if snap, err := openSnapshot(dir, key); err == nil {
		touch(dir)
		return snap, nil
	}
	c.mu.Lock()
	err = c.failed[key]
	c.mu.Unlock()
	if err != nil {
		return nil, err
	}
	unlock, err := filelock.Lock(ctx, dir+".lock")
	if err != nil {
		return nil, err
	}
	defer unlock()
	if snap, err := openSnapshot(dir, key); err == nil {
		return snap, nil
	}
	snap, err := c.make(ctx, s, key)
	if err != nil {
		c.mu.Lock()
		if c.failed == nil {
			c.failed = map[string]error{}
		}
		c.failed[key] = err
		c.mu.Unlock()
		return nil, err
	}
	c.prune(key)
	return snap, nil
}

// openSnapshot returns the complete snapshot in dir, or an error.
func openSnapshot(dir, key string) (*Snapshot, error) {
	data, err := os.ReadFile(filepath.Join(dir, "meta.json"))
	if err != nil {
		return nil, err
	}
	snap := &Snapshot{Dir: dir}
	if err := json.Unmarshal(data, &snap.Meta); err != nil {
		return nil, fmt.Errorf("snapshot %s: %w", dir, err)
	}
	if snap.Meta.Key != key {
		return nil, fmt.Errorf("snapshot %s is keyed %s", dir, snap.Meta.Key)
	}
	for _, f := range []string{snap.State(), snap.RAM(), snap.Initrd()} {
		if _, err := os.Stat(f); err != nil {
			return nil, fmt.Errorf("snapshot %s: %w", dir, err)
		}
	}
	return snap, nil
}

// make boots a waiting guest, saves it and moves it into place, whole or
// not at all.
func (c *Snapshots) make(ctx context.Context, s Spec, key string) (*Snapshot, error) {
	log := c.logger()
	if err := os.MkdirAll(c.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("snapshots: %w", err)
	}
	tmp, err := os.MkdirTemp(c.Dir, "."+key+"-")
	if err != nil {
		return nil, fmt.Errorf("snapshots: %w", err)
	}
	defer os.RemoveAll(tmp)
	snap := &Snapshot{Dir: tmp, Meta: SnapshotMeta{Key: key}}
	if err := image.WithPlan(s.Image, protocol.AwaitPlan(GuestDrives(s.Drives)), snap.Initrd()); err != nil {
		return nil, fmt.Errorf("snapshot initramfs: %w", err)
	}
	log.Info("making a snapshot of a booted guest", "key", key)
	if err := s.bootAndSave(ctx, snap); err != nil {
		return nil, fmt.Errorf("make snapshot %s: %w", key, err)
	}
	snap.Meta.Created = time.Now().UTC().Truncate(time.Second)
	if err := writeJSONFile(filepath.Join(tmp, "meta.json"), snap.Meta); err != nil {
		return nil, fmt.Errorf("make snapshot %s: %w", key, err)
	}
	dir := filepath.Join(c.Dir, key)
	// A snapshot whose meta.json no longer opens (an older layout) is
	// replaced.
	if err := os.RemoveAll(dir); err != nil {
		return nil, fmt.Errorf("make snapshot %s: %w", key, err)
	}
	if err := os.Rename(tmp, dir); err != nil {
		return nil, fmt.Errorf("make snapshot %s: %w", key, err)
	}
	snap.Dir = dir
	log.Info("snapshot made", "key", key, "boot", snap.Meta.BootTime.Std(), "save", snap.Meta.SaveTime.Std())
	return snap, nil
}

// bootAndSave boots s with the snapshot's initramfs and its memory in the
// snapshot's ram file, waits for the hello and saves the guest.
func (s Spec) bootAndSave(ctx context.Context, snap *Snapshot) error {
	sockets, err := os.MkdirTemp("", "tsemlab-snap-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(sockets)
	s.Dir = sockets
	cfg, err := s.withOptions(snap.Initrd(), qemu.WithMemoryFile(snap.RAM(), true))
	if err != nil {
		return err
	}
	logf, err := os.Create(snap.Console())
	if err != nil {
		return err
	}
	defer logf.Close()
	ctx, cancel := context.WithTimeout(ctx, snapshotBootLimit)
	defer cancel()
	g := &Guest{Console: consoleFor(logf, 40), Cmdline: cfg.Cmdline(), Started: time.Now()}
	if g.VM, err = qemu.Start(ctx, cfg, g.Console, s.logger()); err != nil {
		return err
	}
	defer g.Stop(3 * time.Second)
	g.Events = qevent.Read(g.VM.Results())
	m, err := g.Hello(ctx)
	if err != nil {
		return err
	}
	snap.Meta.BootTime = protocol.Duration(time.Since(g.Started))
	snap.Meta.Hello, snap.Meta.Cmdline = *m.Hello, g.Cmdline
	t := time.Now()
	if err := g.VM.Save(ctx, snap.State()); err != nil {
		return err
	}
	snap.Meta.SaveTime = protocol.Duration(time.Since(t))
	return nil
}

// pruneLock removes the lock file of a snapshot that is gone, unless it
// is recent or held: a tsemlab may be making that snapshot.
func (c *Snapshots) pruneLock(p string, info fs.FileInfo) {
	dir, ok := strings.CutSuffix(p, ".lock")
	if !ok || time.Since(info.ModTime()) < time.Hour {
		return
	}
	if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
		return
	}
	unlock, err := filelock.TryLock(p)
	if err != nil {
		return
	}
	os.Remove(p)
	unlock()
}

// touch marks a snapshot used now: prune keeps those used last.
func touch(dir string) {
	now := time.Now()
	_ = os.Chtimes(dir, now, now)
}

// prune removes all but the Keep snapshots used last (never keep), with
// their lock files, and unfinished ones an interrupted tsemlab left over
// an hour ago.
func (c *Snapshots) prune(keep string) {
	entries, err := os.ReadDir(c.Dir)
	if err != nil {
		return
	}
	type made struct {
		dir string
		at  time.Time
	}
	var done []made
	for _, e := range entries {
		info, err := e.Info()
		if err != nil {
			continue
		}
		p := filepath.Join(c.Dir, e.Name())
		if !e.IsDir() {
			c.pruneLock(p, info)
			continue
		}
		switch {
		case strings.HasPrefix(e.Name(), "."):
			if time.Since(info.ModTime()) > time.Hour {
				os.RemoveAll(p)
			}
		case e.Name() != keep:
			done = append(done, made{p, info.ModTime()})
		}
	}
	sort.Slice(done, func(i, j int) bool { return done[i].at.After(done[j].at) })
	for i, m := range done {
		if i+1 >= orDefault(c.Keep, DefaultKeep) {
			unlock, err := filelock.TryLock(m.dir + ".lock")
			switch {
			case errors.Is(err, fs.ErrNotExist):
				unlock = func() {}
			case err != nil:
				// Being made again right now, or the lock is unusable.
				continue
			}
			c.logger().Debug("removing a snapshot not used lately", "dir", m.dir)
			os.RemoveAll(m.dir)
			os.Remove(m.dir + ".lock")
			unlock()
		}
	}
}

func (c *Snapshots) logger() *slog.Logger {
	if c.Log == nil {
		return slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return c.Log
}

func (s Spec) logger() *slog.Logger {
	if s.Log == nil {
		return slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return s.Log
}

// Restore starts a guest from snap and hands it s.Plan on the results
// channel. It returns once the guest has said hello for that plan; the
// returned guest's Events deliver that hello (and anything before it)
// first, like a cold boot's. Within s.RestoreLimit or it fails, and the
// caller boots cold.
func Restore(ctx context.Context, s Spec, snap *Snapshot) (*Guest, error) {
	if s.ConsoleLog != nil {
		bootLog(s.ConsoleLog, snap)
	}
	c := consoleFor(s.ConsoleLog, s.ConsoleLines)
	g, err := load(ctx, s, snap, c)
	if err != nil {
		return nil, err
	}
	g.Console = c
	if err := g.handOver(ctx, s, snap); err != nil {
		g.Stop(time.Second)
		return nil, err
	}
	return g, nil
}

// load starts a VM from snap, its console going to out, and lets the
// guest run on to where it waits for its plan.
func load(ctx context.Context, s Spec, snap *Snapshot, out io.Writer) (*Guest, error) {
	cfg, err := s.restoreConfig(snap.Dir)
	if err != nil {
		return nil, err
	}
	g := &Guest{Cmdline: cfg.Cmdline(), Started: time.Now()}
	if g.VM, err = qemu.Start(ctx, cfg, out, s.logger()); err != nil {
		return nil, err
	}
	lctx, cancel := context.WithTimeout(ctx, orDefault(s.RestoreLimit, DefaultRestoreLimit))
	defer cancel()
	started := time.Since(g.Started)
	if err := g.VM.Load(lctx, snap.State()); err != nil {
		g.Stop(time.Second)
		return nil, fmt.Errorf("restore snapshot %s: %w", snap.Meta.Key, err)
	}
	s.logger().Debug("snapshot loaded", "snapshot", snap.Meta.Key, "qemu_started", started, "loaded", time.Since(g.Started))
	return g, nil
}

// handOver sends the plan to a loaded guest and waits for its hello.
func (g *Guest) handOver(ctx context.Context, s Spec, snap *Snapshot) error {
	ctx, cancel := context.WithTimeout(ctx, orDefault(s.RestoreLimit, DefaultRestoreLimit))
	defer cancel()
	plan, now := s.Plan, time.Now()
	plan.Clock = &now
	line, err := json.Marshal(plan)
	if err != nil {
		return err
	}
	if _, err := g.VM.Results().Write(append(line, '\n')); err != nil {
		return fmt.Errorf("restore snapshot %s: send the plan: %w", snap.Meta.Key, err)
	}
	events := qevent.Read(g.VM.Results())
	seen, err := untilHello(ctx, events)
	if err != nil {
		return fmt.Errorf("restore snapshot %s: %w (console: %s)", snap.Meta.Key, err, lastConsoleLine(g))
	}
	g.Events = events.Replay(seen...)
	s.logger().Debug("restored guest said hello", "snapshot", snap.Meta.Key, "hello", time.Since(g.Started), "plan_bytes", len(line))
	return nil
}

// untilHello reads messages up to and including the hello.
func untilHello(ctx context.Context, events *qevent.Stream) ([]protocol.Message, error) {
	var seen []protocol.Message
	for {
		select {
		case m, ok := <-events.C():
			if !ok {
				return nil, errors.New("the guest ended without a hello")
			}
			seen = append(seen, m)
			if m.Kind == protocol.KindHello {
				return seen, nil
			}
		case <-ctx.Done():
			return nil, fmt.Errorf("no hello: %w", ctx.Err())
		}
	}
}

// bootLog starts a restored guest's console log with the boot it was
// saved from, so that the log reads like a cold boot's.
func bootLog(w io.Writer, snap *Snapshot) {
	fmt.Fprintf(w, "[tsemlab] boot of snapshot %s, made %s:\n", snap.Meta.Key, snap.Meta.Created.Format(time.RFC3339))
	if f, err := os.Open(snap.Console()); err == nil {
		_, _ = io.Copy(w, f)
		f.Close()
	}
	fmt.Fprintf(w, "\n[tsemlab] restored from snapshot %s at %s\n", snap.Meta.Key, time.Now().UTC().Format(time.RFC3339))
}

func writeJSONFile(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// orDefault returns v, or def when v is the zero value.
func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

func consoleFor(log io.Writer, lines int) *console.Console {
	return console.NewConsole(log, orDefault(lines, 200))
}

func lastConsoleLine(g *Guest) string { return console.LastLine(g.Console.Tail(3)) }

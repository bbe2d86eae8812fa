package qemu

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/tsemlab/tsemlab/harness/filelock"
)

// Probe chooses the accelerator. Opening /dev/kvm is not enough: on nested
// hosts a KVM guest can hang silently after the firmware, or QEMU can abort
// with -cpu host; so "auto" boots something tiny under KVM with a short
// timeout and falls back to TCG when it does not come up. The answer is
// remembered per host fingerprint.
type Probe struct {
	// CacheFile remembers answers; "" disables the cache. Processes
	// probing at once each add their own answer: the file is rewritten
	// under a lock on CacheFile+".lock".
	CacheFile string
	// DevKVM is the KVM device; default /dev/kvm.
	DevKVM string
	// Fingerprint identifies the host and guest kernel the answer holds for.
	Fingerprint string
	// Boot boots a tiny guest under a and returns nil once it is up.
	Boot func(ctx context.Context, a Accel) error
	// Timeout bounds the KVM test boot; default 30s.
	Timeout time.Duration
	// Log gets a warning when an answer cannot be remembered (the answer
	// itself still holds for this run); nil means slog.Default().
	Log *slog.Logger
}

// Choice is the accelerator picked and why.
type Choice struct {
	Accel  Accel  `json:"accel"`
	Reason string `json:"reason"`
	When   string `json:"when,omitempty"`
}

// Choose returns the accelerator for want: "kvm", "tcg" or "auto".
func (p Probe) Choose(ctx context.Context, want string) (Choice, error) {
	dev := p.DevKVM
	if dev == "" {
		dev = "/dev/kvm"
	}
	switch want {
	case "tcg":
		return Choice{Accel: TCG, Reason: "--accel tcg"}, nil
	case "kvm":
		if err := openKVM(dev); err != nil {
			return Choice{}, fmt.Errorf("--accel kvm: %w (use --accel auto to fall back to TCG)", err)
		}
		return Choice{Accel: KVM, Reason: "--accel kvm"}, nil
	case "auto", "":
	default:
		return Choice{}, fmt.Errorf("unknown accelerator %q: use auto, kvm or tcg", want)
	}
	if c, ok := p.cached(); ok {
		c.Reason += " (remembered from a probe at " + c.When + "; delete " + p.CacheFile + " to probe again)"
		return c, nil
	}
	var c Choice
	if err := openKVM(dev); err != nil {
		c = Choice{Accel: TCG, Reason: fmt.Sprintf("KVM unavailable: %v", err)}
	} else {
		timeout := p.Timeout
		if timeout == 0 {
			timeout = 30 * time.Second
		}
		bctx, cancel := context.WithTimeout(ctx, timeout)
		start := time.Now()
		err := p.Boot(bctx, KVM)
		cancel()
		if ctx.Err() != nil {
			return Choice{}, ctx.Err()
		}
		if err != nil {
			c = Choice{Accel: TCG, Reason: fmt.Sprintf("a test boot under KVM failed (%v); using TCG", err)}
		} else {
			c = Choice{Accel: KVM, Reason: fmt.Sprintf("a test boot under KVM came up in %.1fs", time.Since(start).Seconds())}
		}
	}
	c.When = time.Now().UTC().Format(time.RFC3339)
	if err := p.remember(ctx, c); err != nil {
		log := p.Log
		if log == nil {
			log = slog.Default()
		}
		log.Warn("the accelerator answer is not remembered; the next run probes again", "err", err)
	}
	return c, nil
}

func openKVM(dev string) error {
	f, err := os.OpenFile(dev, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	return f.Close()
}

type cacheFile map[string]Choice

func (p Probe) load() cacheFile {
	c := cacheFile{}
	if p.CacheFile == "" {
		return c
	}
	if b, err := os.ReadFile(p.CacheFile); err == nil {
		_ = json.Unmarshal(b, &c)
	}
	return c
}

func (p Probe) cached() (Choice, bool) {
	c, ok := p.load()[p.Fingerprint]
	return c, ok && c.Accel != ""
}

// remember adds c to CacheFile under the cache's lock: read, change,
// write to a temporary file, rename, so that two probes at once keep both
// answers and a reader never sees half a file.
func (p Probe) remember(ctx context.Context, c Choice) error {
	if p.CacheFile == "" {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(p.CacheFile), 0o755); err != nil {
		return fmt.Errorf("remember accelerator: %w", err)
	}
	unlock, err := filelock.Lock(ctx, p.CacheFile+".lock")
	if err != nil {
		return fmt.Errorf("remember accelerator: %w", err)
	}
	defer unlock()
	all := p.load()
	all[p.Fingerprint] = c
	b, err := json.MarshalIndent(all, "", "  ")
	if err != nil {
		return fmt.Errorf("remember accelerator: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(p.CacheFile), ".accel-*.json")
	if err != nil {
		return fmt.Errorf("remember accelerator: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return fmt.Errorf("remember accelerator: write %s: %w", tmp.Name(), err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("remember accelerator: write %s: %w", tmp.Name(), err)
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return fmt.Errorf("remember accelerator: %w", err)
	}
	if err := os.Rename(tmp.Name(), p.CacheFile); err != nil {
		return fmt.Errorf("remember accelerator: %w", err)
	}
	return nil
}

// ErrNoHello is what a test boot returns when the guest never reported.
var ErrNoHello = errors.New("the guest did not report within the time limit")

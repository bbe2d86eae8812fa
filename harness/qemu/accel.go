package qemu

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// Probe chooses the accelerator. Opening /dev/kvm is not enough: on nested
// hosts a KVM guest can hang silently after the firmware, or QEMU can abort
// with -cpu host; so "auto" boots something tiny under KVM with a short
// timeout and falls back to TCG when it does not come up. The answer is
// remembered per host fingerprint.
type Probe struct {
	// CacheFile remembers answers; "" disables the cache.
	CacheFile string
	// DevKVM is the KVM device; default /dev/kvm.
	DevKVM string
	// Fingerprint identifies the host and guest kernel the answer holds for.
	Fingerprint string
	// Boot boots a tiny guest under a and returns nil once it is up.
	Boot func(ctx context.Context, a Accel) error
	// Timeout bounds the KVM test boot; default 30s.
	Timeout time.Duration
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
	p.remember(c)
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

func (p Probe) remember(c Choice) {
	if p.CacheFile == "" {
		return
	}
	all := p.load()
	all[p.Fingerprint] = c
	b, err := json.MarshalIndent(all, "", "  ")
	if err != nil {
		return
	}
	if err := os.MkdirAll(filepath.Dir(p.CacheFile), 0o755); err != nil {
		return
	}
	tmp := p.CacheFile + ".tmp"
	if os.WriteFile(tmp, b, 0o644) == nil {
		_ = os.Rename(tmp, p.CacheFile)
	}
}

// ErrNoHello is what a test boot returns when the guest never reported.
var ErrNoHello = errors.New("the guest did not report within the time limit")

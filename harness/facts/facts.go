// Package facts remembers what a kernel said about itself when it first
// booted here (release, active LSMs, features, TSEM), keyed by the kernel's
// SHA-256 and the extra command-line arguments it booted with, so that a
// scenario the kernel cannot run is skipped without booting it again.
package facts

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/tsemlab/tsemlab/protocol"
)

// Cache is a directory of known kernels' facts.
type Cache struct {
	// Dir holds one JSON file per kernel and command line.
	Dir string
}

// Entry is one kernel's facts and when they were learned.
type Entry struct {
	KernelSHA256 string         `json:"kernel_sha256"`
	Append       []string       `json:"append,omitempty"`
	Hello        protocol.Hello `json:"hello"`
	Learned      time.Time      `json:"learned"`
}

// Path is where the facts of kernelSHA booted with args are kept. The
// features the guest knows how to detect are part of the key: facts a
// guest learned before it could detect a feature do not say the kernel
// lacks it.
func (c Cache) Path(kernelSHA string, args []string) string {
	key := kernelSHA + "\x00" + strings.Join(factArgs(args), "\x00") + "\x00features:" + strings.Join(protocol.KnownFeatures, ",")
	h := sha256.Sum256([]byte(key))
	return filepath.Join(c.Dir, hex.EncodeToString(h[:8])+".json")
}

// neutralArgs are kernel arguments that change nothing the guest reports
// (release, LSMs, features, TSEM): facts learned with or without them
// are the same, so a scenario that boots with norandmaps is skipped from
// the facts of a boot without it. Anything else (lsm=, security=, a TSEM
// mode, ...) keys facts of its own.
var neutralArgs = []string{"norandmaps", "nokaslr", "quiet", "loglevel=", "printk.time=", "panic="}

// factArgs are args without the neutral ones.
func factArgs(args []string) []string {
	var out []string
	for _, a := range args {
		neutral := func(n string) bool { return a == n || strings.HasSuffix(n, "=") && strings.HasPrefix(a, n) }
		if !slices.ContainsFunc(neutralArgs, neutral) {
			out = append(out, a)
		}
	}
	return out
}

// Get returns the remembered facts, or ok false when there are none (or
// they cannot be read, which only costs a boot).
func (c Cache) Get(kernelSHA string, args []string) (Entry, bool) {
	if c.Dir == "" {
		return Entry{}, false
	}
	data, err := os.ReadFile(c.Path(kernelSHA, args))
	if err != nil {
		return Entry{}, false
	}
	var e Entry
	if json.Unmarshal(data, &e) != nil || e.KernelSHA256 != kernelSHA || e.Hello.ProtocolVersion != protocol.Version {
		return Entry{}, false
	}
	return e, true
}

// Put remembers h for kernelSHA booted with args (atomically: a
// temporary file, then rename).
func (c Cache) Put(kernelSHA string, args []string, h protocol.Hello, now time.Time) error {
	if c.Dir == "" {
		return nil
	}
	if kernelSHA == "" {
		return errors.New("facts: no kernel checksum")
	}
	data, err := json.MarshalIndent(Entry{KernelSHA256: kernelSHA, Append: args, Hello: h, Learned: now.UTC().Truncate(time.Second)}, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(c.Dir, 0o755); err != nil {
		return fmt.Errorf("facts: %w", err)
	}
	p := c.Path(kernelSHA, args)
	tmp, err := os.CreateTemp(c.Dir, ".facts-*")
	if err != nil {
		return fmt.Errorf("facts: %w", err)
	}
	_, err = tmp.Write(append(data, '\n'))
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), p)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("facts: %w", err)
	}
	return nil
}

// Skip returns why a scenario requiring r cannot run on the kernel, from
// its remembered facts, or "" when it can or nothing is known. An unknown
// answer (the LSM list unreadable) is never a skip: the scenario boots and
// reports it.
func (c Cache) Skip(kernelSHA string, args []string, r protocol.Requires) string {
	e, ok := c.Get(kernelSHA, args)
	if !ok {
		return ""
	}
	why, err := r.Unmet(e.Hello)
	if err != nil || why == "" {
		return ""
	}
	return fmt.Sprintf("%s (known without booting: learned at the kernel's boot on %s; delete %s to ask it again)",
		why, e.Learned.Format(time.RFC3339), c.Path(kernelSHA, args))
}

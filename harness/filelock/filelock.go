// Package filelock serialises work on a shared cache directory between
// tsemlab processes (parallel test packages, two runs at once) with flock(2).
//
// A lock belongs to the open file that took it, so two locks taken in one
// process on the same path conflict just as they would in two processes,
// and every lock a process holds ends when it exits, however it exits.
package filelock

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"
)

// ErrLocked is what TryLock returns when another holder has the file.
var ErrLocked = errors.New("locked by another tsemlab")

// Lock takes an exclusive lock on path (created if needed), waiting until
// it is free or ctx ends. The returned func releases it.
func Lock(ctx context.Context, path string) (func(), error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return wait(ctx, f, unix.LOCK_EX)
}

// Shared takes a shared lock on the existing file path, waiting while an
// exclusive holder has it or until ctx ends: any number of shared holders
// keep an exclusive TryLock out. The file is opened read-only and never
// created. The returned func releases it.
func Shared(ctx context.Context, path string) (func(), error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return wait(ctx, f, unix.LOCK_SH)
}

// TryLock takes an exclusive lock on the existing file path without
// waiting. It returns an error wrapping ErrLocked when a shared or
// exclusive holder has it. The returned func releases it.
func TryLock(path string) (func(), error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	err = unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
	if err == nil {
		return release(f), nil
	}
	f.Close()
	if errors.Is(err, unix.EWOULDBLOCK) {
		return nil, fmt.Errorf("lock %s: %w", path, ErrLocked)
	}
	return nil, fmt.Errorf("lock %s: %w", path, err)
}

// wait takes how (LOCK_EX or LOCK_SH) on f, polling until it is free or
// ctx ends; it closes f on failure.
func wait(ctx context.Context, f *os.File, how int) (func(), error) {
	for {
		err := unix.Flock(int(f.Fd()), how|unix.LOCK_NB)
		if err == nil {
			return release(f), nil
		}
		if !errors.Is(err, unix.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", f.Name(), err)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("waiting for %s (another tsemlab holds it): %w", f.Name(), ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func release(f *os.File) func() {
	return func() { _ = unix.Flock(int(f.Fd()), unix.LOCK_UN); f.Close() }
}

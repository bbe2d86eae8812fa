package kbuild

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
)

// Series lists the patches in dir in the order they are applied: the
// files named *.patch or *.diff, by name (so 0001-..., 0002-... as git
// format-patch writes them).
func Series(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("patch series: %w", err)
	}
	var out []string
	for _, e := range ents {
		if e.Type().IsRegular() && (strings.HasSuffix(e.Name(), ".patch") || strings.HasSuffix(e.Name(), ".diff")) {
			out = append(out, filepath.Join(dir, e.Name()))
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("patch series: no *.patch or *.diff files in %s", dir)
	}
	sort.Strings(out)
	return out, nil
}

// PatchError names the first patch of a series that does not apply; the
// ones before it were applied, the ones after it were not tried.
type PatchError struct {
	Patch string
	// Index counts from 1.
	Index, Total int
	// Output is the tail of what patch said.
	Output string
}

func (e *PatchError) Error() string {
	return fmt.Sprintf("patch %s (%d of %d) does not apply: %s", filepath.Base(e.Patch), e.Index, e.Total, e.Output)
}

// Is makes errors.Is(err, ErrPatch) true.
func (e *PatchError) Is(target error) bool { return target == ErrPatch }

// applySeries applies the patches to the tree in order with patch -p1
// (git apply when patch is not installed), each checked with a dry run
// first so that a failing patch leaves the tree as the previous one did.
func applySeries(ctx context.Context, tree string, patches []string) error {
	for i, p := range patches {
		if err := applyOne(ctx, tree, p); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return &PatchError{Patch: p, Index: i + 1, Total: len(patches), Output: err.Error()}
		}
	}
	return nil
}

func applyOne(ctx context.Context, tree, patch string) error {
	abs, err := filepath.Abs(patch)
	if err != nil {
		return err
	}
	check := []string{"git", "apply", "--check", abs}
	apply := []string{"git", "apply", abs}
	if _, err := exec.LookPath("patch"); err == nil {
		check = []string{"patch", "-p1", "--batch", "--forward", "--dry-run", "-i", abs}
		apply = []string{"patch", "-p1", "--batch", "--forward", "--quiet", "-i", abs}
	}
	for _, argv := range [][]string{check, apply} {
		if out, err := runQuiet(ctx, tree, argv[0], argv[1:]...); err != nil {
			if msg := lastLines(out, 3); msg != "" {
				return fmt.Errorf("%s", msg)
			}
			return err
		}
	}
	return nil
}

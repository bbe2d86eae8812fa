package bisect

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/tsemlab/tsemlab/harness/scenario"
)

// ErrEndpoints is returned when the good revision does not pass or the
// bad one does not fail: a bisect between them would find nothing
// meaningful.
var ErrEndpoints = errors.New("bisect endpoints")

// CheckEndpoints tests the good and bad revisions of o.Tree's repository
// before a long bisect and returns their summaries (also appended to the
// step log). It returns ErrEndpoints unless good is Good and bad is Bad.
//
// A revision whose kernel is in the cache (built from a clean checkout
// with the same configuration) is not built again. Otherwise it is built
// in a temporary worktree of the repository, so the user's checkout and
// its files' times are not touched; the worktree is at a fixed place in
// the cache, so its build directory and ccache entries serve the next
// check too.
func CheckEndpoints(ctx context.Context, o Options, good, bad string) ([]Summary, error) {
	sc, err := scenario.Load(ctx, o.Scenario)
	if err != nil {
		s := Summary{}
		s.Verdict, s.Reason = Decide(fmt.Errorf("%w: %w", ErrInput, err), nil, 0)
		return []Summary{s}, fmt.Errorf("%w: %w", ErrInput, err)
	}
	wt := &worktree{o: o}
	defer wt.remove()
	var out []Summary
	for _, ref := range []string{good, bad} {
		rev, err := gitOut(ctx, o.Tree, "rev-parse", "--verify", ref+"^{commit}")
		if err != nil {
			return out, fmt.Errorf("%w: %s is not a revision of %s: %w", ErrInput, ref, o.Tree, err)
		}
		s := o.testRevision(ctx, rev, sc, wt)
		if err := o.appendLog(s); err != nil {
			o.Log.Warn("bisect step log not written", "err", err)
		}
		out = append(out, s)
		if s.Verdict == Abort {
			return out, fmt.Errorf("%s: %s", ref, s.Reason)
		}
	}
	switch {
	case out[0].Verdict != Good:
		return out, fmt.Errorf("%w: the good revision %s is %s (%s); pick an older good revision", ErrEndpoints, good, out[0].Verdict, out[0].Reason)
	case out[1].Verdict != Bad:
		return out, fmt.Errorf("%w: the bad revision %s is %s (%s); pick a revision that shows the bug", ErrEndpoints, bad, out[1].Verdict, out[1].Reason)
	}
	return out, nil
}

// testRevision tests one revision: its cached kernel, or one built in the
// worktree.
func (o Options) testRevision(ctx context.Context, rev string, sc *scenario.Scenario, wt *worktree) Summary {
	s := Summary{Revision: rev}
	start := time.Now()
	spec := o.Config
	k, err := o.Builder.LookupRevision(ctx, spec, rev)
	if err == nil && k == nil {
		if spec.Source, err = wt.checkout(ctx, rev); err == nil {
			k, err = o.Builder.Build(ctx, spec)
		}
	}
	s.Build = time.Since(start)
	return o.runBuilt(ctx, s, k, err, sc)
}

// worktree is the temporary worktree revisions are built in, made on
// first use.
type worktree struct {
	o   Options
	dir string
}

// checkout returns the worktree with rev checked out.
func (w *worktree) checkout(ctx context.Context, rev string) (string, error) {
	if w.dir == "" {
		common, err := gitOut(ctx, w.o.Tree, "rev-parse", "--path-format=absolute", "--git-common-dir")
		if err != nil {
			return "", err
		}
		sum := sha256.Sum256([]byte(common))
		dir := filepath.Join(w.o.CacheDir, "kernels", "worktree-"+hex.EncodeToString(sum[:])[:16])
		_, _ = gitOut(ctx, w.o.Tree, "worktree", "remove", "--force", dir)
		if err := os.RemoveAll(dir); err != nil {
			return "", err
		}
		_, _ = gitOut(ctx, w.o.Tree, "worktree", "prune")
		if _, err := gitOut(ctx, w.o.Tree, "worktree", "add", "--detach", dir, rev); err != nil {
			return "", fmt.Errorf("temporary worktree for %.12s: %w", rev, err)
		}
		w.dir = dir
		w.o.Log.Info("building in a temporary worktree", "dir", dir, "revision", rev)
		return dir, nil
	}
	if _, err := gitOut(ctx, w.dir, "checkout", "-q", "--detach", "-f", rev); err != nil {
		return "", fmt.Errorf("check out %.12s in %s: %w", rev, w.dir, err)
	}
	return w.dir, nil
}

// remove removes the worktree, if one was made.
func (w *worktree) remove() {
	if w.dir == "" {
		return
	}
	if _, err := gitOut(context.Background(), w.o.Tree, "worktree", "remove", "--force", w.dir); err != nil {
		w.o.Log.Warn("temporary worktree not removed", "dir", w.dir, "err", err)
	}
}
